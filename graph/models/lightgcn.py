r"""LightGCN (He et al., SIGIR 2020), on torch-geometric's :class:`LGConv`."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Embedding, ModuleList

from workbench.graph.models.propagation import SymmetricLGConv, fast_path, propagate_layers
from workbench.graph.models.registry import ModelSpec, register_model


class LightGCN(torch.nn.Module):
    r"""LightGCN from `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_.

    Users and items are the nodes of one bipartite graph (items offset by ``num_users``);
    an enriched graph adds extra nodes after the items (attribute values, semantic-ID codes),
    each with an embedding of its own, linked to their items, so that items sharing a node
    share information through propagation (only users and items are scored).
    Each layer propagates over the normalized adjacency with no weights and no
    non-linearity; the final embedding is the mean over layers:

    .. math::
        \mathbf{E}^{(k+1)} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}\mathbf{E}^{(k)},
        \qquad \mathbf{E} = \sum_{k=0}^{K} \alpha_k \mathbf{E}^{(k)},
        \qquad \alpha_k = \frac{1}{K+1}

    and a user-item score is the inner product :math:`\hat y_{ui} = \mathbf{e}_u^\top
    \mathbf{e}_i`. With ``num_layers=0`` this is BPR matrix factorisation.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int, optional): Embedding size. (default: :obj:`64`)
        num_layers (int, optional): Propagation layers :math:`K`. (default: :obj:`3`)
        num_extra_nodes (int, optional): Nodes after the items (attribute or code nodes).
            (default: :obj:`0`)
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 num_layers: int = 3, num_extra_nodes: int = 0) -> None:
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.num_extra_nodes = num_extra_nodes
        self.embedding_dim, self.num_layers = embedding_dim, num_layers
        self.embedding = Embedding(num_users + num_items + num_extra_nodes, embedding_dim)
        # The adjacency is normalized once by the graph view; layers only propagate.
        self.convs = ModuleList([SymmetricLGConv() for _ in range(num_layers)])
        self.register_buffer("alpha", torch.full((num_layers + 1,), 1.0 / (num_layers + 1)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.embedding.weight)

    @property
    def ego_embedding(self) -> Tensor:
        """Layer-0 embeddings of all nodes (what L2 regularisation acts on)."""
        return self.embedding.weight

    def node_input(self) -> Tensor:
        """Layer-0 input of propagation: the ID embeddings (subclasses may add features)."""
        return self.embedding.weight

    def get_embedding(self, adj: Tensor | None, x: Tensor | None = None) -> Tensor:
        """Final node embeddings :math:`\\mathbf{E}`: layers propagated over ``adj`` (sparse
        normalized adjacency), combined with weights :math:`\\alpha_k`. ``x`` replaces
        :meth:`node_input` as layer 0 (e.g. with some nodes masked)."""
        x = self.node_input() if x is None else x
        if fast_path(adj, x):  # the same sum as the loop below, in one autograd node
            return propagate_layers(adj, x, self.alpha)
        out = x * self.alpha[0]
        for k, conv in enumerate(self.convs, start=1):
            x = conv(x, adj)
            out = out + x * self.alpha[k]
        return out

    def forward(self, adj: Tensor | None) -> tuple[Tensor, Tensor]:
        """User and item embeddings after propagation."""
        out = self.get_embedding(adj)
        return out[: self.num_users], out[self.num_users:self.num_users + self.num_items]

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_users} users, {self.num_items} items, "
                f"dim={self.embedding_dim}, layers={self.num_layers})")


class MatrixFactorization(LightGCN):
    r"""BPR matrix factorisation (Rendle et al., UAI 2009): :math:`\hat y_{ui} =
    \mathbf{e}_u^\top \mathbf{e}_i` on the ID embeddings, i.e. LightGCN with zero layers."""

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64) -> None:
        super().__init__(num_users, num_items, embedding_dim, num_layers=0)


register_model(ModelSpec(
    name="lightgcn", summary="LightGCN (He et al., SIGIR 2020) over the view's graph",
    uses=frozenset({"extra nodes"}),
    build=lambda config, data: LightGCN(data.num_users, data.num_items, config.embedding_dim,
                                        config.num_layers, num_extra_nodes=data.num_extra_nodes)))
register_model(ModelSpec(
    name="mf", summary="BPR matrix factorisation (Rendle et al., UAI 2009)", propagates=False,
    build=lambda config, data: MatrixFactorization(data.num_users, data.num_items,
                                                   config.embedding_dim)))
