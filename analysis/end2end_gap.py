"""`python analysis/end2end_gap.py ...`: the same as `agcn end2end-gap ...`.

A wrapper kept where the README names it; the tool is `agcn_pyg.analysis.end2end_gap`, from the
installed package.
"""

from __future__ import annotations

import sys

from agcn_pyg.analysis.end2end_gap import cli

if __name__ == "__main__":
    sys.exit(cli())
