"""`agcn demo`: build the demo data set, train the Table-1 rows on it, write a report.

The command line only; the demo itself (stages, recipes, report) is `agcn_pyg.demo`.
"""

from __future__ import annotations

import argparse

from agcn_pyg.commands.options import add_progress_option, user_path
from agcn_pyg.demo.options import DEFAULT_ALPHAS, DEFAULT_SEEDS, MODES
from agcn_pyg.variants import table1_variants


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Build the demo data set (styled Fashion-MNIST scenes), train the "
        "Table-1 rows (baseline, ML-GCN, A-GCN and its ablations) and write <out>/report.md.",
        add_help=add_help,
    )
    parser.add_argument(
        "--out", default="runs/demo", type=user_path, help="output folder (default: runs/demo)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="reduced data (200/100 scenes) and epochs, for CI"
    )
    parser.add_argument(
        "--mode",
        default="auto",
        choices=list(MODES),
        help="auto (default) and features: every row on cached features of the frozen "
        "backbone; end2end: every row end to end; both: the main rows end to end as well. "
        "A row whose variant brings its own schedule (agcn_official) trains it, unless "
        "--epochs / --head-epochs set every row's",
    )
    parser.add_argument(
        "--rows",
        default=None,
        help="comma-separated Table-1 rows or variants (default all: "
        f"{','.join(v.name for v in table1_variants())})",
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help="seeds for the main rows on cached features (default %(default)s)",
    )
    parser.add_argument(
        "--alphas",
        default=",".join(f"{a:g}" for a in DEFAULT_ALPHAS),
        help="α values of the sweep on cached features, or 'none' (default %(default)s)",
    )
    parser.add_argument("--data-seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of end-to-end rows")
    parser.add_argument(
        "--head-epochs", type=int, default=None, help="epochs of cached-features rows"
    )
    parser.add_argument(
        "--no-table2",
        dest="table2",
        action="store_false",
        help="skip the Table-2 setting (noisy training labels, then a clean fine-tune)",
    )
    add_progress_option(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    # Here, not at the top: the demo imports torch, timm and PyG, and `--help` must not.
    from agcn_pyg.demo.plan import make_plan
    from agcn_pyg.demo.runner import run_demo

    plan = make_plan(args)
    result = run_demo(plan)
    print()
    print(f"report:  {result['report']}")
    for key in ("adjacency", "delta_baseline", "delta_mlgcn", "alpha_sweep"):
        value = result["figures"].get(key)
        if value:
            print(f"figure:  {value['path'] if isinstance(value, dict) else value}")
    print(f"timings: {result['timings']}  (total {result['stages']['total']:.0f} s)")
    return 0
