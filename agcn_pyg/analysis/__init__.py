"""Analysis tools for trained A-GCN runs: label-graph heatmaps, per-class AP deltas, tables.

Each module is a command and importable: ``agcn plot-adjacency ...``,
``python -m agcn_pyg.analysis.plot_adjacency ...`` and ``python analysis/plot_adjacency.py ...``
(a thin wrapper in the repository) run the same ``main``; ``from agcn_pyg.analysis.plot_ap_delta
import plot_ap_delta`` gives the function. They use the public API only: checkpoints through
``agcn_pyg.load_model``, training through ``agcn_pyg.engine``, evaluation outputs
(``metrics.json``) as files.

* `plot_adjacency`: heatmaps of a checkpoint's A, Â, co-occurrence P(j|i) and attention;
* `plot_ap_delta`: per-class AP(A) − AP(B), sorted (the paper's Fig. 4);
* `results_table`: ``metrics.json`` files into a Table-1-style Markdown and CSV table;
* `run_table1`: train Table 1's rows on a config and tabulate them;
* `alpha_sweep`: mAP against α, the weight of L_A (the paper's Fig. 3);
* `end2end_gap`: the end-to-end study on digit scenes;
* `bootstrap` (not a command): the paired bootstrap of a difference in mAP that the tables
  and the demo's report share.

``matplotlib`` and ``scipy`` (the ``analysis`` extra) load only with the plotting modules.
"""

from __future__ import annotations

#: ``agcn`` sub-command → (module, one-line help); `agcn_pyg.__main__` lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "plot-adjacency": (
        "agcn_pyg.analysis.plot_adjacency",
        "heatmaps of a checkpoint's label graph A, Â, P(j|i)",
    ),
    "plot-ap-delta": ("agcn_pyg.analysis.plot_ap_delta", "per-class AP difference (Fig. 4)"),
    "results-table": ("agcn_pyg.analysis.results_table", "metrics.json files into Table 1"),
    "run-table1": ("agcn_pyg.analysis.run_table1", "train Table 1's rows on a config"),
    "alpha-sweep": ("agcn_pyg.analysis.alpha_sweep", "train A-GCN for several α (Fig. 3)"),
    "end2end-gap": ("agcn_pyg.analysis.end2end_gap", "the end-to-end study on digit scenes"),
}
