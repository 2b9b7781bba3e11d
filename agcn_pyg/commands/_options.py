"""Command-line options shared by the commands that run a trained model."""

from __future__ import annotations

import argparse

from agcn_pyg.config import AMP_MODES


def add_inference_options(parser: argparse.ArgumentParser) -> None:
    """``--batch-size``, ``--workers``, ``--device``, ``--amp`` and ``--no-progress``."""
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--amp", default="auto", choices=AMP_MODES)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
