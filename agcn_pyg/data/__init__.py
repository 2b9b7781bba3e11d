"""Datasets, transforms, label embeddings and label statistics for agcn_pyg.

Target codes everywhere: 1 present, 0 absent, -1 ignored (difficult / unknown).
"""

from __future__ import annotations

from agcn_pyg.data.builders import DATASETS, build_dataset
from agcn_pyg.data.coco import coco, coco_label_names
from agcn_pyg.data.cooccurrence import cooccurrence_counts, load_cooccurrence, save_cooccurrence
from agcn_pyg.data.custom import from_csv, read_label_csv
from agcn_pyg.data.dataset import DataReport, MultiLabelDataset
from agcn_pyg.data.device_decode import DECODE_MODES, DeviceDecode, FileBytes, resolve_decode
from agcn_pyg.data.embeddings import (
    EMBEDDING_SOURCES,
    LabelEmbeddings,
    embed_labels,
    load_embeddings,
    save_embeddings,
)
from agcn_pyg.data.fashion550k import FASHION550K_FILES, fashion550k
from agcn_pyg.data.images import decode_image, image_for, load_image, scan_images
from agcn_pyg.data.labels import check_label_order, read_label_file, write_label_file
from agcn_pyg.data.safe_pickle import load_numpy_pickle
from agcn_pyg.data.statistics import format_statistics, split_statistics
from agcn_pyg.data.targets import DIFFICULT_POLICIES, apply_difficult_policy, loss_mask
from agcn_pyg.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TRANSFORM_RECIPES,
    DeviceNormalize,
    MultiScaleCrop,
    TensorCompose,
    build_transforms,
    timm_normalization,
)
from agcn_pyg.data.voc import VOC_CLASSES, voc2007

__all__ = [
    "DATASETS",
    "DECODE_MODES",
    "DIFFICULT_POLICIES",
    "EMBEDDING_SOURCES",
    "FASHION550K_FILES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TRANSFORM_RECIPES",
    "VOC_CLASSES",
    "DataReport",
    "DeviceDecode",
    "DeviceNormalize",
    "FileBytes",
    "LabelEmbeddings",
    "MultiLabelDataset",
    "MultiScaleCrop",
    "TensorCompose",
    "apply_difficult_policy",
    "build_dataset",
    "build_transforms",
    "check_label_order",
    "coco",
    "coco_label_names",
    "cooccurrence_counts",
    "decode_image",
    "embed_labels",
    "fashion550k",
    "format_statistics",
    "from_csv",
    "image_for",
    "load_cooccurrence",
    "load_embeddings",
    "load_image",
    "load_numpy_pickle",
    "loss_mask",
    "read_label_csv",
    "read_label_file",
    "resolve_decode",
    "save_cooccurrence",
    "save_embeddings",
    "scan_images",
    "split_statistics",
    "timm_normalization",
    "voc2007",
    "write_label_file",
]
