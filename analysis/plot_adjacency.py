"""`python analysis/plot_adjacency.py ...`: the same as `agcn plot-adjacency ...`.

A wrapper kept where the README names it; the tool is `agcn_pyg.analysis.plot_adjacency`, from the
installed package.
"""

from __future__ import annotations

import sys

from agcn_pyg.analysis.plot_adjacency import cli

if __name__ == "__main__":
    sys.exit(cli())
