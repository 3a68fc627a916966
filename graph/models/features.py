r"""LLMRec's feature side (Wei et al., WSDM 2024): generated features fused into LightGCN's
input, and masked feature reconstruction (MAE) as a loss next to the model.

Each node :math:`v` may carry a text embedding :math:`\mathbf{f}_v` of what the LLM wrote
about it (item attributes for items, the profile for users). A linear encoder maps it into the
CF space; its L2-normalized projection, weighted by :math:`\omega`, is added to the node's ID
embedding before propagation (nodes without a feature keep their ID embedding only):

.. math::
    \mathbf{x}_v = \mathbf{e}_v + \omega \, \frac{\mathbf{W}\mathbf{f}_v}
        {\lVert \mathbf{W}\mathbf{f}_v \rVert_2}

Masked feature reconstruction: a ratio of the batch's nodes that have features get a learnable
``[MASK]`` feature instead of theirs; after propagation, a linear decoder maps those nodes'
final embeddings back to the feature space, and the scaled cosine error with the true features
(exponent :math:`\gamma`) is the loss, so the model must infer a node's generated features
from its neighbourhood rather than copy noisy ones:

.. math::
    \mathcal{L}_{FR} = \frac{1}{|\tilde{\mathcal{V}}|} \sum_{v \in \tilde{\mathcal{V}}}
        \left(1 - \frac{\mathbf{f}_v^\top \hat{\mathbf{f}}_v}
        {\lVert \mathbf{f}_v \rVert \, \lVert \hat{\mathbf{f}}_v \rVert}\right)^{\gamma}
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.graph.losses import sample_nodes
from workbench.graph.models.lightgcn import LightGCN
from workbench.graph.models.registry import ModelSpec, register_model


class FeatureLightGCN(LightGCN):
    r"""LightGCN whose layer-0 input adds encoded node features (LLMRec's fusion).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        features (Tensor): ``(num_users + num_items, F)`` node features, zero rows where none.
        feature_mask (Tensor): ``(num_users + num_items,)`` bool, which nodes have a feature.
        embedding_dim (int, optional): Embedding size. (default: :obj:`64`)
        num_layers (int, optional): Propagation layers. (default: :obj:`3`)
        feature_weight (float, optional): :math:`\omega`. (default: :obj:`0.5`)
    """

    def __init__(self, num_users: int, num_items: int, features: Tensor, feature_mask: Tensor,
                 embedding_dim: int = 64, num_layers: int = 3,
                 feature_weight: float = 0.5) -> None:
        if features.size(0) != num_users + num_items or feature_mask.size(0) != features.size(0):
            raise ValueError(f"features must have one row per node ({num_users + num_items}), "
                             f"got {features.size(0)} rows and {feature_mask.size(0)} mask rows")
        self.feature_dim = features.size(1)
        super().__init__(num_users, num_items, embedding_dim, num_layers)
        self.feature_weight = feature_weight
        # Data, not parameters: kept out of state_dict (best-epoch copies stay small).
        self.register_buffer("features", features.float(), persistent=False)
        self.register_buffer("feature_mask", feature_mask.bool(), persistent=False)
        self.encoder = nn.Linear(self.feature_dim, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "encoder"):
            self.encoder.reset_parameters()

    def node_input(self, features: Tensor | None = None) -> Tensor:
        """Layer-0 input: ID embeddings plus the weighted, normalized encoded features
        (``features`` replaces the stored ones, e.g. with some nodes masked)."""
        f = self.features if features is None else features
        encoded = F.normalize(self.encoder(f), dim=-1) * self.feature_mask.unsqueeze(-1)
        return self.embedding.weight + self.feature_weight * encoded

    def __repr__(self) -> str:
        return (f"{super().__repr__()[:-1]}, features={self.feature_dim}, "
                f"with={int(self.feature_mask.sum())}, weight={self.feature_weight})")


def scaled_cosine_error(pred: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    r"""Mean of :math:`(1 - \cos(\hat f, f))^\gamma` over rows."""
    return (1.0 - F.cosine_similarity(pred, target, dim=-1)).pow(gamma).mean()


class MaskedFeatureReconstruction(nn.Module):
    """LLMRec's MAE: masked nodes, propagated, reconstruct their generated features."""

    def __init__(self, feature_dim: int, cf_dim: int, mask_ratio: float = 0.15,
                 weight: float = 0.1, gamma: float = 2.0) -> None:
        super().__init__()
        self.mask_ratio, self.weight, self.gamma = mask_ratio, weight, gamma
        self.mask_token = nn.Parameter(torch.zeros(1, feature_dim))
        self.decoder = nn.Linear(cf_dim, feature_dim)
        nn.init.xavier_uniform_(self.mask_token)

    def forward(self, batch) -> Tensor:
        model = batch.model
        if not isinstance(model, FeatureLightGCN):
            raise TypeError("masked feature reconstruction needs a model with node features "
                            "(a view with features)")
        nodes = sample_nodes(torch.cat([batch.users, batch.pos + model.num_users]),
                             model.feature_mask, self.mask_ratio, batch.generator)
        if len(nodes) == 0:
            return batch.user_emb.new_zeros(())
        masked = model.features.clone()
        masked[nodes] = self.mask_token.expand(len(nodes), -1)
        out = model.get_embedding(batch.adj, x=model.node_input(masked))
        recon = self.decoder(out[nodes])
        return self.weight * scaled_cosine_error(recon, model.features[nodes], self.gamma)


def _mae(config, data) -> list:
    if not config.mae_weight:
        return []
    return [MaskedFeatureReconstruction(data.features.size(1), config.embedding_dim,
                                        config.mae_mask_ratio, config.mae_weight,
                                        config.mae_gamma)]


register_model(ModelSpec(
    name="lightgcn-features",
    summary="LightGCN with LLMRec's generated features fused into the input (+ MAE)",
    uses=frozenset({"features"}), needs=frozenset({"features"}), losses=_mae,
    build=lambda config, data: FeatureLightGCN(
        data.num_users, data.num_items, data.features, data.feature_mask,
        config.embedding_dim, config.num_layers, config.feature_weight)))
