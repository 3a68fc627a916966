r"""Semantic IDs: hierarchical codes of item text embeddings by residual k-means.

As in "How to Index Item IDs for Recommendation Foundation Models" (Hua et al., 2023) and
"Better Generalization with Semantic IDs" (Singh et al., 2024): each item's embedding
:math:`\mathbf{z}` is quantized level by level; level :math:`l` clusters the residual left by
the levels before it,

.. math::
    c_l = \arg\min_k \lVert \mathbf{r}_{l} - \mathbf{C}_{l,k} \rVert, \qquad
    \mathbf{r}_{l+1} = \mathbf{r}_l - \mathbf{C}_{l,c_l}, \qquad \mathbf{r}_1 = \mathbf{z},

so the code :math:`(c_1, \dots, c_L)` reads coarse to fine, and items that share a prefix are
close in the text space. Deterministic for a seed (k-means++ initialisation, Lloyd steps).
"""

from __future__ import annotations

import torch
from torch import Tensor


def kmeans(x: Tensor, k: int, generator: torch.Generator, iters: int = 25) -> tuple[Tensor,
                                                                                    Tensor]:
    """(centroids (k, d), assignment (n,)) by k-means++ seeding and Lloyd iterations."""
    n = x.size(0)
    k = min(k, n)
    centroids = x[torch.randint(n, (1,), generator=generator)]
    dist = torch.cdist(x, centroids).squeeze(1).pow(2)
    for _ in range(1, k):  # k-means++: next centroid with probability ~ squared distance
        probs = dist / dist.sum() if dist.sum() > 0 else torch.full_like(dist, 1.0 / n)
        pick = torch.multinomial(probs, 1, generator=generator)
        centroids = torch.cat([centroids, x[pick]])
        dist = torch.minimum(dist, (x - x[pick]).pow(2).sum(1))
    assign = torch.cdist(x, centroids).argmin(1)
    for _ in range(iters):
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1).to(x.dtype)
        moved = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        new_assign = torch.cdist(x, moved).argmin(1)
        centroids = moved
        if torch.equal(new_assign, assign):
            break
        assign = new_assign
    return centroids, assign


def residual_kmeans(embeddings: Tensor, levels: int = 2, codebook_size: int = 32,
                    seed: int = 2020, iters: int = 25) -> Tensor:
    """``(n, levels)`` codes of each row of ``embeddings`` (int64, each in 0..size-1)."""
    if levels < 1 or codebook_size < 2:
        raise ValueError("semantic IDs need at least one level and a codebook of >= 2 codes")
    generator = torch.Generator().manual_seed(seed)
    residual = embeddings.float().clone()
    codes = []
    for _ in range(levels):
        centroids, assign = kmeans(residual, codebook_size, generator, iters)
        codes.append(assign)
        residual = residual - centroids[assign]
    return torch.stack(codes, dim=1)


def code_prefixes(codes: Tensor) -> list[list[str]]:
    """Per item, its code prefixes as node names: ``["12", "12-3", ...]`` (level 1, then
    levels 1-2, ...). Items sharing a prefix share that code node."""
    return [["-".join(str(int(c)) for c in row[: level + 1]) for level in range(len(row))]
            for row in codes]
