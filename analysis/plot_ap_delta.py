"""`python analysis/plot_ap_delta.py ...`: the same as `agcn plot-ap-delta ...`.

A wrapper kept where the README names it; the tool is `agcn_pyg.analysis.plot_ap_delta`, from the
installed package.
"""

from __future__ import annotations

import sys

from agcn_pyg.analysis.plot_ap_delta import cli

if __name__ == "__main__":
    sys.exit(cli())
