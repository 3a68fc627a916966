r"""Propagation over a symmetric normalized adjacency, on torch-geometric's LGConv, and the
whole LightGCN layer combination as one autograd function.

The LightGCN adjacency :math:`\hat A = D^{-1/2} A D^{-1/2}` is symmetric, so the gradient of
:math:`Y = \hat A X` with respect to :math:`X` is :math:`\hat A\,\partial Y` again. torch's
generic sparse backward instead builds the transpose of the sparse matrix at every step,
which made a LightGCN training step 6x slower on ML-100K (measured: 23 ms vs 4 ms for
3 layers forward + backward).

:func:`propagate_layers` goes further for the layer combination
:math:`E = \sum_{k=0}^{K} \alpha_k \hat A^k E^{(0)}`, which is linear in :math:`E^{(0)}`: its
gradient is :math:`\sum_k \alpha_k \hat A^k G`, computed by Horner's rule
(:math:`H \leftarrow \hat A H + \alpha_k G`) with the same :math:`K` products and no saved
layer outputs. Each product writes into a preallocated buffer (``addmm`` with ``beta=0``
and ``out=``), which on CPU skips the zero-fill and copy of ``torch.sparse.mm`` (measured on
Gowalla, 1.47M non-zeros, 64 dims, 2 cores: 5.4 ms vs 10.2 ms per product).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

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


def _remove_rendered_source(cls: type) -> None:
    """torch-geometric renders a conv class's ``propagate`` from a template into a temporary
    ``.py`` file, imports it once per process and leaves the file behind: every training
    process left one in the temporary folder. The module is loaded by now (nothing here
    reads its source again), so the file goes."""
    module = sys.modules.get(f"{cls.__module__}_{cls.__name__}_propagate")
    path = getattr(module, "__file__", None)
    if path and os.path.dirname(os.path.abspath(path)) == os.path.abspath(tempfile.gettempdir()):
        with contextlib.suppress(OSError):
            os.unlink(path)


class SymmetricLGConv(LGConv):
    """:class:`LGConv` over a pre-normalized, symmetric ``torch.sparse`` adjacency."""

    def __init__(self) -> None:
        super().__init__(normalize=False)
        _remove_rendered_source(type(self))

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor) -> Tensor:
        if isinstance(adj_t, Tensor) and (adj_t.is_sparse_csr or adj_t.is_sparse):
            return SymmetricSpMM.apply(adj_t, x)
        return super().message_and_aggregate(adj_t, x)


def _layer_sum(adj: Tensor, x: Tensor, alpha: list[float]) -> Tensor:
    r""":math:`\sum_k \alpha_k \hat A^k x` by Horner's rule, :math:`h \leftarrow \hat A h +
    \alpha_k x` from :math:`h = \alpha_K x`: one fused product-and-add per layer."""
    if len(alpha) == 1:
        return x * alpha[0]
    h = torch.addmm(x, adj, x, beta=alpha[-2], alpha=alpha[-1])  # h = a_{K-1} x + a_K adj @ x
    buf = torch.empty_like(x)
    for a in reversed(alpha[:-2]):
        torch.addmm(x, adj, h, beta=a, out=buf)  # buf = a * x + adj @ h
        h, buf = buf, h
    return h


class LayerCombination(torch.autograd.Function):
    r""":math:`E = \sum_{k=0}^{K} \alpha_k \hat A^k X` for a symmetric sparse CSR
    :math:`\hat A` (constant) and fixed :math:`\alpha` (gradient to :math:`X` only)."""

    @staticmethod
    def forward(ctx, adj: Tensor, x: Tensor, alpha: Tensor) -> Tensor:  # type: ignore[override]
        ctx.adj, ctx.alpha = adj, alpha.tolist()
        return _layer_sum(adj, x.detach().contiguous(), ctx.alpha)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor, None]:  # type: ignore[override]
        # the operator is symmetric (a polynomial in a symmetric matrix): its own adjoint
        return None, _layer_sum(ctx.adj, grad.contiguous(), ctx.alpha), None


def propagate_layers(adj: Tensor, x: Tensor, alpha: Tensor) -> Tensor:
    r""":math:`\sum_k \alpha_k \hat A^k x` over a symmetric sparse CSR ``adj`` (float
    weights, the same dtype and device as ``x``), differentiable in ``x``."""
    return LayerCombination.apply(adj, x, alpha)


def fast_path(adj: object, x: Tensor) -> bool:
    """Whether :func:`propagate_layers` applies: a sparse CSR ``adj`` matching ``x``."""
    return (isinstance(adj, Tensor) and adj.layout == torch.sparse_csr
            and adj.dtype == x.dtype and adj.device == x.device)
