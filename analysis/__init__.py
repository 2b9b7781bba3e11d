"""Analysis tools for trained A-GCN runs: label-graph heatmaps, per-class AP deltas, tables.

Each module is a script (``python analysis/<name>.py --help``) and importable
(``from analysis.plot_ap_delta import plot_ap_delta``). They read checkpoints through
``agcn_pyg.load_model`` and evaluation outputs (``metrics.json``) only.
"""
