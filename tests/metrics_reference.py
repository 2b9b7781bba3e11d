"""The slow, readable version of :mod:`agcn_pyg.metrics`: a test oracle (not in the package).

Every figure is computed with plain Python loops over classes and images, step by step as
ML-GCN's ``AveragePrecisionMeter`` does it, with this project's conventions (targets 1 / 0 /
-1 = present / absent / ignored, ties ranked by index, classes without positives left out
of mAP and CR). ``tests/test_metrics.py`` and ``bench/bench_metrics.py`` compare
:func:`agcn_pyg.metrics.compute_metrics` against :func:`reference_metrics`; nothing else
should call this module (both load it by file path). It does not validate its input and
never warns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _ranking_ap(pairs: list[tuple[float, int]], protocol: str = "mlgcn") -> float:
    """AP of ``(score, target)`` pairs under ``protocol``; NaN without positives. ``sorted``
    is stable, so equal scores keep their original order.

    mlgcn: the mean, over the positives, of the precision at each one.
    sklearn: the precision at the end of each positive's tie group instead.
    voc: the highest precision at any position at or after each positive (the envelope).
    """
    ranking = [pair for pair in sorted(pairs, key=lambda pair: -pair[0]) if pair[1] != -1]
    n_pos = sum(1 for _, target in ranking if target == 1)
    if n_pos == 0:
        return float("nan")
    precision = []  # at every position of the ranking
    positives = 0
    for counted, (_, target) in enumerate(ranking, start=1):
        positives += target == 1
        precision.append(positives / counted)
    total = 0.0
    for k, (score, target) in enumerate(ranking):
        if target != 1:
            continue
        if protocol == "mlgcn":
            total += precision[k]
        elif protocol == "sklearn":
            end = k
            while end + 1 < len(ranking) and ranking[end + 1][0] == score:
                end += 1
            total += precision[end]
        elif protocol == "voc":
            total += max(precision[k:])
    return total / n_pos


def reference_average_precision(scores: Any, targets: Any, protocol: str = "mlgcn") -> list[float]:
    """Per-class AP as fractions, one loop per class (NaN for classes without positives)."""
    s = np.asarray(scores, dtype=np.float64).tolist()
    t = np.asarray(targets).astype(int).tolist()
    n_classes = len(s[0])
    return [
        _ranking_ap([(row[c], labels[c]) for row, labels in zip(s, t, strict=True)], protocol)
        for c in range(n_classes)
    ]


def _counts_to_metrics(
    n_c: list[int], n_p: list[int], n_g: list[int]
) -> tuple[float, float, float, float, float, float]:
    n_classes = len(n_c)
    n_p = [1 if p == 0 else p for p in n_p]  # ML-GCN: Np = 1 where nothing is predicted
    cp = sum(n_c[c] / n_p[c] for c in range(n_classes)) / n_classes
    with_pos = [c for c in range(n_classes) if n_g[c] > 0]
    cr = sum(n_c[c] / n_g[c] for c in with_pos) / len(with_pos)
    op = sum(n_c) / sum(n_p)
    orec = sum(n_c) / sum(n_g)
    cf1 = 0.0 if cp + cr == 0 else 2 * cp * cr / (cp + cr)
    of1 = 0.0 if op + orec == 0 else 2 * op * orec / (op + orec)
    return cp, cr, cf1, op, orec, of1


def _evaluate(predicted: list[list[bool]], t: list[list[int]]) -> list[float]:
    n_classes = len(t[0])
    n_c = [0] * n_classes
    n_p = [0] * n_classes
    n_g = [0] * n_classes
    for c in range(n_classes):
        for i in range(len(t)):
            positive = t[i][c] == 1  # -1 counts as absent here
            if positive:
                n_g[c] += 1
            if predicted[i][c]:
                n_p[c] += 1
                if positive:
                    n_c[c] += 1
    return [100.0 * v for v in _counts_to_metrics(n_c, n_p, n_g)]


def reference_metrics(
    scores: Any,
    targets: Any,
    threshold: float | Sequence[float] = 0.5,
    top_k: int = 3,
    protocol: str = "mlgcn",
) -> dict[str, Any]:
    """Same keys and meaning as :func:`agcn_pyg.metrics.compute_metrics`, computed by loops."""
    s = np.asarray(scores, dtype=np.float64).tolist()
    t = np.asarray(targets).astype(int).tolist()
    n_classes = len(s[0])
    if isinstance(threshold, (int, float)):
        thr = [float(threshold)] * n_classes
    else:
        thr = [float(v) for v in threshold]

    def mean_ap(protocol: str) -> float:
        with_pos = [v for v in reference_average_precision(s, t, protocol) if v == v]
        return 100.0 * sum(with_pos) / len(with_pos)  # NaN != NaN: classes with positives

    out: dict[str, Any] = {"mAP": mean_ap(protocol)}

    predicted = [[row[c] >= thr[c] for c in range(n_classes)] for row in s]
    names = ("CP", "CR", "CF1", "OP", "OR", "OF1")
    out.update(zip(names, _evaluate(predicted, t), strict=True))

    predicted_top = []
    for row in s:
        best_first = sorted(range(n_classes), key=lambda c, row=row: -row[c])
        top = set(best_first[:top_k])
        predicted_top.append([c in top and row[c] >= thr[c] for c in range(n_classes)])
    out.update(zip((f"{n}_top{top_k}" for n in names), _evaluate(predicted_top, t), strict=True))

    # Row-major flattening: pair (i, c) comes before (i, c + 1) and (i + 1, c) among ties.
    pairs = [
        (row[c], labels[c]) for row, labels in zip(s, t, strict=True) for c in range(n_classes)
    ]
    out["AP_all"] = 100.0 * _ranking_ap(pairs, protocol)
    out.update({f"mAP_{name}": mean_ap(name) for name in ("mlgcn", "sklearn", "voc")})
    out["ap_protocol"] = protocol
    out["per_class_AP"] = 100.0 * np.array(reference_average_precision(s, t, protocol))
    return out
