"""Importing official A-GCN / ML-GCN checkpoints, against a test-local statement of their forward.

`_OfficialNet` restates the published forward from its description (not from its code): a
torchvision ResNet's stem and layers, ``MaxPool2d(14, 14)`` at 448 px, A-GCN's biased 1×1
convolutions with ``A[i, j] = <theta(e_i), phi(e_j)> / C`` and plain Eq. 4, or ML-GCN's stored
``A`` normalised as ``(A D)ᵀ D``; two graph convolutions ``adj @ (h @ W)`` with a LeakyReLU(0.2)
between them; logits ``x W̄ᵀ``. Its state dict has the official key names.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.transforms import functional as TF

from agcn_pyg.__main__ import main
from agcn_pyg.engine.checkpoint import load_model, save_imported
from agcn_pyg.errors import CheckpointError
from agcn_pyg.metrics import compute_metrics
from agcn_pyg.models import AGCNConfig, import_official, official_config
from agcn_pyg.variants import get_variant

pytestmark = pytest.mark.slow

SIZE = 448
D_E = 32
HIDDEN = 64
LABELS = ["red", "green", "blue", "square"]


class _Weight(nn.Module):
    def __init__(self, rows: int, cols: int) -> None:
        super().__init__()
        bound = 1 / cols**0.5
        self.weight = nn.Parameter(torch.empty(rows, cols).uniform_(-bound, bound))


class _LG(nn.Module):
    def __init__(self, d_e: int) -> None:
        super().__init__()
        self.theta = nn.Conv1d(d_e, d_e // 2, 1)
        self.phi = nn.Conv1d(d_e, d_e // 2, 1)


class _OfficialNet(nn.Module):
    def __init__(self, kind: str, num_classes: int) -> None:
        super().__init__()
        r = torchvision.models.resnet18()
        self.features = nn.Sequential(
            r.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2, r.layer3, r.layer4
        )
        self.pooling = nn.MaxPool2d(14, 14)
        self.kind = kind
        if kind == "agcn":
            self.non_local_C1 = _LG(D_E)
        else:
            a = (torch.rand(num_classes, num_classes) < 0.5).float() * 0.3
            self.A = nn.Parameter(a + torch.eye(num_classes))
        self.gc1 = _Weight(D_E, HIDDEN)
        self.gc2 = _Weight(HIDDEN, 512)

    def adjacency(self, emb: torch.Tensor) -> torch.Tensor:
        c = emb.size(0)
        if self.kind == "agcn":
            x = emb.unsqueeze(2)  # C conv "batches" of d_e channels and length 1
            t = self.non_local_C1.theta(x).squeeze(2)
            p = self.non_local_C1.phi(x).squeeze(2)
            a = t @ p.t() / c + torch.eye(c)
            d = torch.diag(a.sum(1) ** -0.5)
            return d @ a @ d
        d = torch.diag(self.A.sum(1) ** -0.5)
        return (self.A @ d).t() @ d

    def forward(self, images: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        x = self.pooling(self.features(images)).flatten(1)
        adj = self.adjacency(emb)
        h = nn.functional.leaky_relu(adj @ (emb @ self.gc1.weight), 0.2)
        w = adj @ (h @ self.gc2.weight)
        return x @ w.t()


def _official(kind: str, seed: int = 0) -> tuple[_OfficialNet, torch.Tensor]:
    torch.manual_seed(seed)
    net = _OfficialNet(kind, len(LABELS))
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):  # running statistics that matter
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    emb = torch.randn(len(LABELS), D_E)
    if kind == "agcn":  # correlations large enough to mix labels, every degree positive
        with torch.no_grad():
            for _ in range(20):
                adj = net.adjacency(emb)
                if torch.isfinite(adj).all() and (adj - torch.eye(len(LABELS))).abs().max() > 0.05:
                    break
                net.non_local_C1.theta.weight.mul_(0.7)
        assert torch.isfinite(adj).all() and (adj - torch.eye(len(LABELS))).abs().max() > 0.05
    return net.eval(), emb


def _save(net: nn.Module, path: Path, **extra: object) -> Path:
    state = {"epoch": 7, "arch": None, "state_dict": net.state_dict(), "best_score": 81.5}
    torch.save({**state, **extra}, path)
    return path


def _images(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("kind", ["agcn", "mlgcn"])
def test_imported_model_gives_the_official_logits(kind: str, tmp_path: Path) -> None:
    net, emb = _official(kind)
    path = _save(net, tmp_path / "official.pth.tar")
    out = tmp_path / "imported.pt"
    model, meta = import_official(path, kind, emb.numpy(), LABELS)
    save_imported(model, LABELS, meta, out)
    assert meta.epoch == 7 and meta.best_score == pytest.approx(81.5)
    assert model.config["backbone"] == "resnet18" and model.config["gnn_init"] == "mlgcn"
    if kind == "agcn":
        assert (model.config["graph"], model.config["guard"], model.config["lg_bias"]) == (
            "conv",
            "none",
            True,
        )
        assert model.config["lg_dim"] == D_E // 2
    else:
        assert model.config["graph"] == "static" and model.config["alpha"] == 0.0
    images = _images()
    with torch.no_grad():
        expected = net(images, emb)
        got = model(images)
        # the reloaded, self-describing checkpoint is the same model
        reloaded, reloaded_meta = load_model(out)
        again = reloaded(images)
        _, adj_hat = reloaded.adjacency()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    torch.testing.assert_close(again, got, rtol=0, atol=0)
    torch.testing.assert_close(adj_hat, net.adjacency(emb).detach(), rtol=1e-5, atol=1e-6)
    assert reloaded_meta["label_names"] == LABELS
    train = reloaded_meta["run_config"]["train"]
    recipe = get_variant(f"{kind}_official").train  # the official variant's recipe
    assert {k: train[k] for k in recipe} == recipe
    assert reloaded_meta["run_config"]["variant"] == f"{kind}_official"


def _pkl(path: Path, array: np.ndarray) -> Path:
    with path.open("wb") as f:
        pickle.dump(array, f, protocol=2)  # as ML-GCN's *_glove_word2vec.pkl
    return path


def test_cli_import_then_evaluate_reports_the_map_of_the_official_logits(
    tmp_path: Path, color_dataset: Path, capsys
) -> None:
    net, emb = _official("agcn", seed=3)
    path = _save(net, tmp_path / "official.pth.tar")
    embeddings = _pkl(tmp_path / "glove.pkl", emb.numpy())
    out = tmp_path / "agcn.pt"
    labels = str(color_dataset / "labels.txt")
    args = ["import-official", str(path), "--kind", "agcn", "--embeddings", str(embeddings)]
    assert main([*args, "--labels", labels, "--out", str(out)]) == 0
    assert main([*args, "--labels", labels, "--out", str(out)]) == 2  # no silent overwrite
    assert "exists" in capsys.readouterr().err

    assert main(["evaluate", str(out), "--workers", "0", "--no-progress"]) == 2
    assert "names no evaluation data" in capsys.readouterr().err

    evaluation = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            str(out),
            "data.dataset=csv",
            f"data.val.csv_file={color_dataset / 'val.csv'}",
            f"data.val.label_names={labels}",
            "--out",
            str(evaluation),
            "--workers",
            "0",
            "--no-progress",
        ]
    )
    assert code == 0
    report = json.loads((evaluation / "metrics.json").read_text())

    # The official test transform, restated: PIL bilinear squash-resize to 448, ImageNet
    # normalisation.
    rows = (color_dataset / "val.csv").read_text().splitlines()[1:]
    images, targets = [], []
    for row in rows:
        name, tags = row.split(",")
        image = Image.open(color_dataset / name).convert("RGB")
        image = image.resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        tensor = TF.normalize(TF.to_tensor(image), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        images.append(tensor)
        targets.append([int(label in tags.split(";")) for label in LABELS])
    with torch.no_grad():
        logits = net(torch.stack(images), emb).numpy()
    expected = compute_metrics(logits, np.array(targets), threshold=0.0)["mAP"]
    assert report["metrics"]["mAP"] == pytest.approx(expected, abs=1e-6)
    stored = np.load(evaluation / "scores.npz")
    np.testing.assert_allclose(stored["logits"], logits, rtol=1e-4, atol=1e-4)


def _state_with(net: nn.Module, **changes: torch.Tensor | None) -> dict:
    state = dict(net.state_dict())
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"gc2__weight": None}, "missing key gc2.weight"),
        ({"gc1__weight": torch.zeros(D_E + 1, HIDDEN)}, "gc1.weight has shape"),
        ({"non_local_C1__phi__bias": None}, "missing key non_local_C1.phi.bias"),
        ({"extra__weight": torch.zeros(3)}, "unexpected key extra.weight"),
        ({"features__4__0__conv1__weight": torch.zeros(64, 64, 1, 1)}, "misshaped key features"),
        ({"features__7__1__conv2__weight": None}, "missing key features.7.1.conv2.weight"),
        ({"gc1__weight": torch.full((D_E, HIDDEN), float("nan"))}, "NaN or inf"),
    ],
)
def test_checkpoints_that_do_not_fit_name_the_key(
    changes: dict, match: str, tmp_path: Path
) -> None:
    net, emb = _official("agcn")
    path = tmp_path / "bad.pth.tar"
    torch.save({"epoch": 1, "state_dict": _state_with(net, **changes)}, path)
    with pytest.raises(CheckpointError, match=match) as info:
        import_official(path, "agcn", emb, LABELS)
    assert str(path) in str(info.value)


class _NotAllowed:
    pass


def test_unreadable_or_foreign_files_are_refused(tmp_path: Path, capsys) -> None:
    net, emb = _official("mlgcn")
    with pytest.raises(CheckpointError, match="not found"):
        import_official(tmp_path / "missing.pth", "mlgcn", emb, LABELS)
    code = tmp_path / "code.pth"
    torch.save({"state_dict": net.state_dict(), "extra": _NotAllowed()}, code)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        import_official(code, "mlgcn", emb, LABELS)
    other = tmp_path / "other.pth"
    torch.save({"weights": net.state_dict()}, other)
    with pytest.raises(CheckpointError, match="not an official"):
        import_official(other, "mlgcn", emb, LABELS)
    agcn = _save(_official("agcn")[0], tmp_path / "agcn.pth")
    with pytest.raises(CheckpointError, match="missing key A"):
        import_official(agcn, "mlgcn", emb, LABELS)
    with pytest.raises(CheckpointError, match="embeddings of shape"):
        import_official(agcn, "agcn", emb[:3], LABELS)

    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    pkl = _pkl(tmp_path / "e.pkl", emb.numpy())
    argv = ["import-official", str(other), "--kind", "mlgcn", "--embeddings", str(pkl)]
    assert main([*argv, "--labels", str(labels), "--out", str(tmp_path / "o.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not an official" in err


def test_dataparallel_prefix_and_missing_batch_counters_are_accepted(tmp_path: Path) -> None:
    net, emb = _official("mlgcn")
    state = {
        f"module.{k}": v for k, v in net.state_dict().items() if "num_batches_tracked" not in k
    }
    path = tmp_path / "dp.pth.tar"
    torch.save({"epoch": 2, "state_dict": state, "best_score": torch.tensor(70.0)}, path)
    model, meta = import_official(path, "mlgcn", emb, LABELS)
    assert meta.best_score == pytest.approx(70.0)
    images = _images(1)
    with torch.no_grad():
        torch.testing.assert_close(model(images), net(images, emb), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["agcn", "mlgcn"])
def test_official_config_is_the_official_architecture_at_the_checkpoints_widths(
    kind: str,
) -> None:
    # What both codes hard-wire (this module's docstring), whatever the defaults say.
    shapes = {"backbone": "resnet18", "num_classes": 4, "hidden_dim": HIDDEN, "num_layers": 2}
    lg = {"lg_dim": D_E // 2} if kind == "agcn" else {}
    cfg = official_config(kind, **shapes, **lg)
    official = {
        "gnn": "gcn",
        "pool": "max",
        "negative_slope": 0.2,
        "gnn_bias": False,
        "gnn_init": "mlgcn",
        "embedding_norm": "none",
        "classifier_bias": False,
        **shapes,
    }
    if kind == "agcn":  # plain Eq. 4 of <theta(e_i), phi(e_j)> / C, biased 1×1 convolutions
        official |= {"graph": "conv", "guard": "none", "lg_bias": True, **lg, "alpha": 1.0}
    else:  # gen_adj of the stored A; ML-GCN trains without L_A
        official |= {"graph": "static", "reweight": True, "alpha": 0.0}
    assert isinstance(cfg, AGCNConfig)
    assert {key: getattr(cfg, key) for key in official} == official
    with pytest.raises(CheckpointError, match="kind: expected one of"):
        official_config("resnet", **shapes)
