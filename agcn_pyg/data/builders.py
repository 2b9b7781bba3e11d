"""Dataset builders by name, for configs: `build_dataset("coco", ann_file=..., image_dir=...)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agcn_pyg.data.coco import coco
from agcn_pyg.data.custom import from_csv
from agcn_pyg.data.dataset import MultiLabelDataset
from agcn_pyg.data.fashion550k import fashion550k
from agcn_pyg.data.voc import voc2007
from agcn_pyg.registry import Registry

DATASETS: Registry[Callable[..., MultiLabelDataset]] = Registry("dataset")
DATASETS.add("coco", coco)
DATASETS.add("voc2007", voc2007)
DATASETS.add("fashion550k", fashion550k)
DATASETS.add("csv", from_csv)


def build_dataset(name: str, **kwargs: Any) -> MultiLabelDataset:
    """Call the builder registered as `name` with keyword arguments (e.g. from a config).

    An unknown name or an option the builder does not take is a `RegistryError` (a
    `ConfigError`) naming it, found from the builder's signature before the call; a
    `TypeError` raised inside the builder is a bug and propagates as it is.
    """
    DATASETS.check_options(name, kwargs)
    return DATASETS.get(name)(**kwargs)
