"""`python analysis/results_table.py ...`: the same as `agcn results-table ...`.

A wrapper kept where the README names it; the tool is `agcn_pyg.analysis.results_table`, from the
installed package.
"""

from __future__ import annotations

import sys

from agcn_pyg.analysis.results_table import cli

if __name__ == "__main__":
    sys.exit(cli())
