"""Split statistics: images, labels per image, positives per class, and what was skipped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from agcn_pyg.data.dataset import MultiLabelDataset


def split_statistics(dataset: MultiLabelDataset) -> dict[str, Any]:
    """Summarise a split.

    With the N×C target matrix `Y` (1 present, 0 absent, -1 ignored):
    `labels_per_image = sum_c [Y[n, c] == 1]`, `positives[c] = sum_n [Y[n, c] == 1]`,
    `ignored[c] = sum_n [Y[n, c] == -1]`.
    """
    targets = dataset.targets
    positive = targets == 1
    per_image = positive.sum(dim=1).to(torch.float64)
    n_images = int(targets.shape[0])
    return {
        "name": dataset.name,
        "images": n_images,
        "labels": len(dataset.label_names),
        "labels_per_image_mean": float(per_image.mean()) if n_images else 0.0,
        "labels_per_image_min": int(per_image.min()) if n_images else 0,
        "labels_per_image_max": int(per_image.max()) if n_images else 0,
        "images_without_positive": int((per_image == 0).sum()),
        "positives_per_class": dict(
            zip(dataset.label_names, (int(v) for v in positive.sum(dim=0)), strict=True)
        ),
        "ignored_per_class": dict(
            zip(dataset.label_names, (int(v) for v in (targets == -1).sum(dim=0)), strict=True)
        ),
        "report": dataset.report.to_dict(),
        "report_lines": dataset.report.lines(),
    }


def format_statistics(stats: dict[str, Any], *, per_class: bool = True) -> str:
    """A human-readable block for one split (what `agcn prepare` prints)."""
    lines = [
        f"== {stats['name']} ==",
        f"images: {stats['images']}",
        f"labels: {stats['labels']}",
        (
            f"labels per image: mean {stats['labels_per_image_mean']:.3f}, "
            f"min {stats['labels_per_image_min']}, max {stats['labels_per_image_max']}"
        ),
        f"images without a positive label: {stats['images_without_positive']}",
    ]
    ignored_total = sum(stats["ignored_per_class"].values())
    if ignored_total:
        lines.append(f"ignored (-1) labels: {ignored_total}")
    if per_class:
        lines.append("positives per class:")
        width = max((len(name) for name in stats["positives_per_class"]), default=0)
        for name, count in stats["positives_per_class"].items():
            ignored = stats["ignored_per_class"].get(name, 0)
            extra = f"  (ignored {ignored})" if ignored else ""
            lines.append(f"  {name:<{width}}  {count}{extra}")
        empty = [name for name, count in stats["positives_per_class"].items() if count == 0]
        if empty:
            lines.append(f"warning: {len(empty)} class(es) have no positive: {', '.join(empty)}")
    lines.extend(stats.get("report_lines", []))
    return "\n".join(lines)
