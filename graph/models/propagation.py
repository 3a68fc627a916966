"""Propagation over a symmetric normalized adjacency, on torch-geometric's LGConv.

The LightGCN adjacency :math:`D^{-1/2} A D^{-1/2}` is symmetric, so the gradient of
:math:`Y = \\hat A X` with respect to :math:`X` is :math:`\\hat A\\,\\partial Y` again. torch's
generic sparse backward instead builds the transpose of the sparse matrix at every step,
which made a LightGCN training step 6x slower on ML-100K (measured: 23 ms vs 4 ms for
3 layers forward + backward).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn.conv import LGConv


class SymmetricSpMM(torch.autograd.Function):
    """``adj @ x`` for a symmetric sparse ``adj`` (no gradient to ``adj``)."""

    @staticmethod
    def forward(ctx, adj: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:  # type: ignore[override]
        return None, torch.sparse.mm(ctx.adj, grad)


class SymmetricLGConv(LGConv):
    """:class:`LGConv` over a pre-normalized, symmetric ``torch.sparse`` adjacency."""

    def __init__(self) -> None:
        super().__init__(normalize=False)

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor) -> Tensor:
        if isinstance(adj_t, Tensor) and (adj_t.is_sparse_csr or adj_t.is_sparse):
            return SymmetricSpMM.apply(adj_t, x)
        return super().message_and_aggregate(adj_t, x)
