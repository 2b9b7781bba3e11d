r"""Multi-label evaluation: mAP, per-class and overall precision/recall/F1, top-k, AP over pairs.

The numbers follow the evaluation code published with ML-GCN (``AveragePrecisionMeter``), which
the A-GCN paper reports in its tables, translated to this project's target convention and
vectorised. Inputs are ``scores`` (N×C real numbers: logits, or probabilities) and ``targets``
(N×C ints) for N images and ``C`` labels, with

    targets[i, c] =  1   label c is present in image i,
    targets[i, c] =  0   label c is absent,
    targets[i, c] = -1   difficult / unknown: ignored by AP, counted as absent elsewhere.

(ML-GCN itself codes present / absent / difficult as 1 / -1 / 0.)

Average precision (non-interpolated), per class c
    Sort the images by ``scores[:, c]`` descending and drop those with target -1. With
    ``P`` the positives and ``rank(i)`` the 1-based position of image i in that list,

        AP_c = (1 / |P|) · Σ_{i∈P} |{j ∈ P : rank(j) ≤ rank(i)}| / rank(i)

    ``mAP`` is the mean of ``AP_c`` over the classes that have at least one positive.
    ``AP_all`` is the same AP computed once over all (image, label) pairs flattened together,
    class-agnostic (the figure reported for Fashion550K).

Logits, not probabilities
    AP only ranks, so logits and their sigmoid give the same AP wherever the sigmoid keeps
    them apart, but float32 sigmoid is exactly 1.0 from a logit of about 17 on and ties
    every confident prediction. The engine therefore stores and ranks logits (as ML-GCN's
    meter does) and passes thresholds as logits: :func:`logit_threshold` converts a
    probability threshold (0.5 is logit 0).

AP protocols (`AP_PROTOCOLS`; ``mAP`` is the one asked for, ``mAP_<name>`` every one)
    Papers in this field compute AP three ways, and their numbers differ where scores tie:

    * ``mlgcn`` (the default): the non-interpolated AP above, ties in the order below; what
      ML-GCN's and A-GCN's tables use.
    * ``sklearn``: scikit-learn's ``average_precision_score``: the images whose scores tie
      form one threshold, so every positive of a tie group gets the precision at the end of
      the group, :math:`\sum_n (R_n - R_{n-1}) P_n` over distinct scores. Equal to
      ``mlgcn`` without ties, lower or equal with them.
    * ``voc``: the interpolated AP of VOC's devkit as SSGRL, Query2Label and their successors
      compute it: the area under the precision envelope, each positive's precision replaced
      by the highest precision at or after it in the ranking (ties in the order below), so
      at least the ``mlgcn`` value.

    Ignored (-1) targets are left out of the ranking under every protocol.

Tie order
    Equal scores are ranked by position: the lower image index first (for ``AP_all`` the
    lower row-major pair index ``i·C + c`` first), i.e. a stable sort by descending score.
    ML-GCN relies on ``torch.sort``, whose order among ties is unspecified, so its AP may
    differ from ours on tied scores. ``-0.0`` and ``0.0`` are treated as the same score.

Threshold metrics
    Label c is predicted for image i when ``scores[i, c] >= t_c``, with ``t_c`` the threshold
    (one float for every class, or one per class). Targets of -1 count as absent. Per class:
    ``Ng_c`` = number of positives, ``Np_c`` = number predicted, ``Nc_c`` = number predicted and
    positive. Then

        CP = mean_c Nc_c / Np_c        OP = Σ_c Nc_c / Σ_c Np_c
        CR = mean_c Nc_c / Ng_c        OR = Σ_c Nc_c / Σ_c Ng_c
        CF1 = 2·CP·CR / (CP + CR)      OF1 = 2·OP·OR / (OP + OR)

    Quirk kept from ML-GCN: ``Np_c`` is replaced by 1 where it is 0, *before* the sums, so a
    class that is never predicted adds 1 to the denominator of OP (and 0 to CP's mean).
    F1 is 0.0 when both of its terms are 0.

Top-k metrics (suffix ``_top{k}``)
    The same six numbers where label c counts as predicted for image i only if it is among
    the image's k highest scores (ties: lower class index first) *and* ``scores[i, c] >= t_c``.
    (ML-GCN takes the top-k logits and keeps those ``>= 0``, i.e. probability ``>= 0.5``;
    its threshold metrics too compare logits with 0. On probabilities the two agree except
    for logits within float32 rounding of 0, whose sigmoid rounds to exactly 0.5.)
    With ``k >= C`` every label is in the top k, so the numbers equal the threshold metrics.

Classes without positives
    ML-GCN divides by zero for them. Here they get ``per_class_AP = NaN``, are left out of
    ``mAP`` and out of CR's mean (``Nc/Ng`` is undefined), and :func:`compute_metrics` warns
    with their indices. They stay in CP's mean over all C classes, as in ML-GCN: a class that
    has no positives contributes ``Nc/Np = 0``. Targets with no positive at all are an error.

All figures returned by :func:`compute_metrics` are percentages (×100), as the paper prints
them; :func:`average_precision` returns fractions in [0, 1], like scikit-learn.

Implementation: scores are mapped to order-preserving integer keys; all N·C pairs are ranked
once by a stable sort (torch's radix sort), which gives the tie order above by construction,
and a stable pass by class index splits that ranking into the C per-class ones. AP then only
visits the positive and ignored positions. The threshold counts and AP over all pairs run in a
second thread while the per-class split runs. No Python loop runs over images or classes.
``tests/metrics_reference.py`` (a test oracle, not part of the package) holds the slow,
loop-by-loop implementation that the tests and ``bench/bench_metrics.py`` check this module
against.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from agcn_pyg.errors import ConfigError, DataError
from agcn_pyg.registry import Registry

if TYPE_CHECKING:
    import torch

# N×C inputs: numpy arrays, torch tensors (any device) or nested sequences.
ArrayLike: TypeAlias = "np.ndarray | torch.Tensor | Sequence[Any]"

__all__ = [
    "AP_PROTOCOLS",
    "METRIC_COLUMNS",
    "average_precision",
    "compute_metrics",
    "logit_threshold",
    "sigmoid",
    "tune_thresholds",
]

# Table 1 of the A-GCN paper, left to right.
METRIC_COLUMNS = [
    "mAP",
    "CP",
    "CR",
    "CF1",
    "OP",
    "OR",
    "OF1",
    "CP_top3",
    "CR_top3",
    "CF1_top3",
    "OP_top3",
    "OR_top3",
    "OF1_top3",
]

_MAX_LISTED = 20


# --------------------------------------------------------------------------------------------
# input handling


def _to_numpy(x: Any, name: str) -> np.ndarray:
    # A tensor can only exist once torch is imported, so this module never imports it itself.
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_floating_point() and x.dtype not in (torch.float32, torch.float64):
            x = x.float()  # float16 / bfloat16: every value is exact in float32
        return x.numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name} cannot be read as a numeric array: {err}") from None


def _check_inputs(scores: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to ``(scores, targets)``: float32/float64 N×C and int8 N×C."""
    s = _to_numpy(scores, "scores")
    t = _to_numpy(targets, "targets")
    if s.ndim != 2:
        raise DataError(f"scores must be 2-D (N images × C labels), got shape {s.shape}")
    if t.shape != s.shape:
        raise DataError(f"targets shape {t.shape} differs from scores shape {s.shape}")
    if s.shape[0] == 0 or s.shape[1] == 0:
        raise DataError(f"scores and targets are empty (shape {s.shape})")
    if s.shape[0] * s.shape[1] >= 2**32:
        raise DataError(f"too many (image, label) pairs for one evaluation: {s.shape}")
    if s.dtype.kind not in "biuf":
        raise DataError(f"scores must be real numbers, got dtype {s.dtype}")
    if t.dtype.kind not in "biuf":
        raise DataError(f"targets must be integers in {{-1, 0, 1}}, got dtype {t.dtype}")

    if s.dtype != np.float32:
        s = s.astype(np.float64)
        s32 = s.astype(np.float32)
        # Scores that float32 holds exactly (the usual case) take the faster 32-bit path.
        if np.array_equal(s32, s):
            s = s32
    finite = np.isfinite(s)
    if not finite.all():
        i, c = np.argwhere(~finite)[0]
        raise DataError(f"scores[{i}, {c}] = {s[i, c]}; scores must be finite")

    bad = (t != -1) & (t != 0) & (t != 1)
    if bad.any():
        i, c = np.argwhere(bad)[0]
        raise DataError(f"targets[{i}, {c}] = {t[i, c]}; targets must be -1, 0 or 1")
    return s, t.astype(np.int8)


def _resolve_threshold(threshold: float | ArrayLike, n_classes: int) -> np.ndarray:
    """Return the thresholds as a float64 array of shape (C,)."""
    thr = _to_numpy(threshold, "threshold")
    if thr.dtype.kind not in "biuf":
        raise ConfigError(f"threshold must be a number or {n_classes} numbers, got {thr.dtype}")
    thr = thr.astype(np.float64)
    if thr.ndim == 0:
        thr = np.full(n_classes, float(thr))
    elif thr.shape != (n_classes,):
        raise ConfigError(
            f"threshold must be one number or one per class ({n_classes}), got shape {thr.shape}"
        )
    if np.isnan(thr).any():
        raise ConfigError("threshold values must be numbers, not NaN")
    return thr  # +inf: never predicted, -inf: always (finite scores)


def _check_top_k(top_k: Any) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ConfigError(f"top_k must be a positive integer, got {top_k!r}")
    return int(top_k)


def logit_threshold(threshold: float | ArrayLike, where: str = "threshold") -> np.ndarray:
    """Probability threshold(s) in (0, 1) → the logit(s) with that sigmoid (float64)."""
    p = _to_numpy(threshold, where)
    if p.dtype.kind not in "biuf":
        raise ConfigError(f"{where}: expected probabilities, got dtype {p.dtype}")
    p = p.astype(np.float64)
    if not (np.isfinite(p).all() and (p > 0).all() and (p < 1).all()):
        raise ConfigError(f"{where}: probability thresholds must lie strictly between 0 and 1")
    return np.log(p) - np.log1p(-p)


def sigmoid(x: float | ArrayLike) -> np.ndarray:
    """The logistic function in float64, for reporting logit thresholds as probabilities."""
    x = _to_numpy(x, "logits").astype(np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


# --------------------------------------------------------------------------------------------
# ranking


def _descending_keys(s: np.ndarray) -> np.ndarray:
    """int32 keys (int64 if they need it) whose ascending order is the descending order of
    ``s``: a higher score gets a smaller key, equal scores (``-0.0`` and ``0.0`` included)
    get equal keys. ``s`` is finite float32/float64."""
    if s.dtype == np.float32:
        bits = s.view(np.int32)
        # IEEE-754 bits read as signed integers grow with the value for positive floats and
        # shrink for negative ones. For negatives, XOR with 0x7FFFFFFF reverses that and
        # adding 1 puts -0.0 on 0.0: `asc` then grows with the score.
        sign = np.right_shift(bits, 31)  # 0 for positives, -1 for negatives
        asc = np.bitwise_and(sign, 0x7FFFFFFF)
        np.bitwise_xor(asc, bits, out=asc)
        np.subtract(asc, sign, out=asc)
        high, low = int(asc.max()), int(asc.min())
        if high - low < 1 << 31:
            # torch's radix sort is faster on keys without a sign (`docs/benchmarks.md`,
            # figure 3); the subtraction is exact although intermediate int32 values may wrap
            # around.
            return np.subtract(np.int32(high), asc, out=asc)
        return np.invert(asc, out=asc)
    # float64 values that float32 cannot hold: rank them densely instead (one extra sort).
    _, inverse = np.unique(s.ravel(), return_inverse=True)
    keys = (inverse.max() - inverse).reshape(s.shape)
    return keys.astype(np.int32) if keys.size < 1 << 31 else keys


def _pair_order(keys: np.ndarray) -> np.ndarray:
    """The N·C pair indices ``i·C + c`` best first, ties by pair index, from N×C ``keys``.

    torch's stable sort: on x86 it sorts integer keys with a parallel radix sort, faster than
    numpy's single-threaded 16-bit passes (`docs/benchmarks.md`, figure 3)."""
    import torch  # only here: the rest of this module works on numpy arrays alone

    return torch.sort(torch.from_numpy(keys.ravel()), stable=True).indices.numpy()


def _class_split(order: np.ndarray, n_classes: int) -> np.ndarray:
    """The permutation that splits the overall ranking ``order`` into C per-class ones.

    ``ranked[split].reshape(C, N)`` turns anything ranked by ``order`` into one row per
    class, best first. A stable sort by class keeps each class's pairs in their overall
    order, which restricted to class c is the order by (key, image index). Class ids of 8
    or 16 bits make it one or two radix passes of numpy's stable argsort, used rather than
    torch's because :func:`compute_metrics` runs it beside a second thread, which torch's
    own worker threads would compete with."""
    dtype = np.uint8 if n_classes <= 1 << 8 else np.uint16 if n_classes <= 1 << 16 else np.int64
    classes = np.remainder(order, n_classes).astype(dtype)
    return np.argsort(classes, kind="stable")


def _rank(keys: np.ndarray, *payloads: np.ndarray) -> list[np.ndarray]:
    """Each N×C payload as a (C, N) array, one row per class, best first (ties by image)."""
    n, n_classes = keys.shape
    order = _pair_order(keys)
    split = _class_split(order, n_classes)
    return [p.ravel()[order][split].reshape(n_classes, n) for p in payloads]


def _ap_of_ranked(ranked: np.ndarray) -> np.ndarray:
    """AP of each row of ``ranked`` (R×M targets, best-scored first), NaN without positives.

    Precision at a positive = (positives up to it) / (non-ignored items up to it); only the
    positive and ignored positions are visited, so the cost is one pass plus O(#positives).
    bincount adds each row's precisions in rank order, as a loop over the ranking would."""
    row, _, precision = _precision_at_positives(ranked)
    return _mean_per_row(row, precision, ranked.shape[0])


def _precision_at_positives(ranked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each positive of ``ranked`` (R×M, best first): its row, its flat position and the
    precision at it (positives so far over non-ignored items so far)."""
    n_rows, width = ranked.shape
    flat = ranked.ravel()
    marked = np.flatnonzero(flat != 0)
    is_pos = flat[marked] == 1
    pos, ignored = marked[is_pos], marked[~is_pos]
    row = pos // width
    row_start = np.arange(n_rows, dtype=np.int64) * width
    hits = np.arange(1, pos.size + 1) - np.searchsorted(pos, row_start)[row]
    ignored_before = np.searchsorted(ignored, pos) - np.searchsorted(ignored, row_start)[row]
    seen = pos - row_start[row] + 1 - ignored_before
    return row, pos, hits / seen


def _mean_per_row(row: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    total = np.bincount(row, weights=values, minlength=n_rows)
    n_pos = np.bincount(row, minlength=n_rows)
    ap = np.full(n_rows, np.nan)
    has_pos = n_pos > 0
    ap[has_pos] = total[has_pos] / n_pos[has_pos]
    return ap


def _ap_voc(ranked: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Interpolated AP: each positive's precision replaced by the highest at or after it."""
    row, _, precision = _precision_at_positives(ranked)
    # A reversed running maximum per row: shifting each row down by 2·row keeps one row's
    # maximum from reaching into the row before it (precisions lie in [0, 1]).
    shifted = (precision - 2.0 * row)[::-1]
    envelope = np.maximum.accumulate(shifted)[::-1] + 2.0 * row
    return _mean_per_row(row, envelope, ranked.shape[0])


def _ap_sklearn(ranked: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """scikit-learn's AP: every positive of a tie group gets the precision at its end."""
    n_rows, width = ranked.shape
    counted = (ranked != -1).ravel()
    positive = (ranked == 1).ravel()
    flat_keys = keys.ravel()
    # The last position of each tie group within its row (ignored items take part in the
    # grouping but not in the counts).
    end = np.ones(flat_keys.size, dtype=bool)
    end[:-1] = flat_keys[:-1] != flat_keys[1:]
    end[width - 1 :: width] = True
    ends = np.flatnonzero(end)
    row_of = np.repeat(np.arange(n_rows, dtype=np.int64), width)
    before_row = np.arange(n_rows, dtype=np.int64) * width
    hits = np.cumsum(positive)
    seen = np.cumsum(counted)
    base_hits = np.concatenate([[0], hits])[before_row][row_of]
    base_seen = np.concatenate([[0], seen])[before_row][row_of]
    pos = np.flatnonzero(positive)
    group_end = ends[np.searchsorted(ends, pos)]
    precision = (hits[group_end] - base_hits[pos]) / (seen[group_end] - base_seen[pos])
    return _mean_per_row(pos // width, precision, n_rows)


#: ``name → f(ranked targets R×M, ranked keys R×M) → AP per row`` (see the module docstring)
AP_PROTOCOLS: Registry[Any] = Registry("AP protocol")
AP_PROTOCOLS.add("mlgcn", lambda ranked, keys: _ap_of_ranked(ranked))
AP_PROTOCOLS.add("sklearn", _ap_sklearn)
AP_PROTOCOLS.add("voc", _ap_voc)
#: the protocol of ``mAP`` unless one is asked for: ML-GCN's, as the paper's tables
DEFAULT_AP_PROTOCOL = "mlgcn"


# --------------------------------------------------------------------------------------------
# thresholded predictions


def _top_k_mask(s: np.ndarray, k: int) -> np.ndarray:
    """N×C bool: is label c among image i's k highest scores (ties: lower class index)?"""
    n_classes = s.shape[1]
    if k >= n_classes:
        return np.ones(s.shape, dtype=bool)
    kth = np.partition(s, n_classes - k, axis=1)[:, n_classes - k, None]
    top = s >= kth
    # Rows with labels tied at the k-th score have more than k; among the tied labels keep
    # the first ones by class index.
    rows = np.flatnonzero(np.count_nonzero(top, axis=1) > k)
    if rows.size:
        s_r, kth_r = s[rows], kth[rows]
        above, level = s_r > kth_r, s_r == kth_r
        room = k - np.count_nonzero(above, axis=1, keepdims=True)
        top[rows] = above | (level & (np.cumsum(level, axis=1) <= room))
    return top


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2.0 * p * r / (p + r)


def _prediction_counts(s: np.ndarray, t: np.ndarray, thr: np.ndarray, k: int) -> np.ndarray:
    """(5, C) counts per class: Ng, then Np and Nc by threshold, then Np and Nc by top-k."""
    n_classes = s.shape[1]
    pred = s >= thr  # compared in float64 because thr is float64
    top = _top_k_mask(s, k)
    top &= pred
    # Positives are a few percent of the pairs, so Ng and Nc are counted from their indices.
    pos = np.flatnonzero(t == 1)
    pos_cls = pos % n_classes
    counts = np.empty((5, n_classes), dtype=np.int64)
    counts[0] = np.bincount(pos_cls, minlength=n_classes)
    counts[1] = np.count_nonzero(pred, axis=0)
    counts[2] = np.bincount(pos_cls[pred.ravel()[pos]], minlength=n_classes)
    counts[3] = np.count_nonzero(top, axis=0)
    counts[4] = np.bincount(pos_cls[top.ravel()[pos]], minlength=n_classes)
    return counts


def _threshold_metrics(
    n_g: np.ndarray, n_p: np.ndarray, n_c: np.ndarray, has_pos: np.ndarray
) -> list[float]:
    """[CP, CR, CF1, OP, OR, OF1] in percent from the per-class counts Ng, Np, Nc."""
    n_g, n_c = n_g.astype(np.float64), n_c.astype(np.float64)
    n_p = np.where(n_p == 0, 1.0, n_p)  # ML-GCN's quirk, applied before the overall sums
    cp = float(np.mean(n_c / n_p))
    cr = float(np.mean(n_c[has_pos] / n_g[has_pos]))
    op = float(n_c.sum() / n_p.sum())
    orec = float(n_c.sum() / n_g.sum())
    return [100.0 * v for v in (cp, cr, _f1(cp, cr), op, orec, _f1(op, orec))]


# --------------------------------------------------------------------------------------------
# public API


def average_precision(
    scores: ArrayLike, targets: ArrayLike, protocol: str = DEFAULT_AP_PROTOCOL
) -> np.ndarray:
    """Per-class AP as fractions in [0, 1], shape (C,), under ``protocol`` (`AP_PROTOCOLS`).

    ``scores``: N×C, ``targets``: N×C in {1, 0, -1}; -1 entries are skipped. Ties are ranked
    by image index (stable descending sort). Classes without positives get NaN, silently.
    Raises :class:`~agcn_pyg.errors.DataError` on malformed input.
    """
    ap_fn = AP_PROTOCOLS.get(protocol, "ap_protocol")
    s, t = _check_inputs(scores, targets)
    keys = _descending_keys(s)
    ranked, ranked_keys = _rank(keys, t, keys)
    return ap_fn(ranked, ranked_keys)


def compute_metrics(
    scores: ArrayLike,
    targets: ArrayLike,
    threshold: float | ArrayLike = 0.5,
    top_k: int = 3,
    ap_protocol: str = DEFAULT_AP_PROTOCOL,
) -> dict[str, Any]:
    """Every figure of the paper's tables for N×C ``scores`` and ``targets``.

    Args:
        scores: N×C logits or probabilities (numpy array, torch tensor or nested sequence);
            give logits with a threshold in logits (``0.0`` for probability 0.5).
        targets: N×C with 1 = present, 0 = absent, -1 = difficult (ignored by AP, absent
            for the threshold metrics).
        threshold: one float for all C classes or a length-C array of per-class thresholds
            (e.g. from :func:`tune_thresholds`); label c is predicted when score >= t_c.
            The top-k metrics use the same thresholds.
        top_k: k of the top-k metrics; ``k >= C`` keeps every label.
        ap_protocol: how ``mAP``, ``per_class_AP`` and ``AP_all`` compute AP
            (`AP_PROTOCOLS`: ``mlgcn``, ``sklearn``, ``voc``).

    Returns:
        ``{"mAP", "CP", "CR", "CF1", "OP", "OR", "OF1", "CP_top{k}", ..., "OF1_top{k}",
        "AP_all": float, "mAP_mlgcn", "mAP_sklearn", "mAP_voc": float, "ap_protocol": str,
        "per_class_AP": ndarray (C,)}``, all in percent, scalars as Python floats.
        ``per_class_AP`` is NaN for classes without positives; those classes are left out of
        ``mAP`` and CR (with a warning) but kept in CP; see the module docstring for the
        formulas, the protocols, the tie order and ML-GCN's ``Np = 0`` quirk.

    Raises:
        DataError: shapes differ or are not 2-D, targets outside {-1, 0, 1}, non-finite
            scores, or no positive target at all.
        ConfigError: a malformed ``threshold`` or ``top_k``.
    """
    headline = AP_PROTOCOLS.get(ap_protocol, "ap_protocol")
    s, t = _check_inputs(scores, targets)
    n_images, n_classes = s.shape
    thr = _resolve_threshold(threshold, n_classes)
    k = _check_top_k(top_k)

    keys = _descending_keys(s)
    order = _pair_order(keys)
    # The threshold counts and AP over all pairs need no per-class ranking, so a second
    # thread computes them meanwhile: numpy releases the GIL in everything they spend their
    # time in.
    with ThreadPoolExecutor(max_workers=1) as pool:
        counting = pool.submit(_prediction_counts, s, t, thr, k)
        ranked_pairs, ranked_keys = t.ravel()[order], keys.ravel()[order]
        ap_pairs = pool.submit(headline, ranked_pairs[None, :], ranked_keys[None, :])
        split = _class_split(order, n_classes)
        per_class = ranked_pairs[split].reshape(n_classes, n_images)
        per_class_keys = ranked_keys[split].reshape(n_classes, n_images)
        ap = {name: AP_PROTOCOLS.get(name)(per_class, per_class_keys) for name in AP_PROTOCOLS}
        n_g, n_p, n_c, n_p_top, n_c_top = counting.result()
        ap_all = float(ap_pairs.result()[0])

    has_pos = n_g > 0
    if not has_pos.any():
        raise DataError("targets contain no positive label (1); AP and recall are undefined")
    missing = np.flatnonzero(~has_pos)
    if missing.size:
        listed = ", ".join(str(c) for c in missing[:_MAX_LISTED])
        more = f", ... ({missing.size} in all)" if missing.size > _MAX_LISTED else ""
        warnings.warn(
            f"classes without positive targets are left out of mAP and CR: [{listed}{more}]",
            UserWarning,
            stacklevel=2,
        )
    names = ("CP", "CR", "CF1", "OP", "OR", "OF1")

    protocol = next(name for name in AP_PROTOCOLS if AP_PROTOCOLS.get(name) is headline)
    out: dict[str, Any] = {"mAP": 100.0 * float(np.mean(ap[protocol][has_pos]))}
    out.update(zip(names, _threshold_metrics(n_g, n_p, n_c, has_pos), strict=True))
    top = _threshold_metrics(n_g, n_p_top, n_c_top, has_pos)
    out.update(zip((f"{n}_top{k}" for n in names), top, strict=True))
    out["AP_all"] = 100.0 * ap_all
    out.update({f"mAP_{name}": 100.0 * float(np.mean(v[has_pos])) for name, v in ap.items()})
    out["ap_protocol"] = protocol
    out["per_class_AP"] = 100.0 * ap[protocol]
    return out


def tune_thresholds(
    scores: ArrayLike, targets: ArrayLike, grid: ArrayLike | None = None, default: float = 0.5
) -> np.ndarray:
    """Per-class thresholds (C,) that maximise each class's F1 on a validation set.

    F1_c(t) = 2·TP / (Np + Ng) with label c predicted where score >= t and -1 targets
    counted as absent (as in :func:`compute_metrics`).

    Candidates: with ``grid=None`` each class's own distinct scores, which gives the exact
    optimum on this set, since F1 only changes at those values. With a 1-D ``grid``, those
    values for every class. Among candidates with equal F1 the highest threshold wins (the
    fewest predictions). Classes without positives get ``default`` (0.5; pass 0.0 when the
    scores are logits). The thresholds are in the units of ``scores``.
    """
    s, t = _check_inputs(scores, targets)
    n, n_classes = s.shape
    pos = t == 1
    n_g = pos.sum(axis=0)
    best = np.full(n_classes, float(default))

    if grid is None:
        ranked_scores, ranked_pos = _rank(_descending_keys(s), s, pos)
        tp = np.cumsum(ranked_pos, axis=1, dtype=np.int64)
        n_pred = np.arange(1, n + 1, dtype=np.int64)
        # A threshold equal to the score at position j predicts all of j's tie group, so only
        # the last position of each group is a real candidate.
        group_end = np.ones((n_classes, n), dtype=bool)
        group_end[:, :-1] = ranked_scores[:, :-1] != ranked_scores[:, 1:]
        f1 = np.where(group_end, 2.0 * tp / (n_pred + n_g[:, None]), -1.0)
        j = np.argmax(f1, axis=1)  # the first maximum, best first: the highest threshold
        chosen = ranked_scores[np.arange(n_classes), j].astype(np.float64)
    else:
        cand = _to_numpy(grid, "grid")
        if cand.ndim != 1 or cand.size == 0 or cand.dtype.kind not in "biuf":
            raise ConfigError("grid must be a non-empty 1-D sequence of numbers")
        cand = np.unique(cand.astype(np.float64))
        if not np.isfinite(cand).all():
            raise ConfigError("grid values must be finite")
        s64 = s.astype(np.float64)
        chosen = np.full(n_classes, 0.5)
        for c in np.flatnonzero(n_g):  # vectorised over the grid; one searchsorted per class
            ascending = np.sort(s64[:, c])
            positives = np.sort(s64[pos[:, c], c])
            n_pred = n - np.searchsorted(ascending, cand, side="left")
            tp = positives.size - np.searchsorted(positives, cand, side="left")
            f1 = 2.0 * tp / (n_pred + n_g[c])
            chosen[c] = cand[cand.size - 1 - np.argmax(f1[::-1])]

    has_pos = n_g > 0
    best[has_pos] = chosen[has_pos]
    return best
