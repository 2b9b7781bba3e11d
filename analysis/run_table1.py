"""`python analysis/run_table1.py ...`: the same as `agcn run-table1 ...`.

A wrapper kept where the README names it; the tool is `agcn_pyg.analysis.run_table1`, from the
installed package.
"""

from __future__ import annotations

import sys

from agcn_pyg.analysis.run_table1 import cli

if __name__ == "__main__":
    sys.exit(cli())
