from __future__ import annotations

import pytest
import torch

try:
    _CUDA = torch.cuda.is_available()
except Exception:  # a CUDA build on a machine without a driver
    _CUDA = False

TINY_BACKBONE = "test_resnet"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # CUDA tests are deselected (and reported as such) on CPU machines, never skipped;
    # bench/gpu_check.sh runs them with `-m cuda` on a GPU.
    if _CUDA:
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("cuda") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def tiny_backbone() -> str:
    return TINY_BACKBONE


def _unit_embeddings(num_classes: int, dim: int = 24, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(num_classes, dim, generator=gen), dim=-1)


@pytest.fixture
def unit_embeddings():
    """Factory of unit-norm label embeddings (the scale MiniLM produces): f(C, d_e, seed)."""
    return _unit_embeddings
