"""The device checks: bf16 autocast, channels_last, DDP, the trainer, uint8 batches.

Every test takes the ``device`` fixture (`tests/conftest.py`): it runs on the CPU in every
suite run and, marked ``cuda``, on a GPU where there is one (``bench/gpu_check.sh`` runs
``pytest -m cuda``). One body per check, so a change that breaks the CUDA path breaks its CPU
twin too, where the logic is the same; what differs by device is spelled out in the test
(NCCL on CUDA, gloo on the CPU; pinned memory on CUDA only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from agcn_pyg import create_model

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


def test_bf16_autocast_runs_the_backbone_in_bf16_and_returns_fp32_logits_close_to_fp32(
    unit_embeddings, device: str
) -> None:
    """The contract: under autocast the backbone computes in bf16; the head, its final
    product ``x W̄ᵀ`` included, runs in fp32 by design, so the logits come back fp32,
    finite, and close to an fp32 forward."""
    model = _model(unit_embeddings).to(device).train()
    images = torch.randn(4, 3, 64, 64, device=device)
    targets = torch.randint(0, 2, (4, C), device=device).float()
    conv_dtypes: list[torch.dtype] = []
    conv = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda _m, _i, out: conv_dtypes.append(out.dtype))

    logits32, graph_loss32 = model(images, return_graph_loss=True)
    with torch.autocast(device, dtype=torch.bfloat16):
        features = model.forward_features(images)
        logits16, graph_loss16 = model(images, return_graph_loss=True)
        weight, _adj, adj_hat = model.head.graph()
    assert conv_dtypes == [torch.float32, torch.bfloat16, torch.bfloat16]
    assert features.dtype == torch.bfloat16  # the backbone ran in bf16
    assert weight.dtype == adj_hat.dtype == torch.float32  # autocast is off inside the head
    assert logits16.dtype == graph_loss16.dtype == torch.float32
    assert torch.isfinite(logits16).all()
    scale = max(1.0, logits32.abs().max().item())
    torch.testing.assert_close(logits16, logits32.detach(), rtol=0, atol=0.05 * scale)
    torch.testing.assert_close(graph_loss16, graph_loss32.detach(), rtol=1e-6, atol=1e-6)

    loss = F.binary_cross_entropy_with_logits(logits16, targets) + graph_loss16
    assert torch.isfinite(loss)
    model.zero_grad(set_to_none=True)
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    head_grads = [g for name, g in grads.items() if name.startswith("head.")]
    assert head_grads and all(g.dtype == torch.float32 for g in head_grads)
    assert any(g.abs().sum() > 0 for g in head_grads)


def test_channels_last_backbone_equals_contiguous(unit_embeddings, device: str) -> None:
    backbone = _model(unit_embeddings).backbone.to(device).eval()
    images = torch.randn(3, 3, 64, 64, device=device)
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

    backend, device_type, world = sys.argv[1], sys.argv[2], int(sys.argv[3])
    dist.init_process_group(backend)
    assert dist.get_world_size() == world, dist.get_world_size()
    rank = dist.get_rank()
    if device_type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    torch.manual_seed(0)  # the same initial weights on every rank
    embeddings = F.normalize(torch.randn(5, 16), dim=-1)
    model = create_model(
        "test_resnet", 5, label_embeddings=embeddings, graph="conv", hidden_dim=16
    ).to(device)
    ids = [device.index] if device.index is not None else None
    ddp = DistributedDataParallel(model, device_ids=ids)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    head_before = [p.detach().clone() for p in model.head.parameters()]
    torch.manual_seed(1 + rank)  # each rank its own batch
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
    # Averaged gradients: every rank ends with the same weights from different batches.
    flat = torch.cat([p.detach().float().flatten() for p in model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    assert all(torch.equal(g, gathered[0]) for g in gathered), "ranks diverged"
    # A file per rank: the ranks' stdout share one pipe, and a rank's last buffered line can
    # be lost when the launcher tears the group down.
    done = os.path.join(os.environ["DDP_OUT"], f"rank{rank}.ok")
    with open(done, "w") as handle:
        handle.write(f"{dist.get_world_size()} {dist.get_backend()} {float(loss)}")
    dist.barrier()
    dist.destroy_process_group()
    # gloo's threads can abort the interpreter's teardown ("terminate called without an
    # active exception"); the work is done and reported, so leave without it.
    os._exit(0)
    """
)


def run_ddp_script(
    tmp_path: Path, backend: str, device_type: str, world: int
) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node world`` on `DDP_SCRIPT`."""
    script = tmp_path / "ddp_script.py"
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
            f"--nproc_per_node={world}",
            str(script),
            backend,
            device_type,
            str(world),
        ],
        cwd=REPO,
        env={**env, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", "DDP_OUT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_ddp_trains_and_keeps_the_ranks_equal(tmp_path: Path, device: str) -> None:
    """NCCL on one GPU; on the CPU, two gloo processes with different batches."""
    backend, world = ("nccl", 1) if device == "cuda" else ("gloo", 2)
    proc = run_ddp_script(tmp_path, backend, device, world)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = sorted(tmp_path.glob("rank*.ok"))
    assert [r.read_text().split()[:2] for r in reports] == [[str(world), backend]] * world


def train_tiny_run(tmp_path: Path, device: str, **train: object) -> Path:
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
        "name": "tiny",
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
            **train,
        },
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", "-c", str(path), "--no-progress"]) == 0
    return tmp_path / "runs" / "tiny"


def test_trainer_runs_with_bf16_and_channels_last(tmp_path: Path, device: str) -> None:
    run = train_tiny_run(tmp_path, device, compile=False)
    env = json.loads((run / "env.json").read_text())
    assert env["device"].startswith(device)
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) == 3  # header + 2 epochs
    header = log[0].split(",")
    for row in log[1:]:
        values = dict(zip(header, row.split(","), strict=True))
        assert np.isfinite(float(values["loss"])) and np.isfinite(float(values["mAP"]))
        assert 0 <= float(values["data_wait"]) <= 1
    assert (run / "best.pt").is_file() and (run / "eval" / "metrics.json").is_file()


def test_uint8_batches_normalise_on_the_device_as_on_the_cpu(device: str) -> None:
    from agcn_pyg.data import DeviceNormalize

    normalize = DeviceNormalize()
    batch = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    if device == "cuda":
        batch = batch.pin_memory()  # what the trainer's loaders hand over on CUDA
    on_device = normalize(batch, device, channels_last=True)
    if device == "cuda":
        torch.cuda.synchronize()
    assert on_device.device.type == device and on_device.dtype == torch.float32
    assert on_device.is_contiguous(memory_format=torch.channels_last)
    expected = (batch.float() / 255 - torch.tensor(normalize.mean).view(3, 1, 1)) / torch.tensor(
        normalize.std
    ).view(3, 1, 1)  # the formula, restated
    torch.testing.assert_close(on_device.cpu(), expected, rtol=0, atol=1e-6)
