from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agcn_pyg.data import VOC_CLASSES, apply_difficult_policy, loss_mask, split_statistics, voc2007
from agcn_pyg.errors import ConfigError, DataError


def _row(**values: int) -> list[int]:
    return [values.get(cls, 0) for cls in VOC_CLASSES]


def test_values_map_to_targets(tmp_path: Path, voc_writer):
    voc_writer(tmp_path)
    ds = voc2007(tmp_path, "trainval")
    assert ds.label_names == list(VOC_CLASSES) and len(VOC_CLASSES) == 20
    assert VOC_CLASSES[0] == "aeroplane" and VOC_CLASSES[-1] == "tvmonitor"
    assert [p.name for p in ds.image_paths] == ["000005.jpg", "000007.jpg", "000009.jpg"]
    # 1 -> 1, -1 -> 0, 0 (difficult) -> -1
    assert ds.targets.tolist() == [
        _row(chair=1, person=-1),
        _row(car=1),
        _row(horse=1, person=1, dog=-1),
    ]
    stats = split_statistics(ds)
    assert stats["ignored_per_class"]["person"] == 1 and stats["positives_per_class"]["person"] == 1


@pytest.mark.parametrize("level", ["", "VOCdevkit", "VOCdevkit/VOC2007"])
def test_root_can_be_any_level(tmp_path: Path, voc_writer, level: str):
    voc_writer(tmp_path)
    assert len(voc2007(tmp_path / level, "trainval")) == 3


def test_difficult_policies():
    target = torch.tensor([[1, 0, -1], [-1, -1, 1]])
    assert apply_difficult_policy(target, "ignore").tolist() == target.tolist()
    assert apply_difficult_policy(target, "positive").tolist() == [[1, 0, 1], [1, 1, 1]]
    assert apply_difficult_policy(target, "negative").tolist() == [[1, 0, 0], [0, 0, 1]]
    assert loss_mask(target).tolist() == [[True, True, False], [False, False, True]]
    with pytest.raises(ConfigError, match="difficult-label policy"):
        apply_difficult_policy(target, "drop")


def test_bad_value_names_file_and_line(tmp_path: Path, voc_writer):
    voc = voc_writer(tmp_path)
    (voc / "ImageSets/Main/cat_trainval.txt").write_text("000005 -1\n000007  2\n000009 -1\n")
    with pytest.raises(DataError, match=r"cat_trainval\.txt:2: value 2 is not 1, -1 or 0"):
        voc2007(tmp_path)
    (voc / "ImageSets/Main/cat_trainval.txt").write_text("000005 -1\n000007\n")
    with pytest.raises(DataError, match=r"cat_trainval\.txt:2: expected '<image id> <1\|-1\|0>'"):
        voc2007(tmp_path)


def test_class_files_must_list_the_same_images(tmp_path: Path, voc_writer):
    voc = voc_writer(tmp_path)
    (voc / "ImageSets/Main/dog_trainval.txt").write_text("000005 -1\n000007 -1\n")
    with pytest.raises(DataError, match=r"dog_trainval\.txt: image 000009 from trainval\.txt"):
        voc2007(tmp_path)
    (voc / "ImageSets/Main/dog_trainval.txt").write_text("000005 -1\n000007 -1\n000009 1\n1 1\n")
    with pytest.raises(DataError, match=r"dog_trainval\.txt: image 1 is not in trainval\.txt"):
        voc2007(tmp_path)


def test_missing_layout_and_files(tmp_path: Path, voc_writer):
    with pytest.raises(DataError, match="no ImageSets/Main found"):
        voc2007(tmp_path)
    voc = voc_writer(tmp_path)
    with pytest.raises(DataError, match=r"aeroplane_test\.txt: class list not found"):
        voc2007(tmp_path, "test")
    (voc / "JPEGImages/000007.jpg").unlink()
    with pytest.raises(DataError, match=r"1 missing image file \(first: .*000007\.jpg\)"):
        voc2007(tmp_path)
    from agcn_pyg.config import DataConfig

    split = {"root": str(tmp_path), "split": "all"}
    with pytest.raises(ConfigError, match=r"^data\.val\.split: expected one of \['train', "):
        DataConfig(dataset="voc2007", train={"root": str(tmp_path)}, val=split)
