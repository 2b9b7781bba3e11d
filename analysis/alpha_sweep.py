"""`python analysis/alpha_sweep.py ...`: the same as `agcn alpha-sweep ...`.

A wrapper kept where the README names it; the tool is `agcn_pyg.analysis.alpha_sweep`, from the
installed package.
"""

from __future__ import annotations

import sys

from agcn_pyg.analysis.alpha_sweep import cli

if __name__ == "__main__":
    sys.exit(cli())
