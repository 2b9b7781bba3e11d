"""CUDA-only checks: bf16 autocast, channels_last, 1-process DDP over NCCL, the trainer on CUDA.

Every test here carries the ``cuda`` mark: `tests/conftest.py` deselects them on machines
without CUDA, and ``bench/gpu_check.sh`` runs them with ``pytest -m cuda``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from agcn_pyg import create_model

pytestmark = pytest.mark.cuda

REPO = Path(__file__).resolve().parents[1]
C = 5


def _model(unit_embeddings, **options):
    return create_model(
        "test_resnet",
        C,
        label_embeddings=unit_embeddings(C, 16),
        graph="conv",
        gnn="gcn",
        hidden_dim=16,
        **options,
    )


def test_bf16_autocast_is_finite_close_to_fp32_and_keeps_the_head_fp32(unit_embeddings) -> None:
    model = _model(unit_embeddings).cuda().train()
    images = torch.randn(4, 3, 64, 64, device="cuda")
    targets = torch.randint(0, 2, (4, C), device="cuda").float()

    logits32, graph_loss32 = model(images, return_graph_loss=True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits16, graph_loss16 = model(images, return_graph_loss=True)
        weight, _adj, adj_hat = model.head.graph()
    assert weight.dtype == adj_hat.dtype == torch.float32  # autocast is off inside the head
    assert logits16.dtype == torch.bfloat16
    scale = max(1.0, logits32.abs().max().item())
    torch.testing.assert_close(logits16.float(), logits32.detach(), rtol=0, atol=0.05 * scale)
    torch.testing.assert_close(graph_loss16.float(), graph_loss32.detach(), rtol=1e-6, atol=1e-6)

    loss = F.binary_cross_entropy_with_logits(logits16.float(), targets) + graph_loss16.float()
    assert torch.isfinite(loss)
    model.zero_grad(set_to_none=True)
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    head_grads = [g for name, g in grads.items() if name.startswith("head.")]
    assert head_grads and all(g.dtype == torch.float32 for g in head_grads)
    assert any(g.abs().sum() > 0 for g in head_grads)


def test_channels_last_backbone_equals_contiguous(unit_embeddings) -> None:
    backbone = _model(unit_embeddings).backbone.cuda().eval()
    images = torch.randn(3, 3, 64, 64, device="cuda")
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad():
            reference = backbone(images)
            backbone.to(memory_format=torch.channels_last)
            conv = next(m for m in backbone.modules() if isinstance(m, torch.nn.Conv2d))
            assert conv.weight.is_contiguous(memory_format=torch.channels_last)
            out = backbone(images.contiguous(memory_format=torch.channels_last))
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-4)


DDP_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch, torch.distributed as dist, torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel
    from agcn_pyg import create_model

    backend, device_type = sys.argv[1], sys.argv[2]
    dist.init_process_group(backend)
    assert dist.get_world_size() == 1, dist.get_world_size()
    if device_type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    torch.manual_seed(0)
    embeddings = F.normalize(torch.randn(5, 16), dim=-1)
    model = create_model(
        "test_resnet", 5, label_embeddings=embeddings, graph="conv", hidden_dim=16
    ).to(device)
    ids = [device.index] if device.index is not None else None
    ddp = DistributedDataParallel(model, device_ids=ids)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    head_before = [p.detach().clone() for p in model.head.parameters()]
    images = torch.randn(4, 3, 64, 64, device=device)
    targets = torch.randint(0, 2, (4, 5), device=device).float()
    for _ in range(3):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits, graph_loss = ddp(images, return_graph_loss=True)
        loss = F.binary_cross_entropy_with_logits(logits.float(), targets) + graph_loss.float()
        assert torch.isfinite(loss), loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing, missing  # DDP needs no find_unused_parameters
        optimizer.step()
    changed = [not torch.equal(a, b) for a, b in zip(head_before, model.head.parameters())]
    assert all(changed), changed
    print("DDP_OK", dist.get_world_size(), dist.get_backend(), float(loss))
    dist.destroy_process_group()
    """
)


def run_ddp_script(tmp_path: Path, backend: str, device_type: str) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node 1`` on `DDP_SCRIPT`."""
    script = tmp_path / "ddp_one_process.py"
    script.write_text(DDP_SCRIPT)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=1",
            str(script),
            backend,
            device_type,
        ],
        cwd=REPO,
        env={**env, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_ddp_one_process_nccl_trains(tmp_path: Path) -> None:
    proc = run_ddp_script(tmp_path, "nccl", "cuda")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DDP_OK 1 nccl" in proc.stdout


def train_tiny_run(tmp_path: Path, device: str) -> Path:
    """A 2-epoch CSV run of the trainer with bf16 autocast and channels_last; its folder."""
    from agcn_pyg.__main__ import main

    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(0)
    labels = ["red", "green", "blue"]
    (tmp_path / "labels.txt").write_text("\n".join(labels) + "\n")
    for split, count in (("train", 24), ("val", 12)):
        rows = ["image,labels"]
        for i in range(count):
            present = rng.random(3) < 0.5
            present[i % 3] = True
            pixels = np.full((40, 40, 3), 20, np.uint8)
            for channel in np.flatnonzero(present):
                pixels[:, channel * 13 : (channel + 1) * 13, channel] = 220
            name = f"images/{split}_{i:03d}.png"
            Image.fromarray(pixels).save(tmp_path / name)
            names = [label for label, p in zip(labels, present, strict=True) if p]
            rows.append(f"{name},{';'.join(names)}")
        (tmp_path / f"{split}.csv").write_text("\n".join(rows) + "\n")
    config = {
        "name": "cuda_tiny",
        "output_dir": str(tmp_path / "runs"),
        "model": {"backbone": "test_resnet", "graph": "conv", "hidden_dim": 16},
        "data": {
            "dataset": "csv",
            "train": {
                "csv_file": str(tmp_path / "train.csv"),
                "label_names": str(tmp_path / "labels.txt"),
            },
            "val": {
                "csv_file": str(tmp_path / "val.csv"),
                "label_names": str(tmp_path / "labels.txt"),
            },
            "image_size": 32,
            "resize_size": 36,
            "embeddings": "onehot",
            "workers": 0,
        },
        "train": {
            "epochs": 2,
            "batch_size": 8,
            "lr": 0.05,
            "device": device,
            "amp": "bf16",
            "channels_last": True,
        },
    }
    path = tmp_path / "cuda_tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", "-c", str(path), "--no-progress"]) == 0
    return tmp_path / "runs" / "cuda_tiny"


def test_trainer_runs_on_cuda_with_bf16_and_channels_last(tmp_path: Path) -> None:
    run = train_tiny_run(tmp_path, "cuda")
    env = json.loads((run / "env.json").read_text())
    assert env["device"].startswith("cuda")
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) == 3  # header + 2 epochs
    header = log[0].split(",")
    for row in log[1:]:
        values = dict(zip(header, row.split(","), strict=True))
        assert np.isfinite(float(values["loss"])) and np.isfinite(float(values["mAP"]))
    assert (run / "best.pt").is_file() and (run / "eval" / "metrics.json").is_file()


def test_pinned_uint8_batches_normalise_on_the_gpu_as_on_the_cpu() -> None:
    from agcn_pyg.data import DeviceNormalize

    normalize = DeviceNormalize()
    batch = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8).pin_memory()
    on_gpu = normalize(batch, "cuda", channels_last=True)
    torch.cuda.synchronize()
    assert on_gpu.is_cuda and on_gpu.dtype == torch.float32
    assert on_gpu.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(on_gpu.cpu(), normalize(batch.clone()), rtol=0, atol=1e-6)
