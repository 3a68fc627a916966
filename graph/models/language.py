r"""Language-initialized items: AlphaRec (Sheng et al., "Language Representations Can be What
Recommenders Need", 2024), on the workbench's LightGCN.

No item ID embeddings: an item's layer-0 representation is a learned MLP of the text
embedding :math:`\mathbf{z}_i` of its own text (title and metadata, or what an LLM wrote about
it); a user's is the same MLP of the mean text embedding of their *training* items. Both are
propagated by LightGCN over the view's graph (attribute/code nodes, if any, keep ID
embeddings of their own):

.. math::
    \mathbf{e}^{(0)}_i = \mathrm{MLP}(\mathbf{z}_i), \qquad
    \mathbf{e}^{(0)}_u = \mathrm{MLP}\Big(\frac{1}{|\mathcal{N}_u|}
        \sum_{i \in \mathcal{N}_u} \mathbf{z}_i\Big), \qquad
    \mathbf{E} = \sum_{k=0}^{K} \alpha_k \hat{\mathbf{A}}^k \mathbf{E}^{(0)}

AlphaRec trains this with InfoNCE over many sampled negatives on cosine similarities
(``loss=softmax``, ``score=cosine`` in :class:`~workbench.graph.train.TrainConfig`). With
``id_weight > 0`` an item/user ID embedding is added to the mapped text (a hybrid; AlphaRec
itself has none). Items that share text share parameters, so cold items start where their
description puts them instead of at a random point.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from workbench.graph.models.lightgcn import LightGCN
from workbench.graph.models.registry import ModelSpec, register_model


def mean_item_text(train: Tensor, item_text: Tensor, num_users: int) -> Tensor:
    """Each user's mean text embedding over their training items (zeros for none)."""
    sums = torch.zeros(num_users, item_text.size(1)).index_add_(0, train[0],
                                                                item_text[train[1]])
    counts = torch.bincount(train[0], minlength=num_users).clamp(min=1).unsqueeze(1)
    return sums / counts


class LanguageLightGCN(LightGCN):
    r"""LightGCN whose user and item inputs are an MLP of text embeddings (AlphaRec).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        item_text (Tensor): ``(num_items, D)`` text embedding of every item.
        user_text (Tensor): ``(num_users, D)`` text embedding of every user (AlphaRec: the
            mean of their training items').
        embedding_dim (int, optional): Output size of the MLP. (default: :obj:`64`)
        num_layers (int, optional): Propagation layers. (default: :obj:`3`)
        num_extra_nodes (int, optional): Attribute/code nodes (ID embeddings).
            (default: :obj:`0`)
        hidden_dim (int, optional): MLP hidden size. (default: :obj:`256`)
        id_weight (float, optional): Weight of added ID embeddings; 0 for none (AlphaRec).
            (default: :obj:`0.0`)
    """

    def __init__(self, num_users: int, num_items: int, item_text: Tensor, user_text: Tensor,
                 embedding_dim: int = 64, num_layers: int = 3, num_extra_nodes: int = 0,
                 hidden_dim: int = 256, id_weight: float = 0.0) -> None:
        super().__init__(num_users, num_items, embedding_dim, num_layers, num_extra_nodes)
        text = torch.cat([user_text, item_text]).float()
        self.register_buffer("text", text, persistent=False)
        self.id_weight = id_weight
        self.mlp = nn.Sequential(nn.Linear(text.size(1), hidden_dim), nn.LeakyReLU(),
                                 nn.Linear(hidden_dim, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "mlp"):
            for layer in self.mlp:
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()

    def node_input(self) -> Tensor:
        """Layer 0: the mapped text of users and items (plus weighted IDs), then the ID
        embeddings of any extra nodes."""
        n = self.num_users + self.num_items
        x = self.mlp(self.text)
        if self.id_weight:
            x = x + self.id_weight * self.embedding.weight[:n]
        if self.num_extra_nodes:
            x = torch.cat([x, self.embedding.weight[n:]])
        return x

    def __repr__(self) -> str:
        return (f"{super().__repr__()[:-1]}, text={self.text.size(1)}, "
                f"id_weight={self.id_weight})")


register_model(ModelSpec(
    name="alpharec",
    summary="AlphaRec: LightGCN over an MLP of item text embeddings, no item IDs (use with "
            "--set loss=softmax --set score=cosine)",
    uses=frozenset({"item text", "extra nodes"}), needs=frozenset({"item text"}),
    build=lambda config, data: LanguageLightGCN(
        data.num_users, data.num_items, data.item_text,
        mean_item_text(data.train, data.item_text, data.num_users), config.embedding_dim,
        config.num_layers, data.num_extra_nodes, id_weight=config.id_weight)))
