r"""Label embeddings E (``C × d_e``) as a graph head takes them: checked, then conditioned.

`check_embeddings` refuses what no label graph can use (a wrong shape, NaN, a row of zeros
that tells its label apart from none); `condition_embeddings` applies ``model.embedding_norm``
(`EMBEDDING_NORMS`), an experiment on E itself: the paper and ML-GCN use E as given.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from agcn_pyg.errors import ConfigError
from agcn_pyg.registry import Registry

#: how the head conditions E before using it (``model.embedding_norm``)
EMBEDDING_NORMS: Registry[Callable[[Tensor], Tensor]] = Registry("embedding normalisation")
EMBEDDING_NORMS.add("none", lambda e: e)
EMBEDDING_NORMS.add("center", lambda e: e - e.mean(dim=0, keepdim=True))


@EMBEDDING_NORMS.register("whiten")
def whiten(embeddings: Tensor) -> Tensor:
    r""":math:`U V^\top` of the thin SVD :math:`E = U S V^\top`: the nearest matrix with
    orthonormal rows (orthonormal columns when C > d_e)."""
    u, _, vh = torch.linalg.svd(embeddings.double(), full_matrices=False)
    return (u @ vh).to(embeddings.dtype)


def condition_embeddings(embeddings: Tensor, norm: str) -> Tensor:
    """E (``C × d_e``) under ``model.embedding_norm`` (`EMBEDDING_NORMS`)."""
    return EMBEDDING_NORMS.get(norm, "model.embedding_norm")(embeddings)


def check_embeddings(embeddings: Tensor | np.ndarray | None, num_classes: int) -> Tensor:
    """E as a float32 ``C × d_e`` tensor of the model's own (a copy), checked: one finite,
    non-zero row per label (`ConfigError` otherwise); ``None`` gives one-hot rows (``I_C``)."""
    if embeddings is None:
        warnings.warn(
            "no label_embeddings given: using one-hot embeddings (the 'onehot' ablation)",
            stacklevel=4,  # the code that built the AGCN
        )
        return torch.eye(num_classes)
    tensor = torch.as_tensor(embeddings).detach().float().clone()
    if tensor.dim() != 2 or tensor.size(0) != num_classes:
        raise ConfigError(
            f"label_embeddings: expected a {num_classes} × d_e matrix (one row per label), "
            f"got shape {tuple(tensor.shape)}"
        )
    if not torch.isfinite(tensor).all():
        raise ConfigError("label_embeddings: found NaN or inf")
    zero = (tensor == 0).all(dim=1).nonzero()
    if zero.numel():
        raise ConfigError(
            f"label_embeddings: row {int(zero[0, 0])} is all zeros; every label needs an "
            "embedding that tells it apart (check the embedding file or source)"
        )
    return tensor
