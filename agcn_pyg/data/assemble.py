"""The closing step the data set builders share (`coco`, `voc2007`, `fashion550k`, `from_csv`).

Each builder reads its own files into image paths, an N×C target matrix in {1, 0, -1} and C
label names, and records what it left out or noticed in a `DataReport` named after the split
(the builder's ``name=`` argument, else its own default such as ``"voc2007/trainval"``). What
comes after is the same for all of them: the options every builder takes and passes through
untouched (``transform``, ``check_files``, ``on_bad_image``, ``progress``) go to one
`MultiLabelDataset`, whose name is the report's, so that messages, statistics and the report
always name the same split.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from agcn_pyg.data.dataset import DataReport, MultiLabelDataset
from agcn_pyg.data.images import BadImagePolicy


def assemble_dataset(
    image_paths: Sequence[str | os.PathLike[str]],
    targets: Any,
    label_names: Sequence[str],
    report: DataReport,
    *,
    transform: Callable[[Any], Any] | None,
    check_files: bool,
    on_bad_image: BadImagePolicy,
    progress: bool,
) -> MultiLabelDataset:
    """A builder's split as a `MultiLabelDataset` named ``report.source``.

    Args:
        image_paths: N image files, row ``i`` of ``targets`` belongs to ``image_paths[i]``.
        targets: N×C integers in {1, 0, -1}.
        label_names: the C names, in the builder's label order.
        report: the builder's report; the dataset adds the image files it skips to it.
        transform, check_files, on_bad_image, progress: the builder's own arguments, as given.
    """
    return MultiLabelDataset(
        image_paths,
        targets,
        label_names,
        transform,
        name=report.source,
        report=report,
        check_files=check_files,
        on_bad_image=on_bad_image,
        progress=progress,
    )


__all__ = ["assemble_dataset"]
