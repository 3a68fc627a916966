r"""Alignment of CF embeddings with LLM-written profiles (RLMRec, Ren et al., WWW 2024).

Both losses are small modules next to the model, added to BPR through the trainer's
``extra_losses`` hook. Profiles come as a matrix of text embeddings per entity with a mask:
entities without a profile contribute nothing (zero loss for them, never an error).

InfoNCE over a batch of :math:`n` aligned pairs :math:`(a_i, b_i)`, cosine similarity
:math:`s`, temperature :math:`\tau`:

.. math::
    \mathcal{L} = -\frac{1}{n}\sum_i \log
        \frac{\exp(s(a_i, b_i)/\tau)}{\sum_j \exp(s(a_i, b_j)/\tau)}

- **Contrastive (RLMRec-Con)**: :math:`a` = CF embeddings, :math:`b` = MLP-projected profile
  embeddings (paper: weight 1e-2, :math:`\tau` = 0.2).
- **Generative (RLMRec-Gen)**: a ratio of the batch's user/item ID embeddings is replaced by a
  learnable mask token *before* propagation; an MLP maps the propagated masked nodes to the
  profile space, :math:`a` = that, :math:`b` = their profile embeddings (paper: mask 0.15,
  weight 0.1, :math:`\tau` = 0.5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.graph.losses import eligible_nodes, sample_nodes


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """InfoNCE with in-batch negatives; row i of ``a`` and of ``b`` are a positive pair."""
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


def mlp(d_in: int, d_out: int) -> nn.Sequential:
    hidden = (d_in + d_out) // 2
    return nn.Sequential(nn.Linear(d_in, hidden), nn.LeakyReLU(), nn.Linear(hidden, d_out))


class Profiles:
    """Profile embeddings of users and items (zeros where missing) with presence masks."""

    def __init__(self, users: Tensor, user_mask: Tensor, items: Tensor, item_mask: Tensor):
        if users.size(1) != items.size(1):
            raise ValueError("user and item profile embeddings must have one dimension")
        self.users, self.user_mask = users, user_mask
        self.items, self.item_mask = items, item_mask

    @property
    def dim(self) -> int:
        return self.users.size(1)


class ProfileContrast(nn.Module):
    """RLMRec-Con: InfoNCE between CF embeddings and MLP-projected profile embeddings."""

    def __init__(self, profiles: Profiles, cf_dim: int, weight: float = 1e-2,
                 temperature: float = 0.2) -> None:
        super().__init__()
        self.profiles, self.weight, self.temperature = profiles, weight, temperature
        self.project = mlp(profiles.dim, cf_dim)

    def forward(self, batch) -> Tensor:
        total = batch.user_emb.new_zeros(())
        for emb, idx, prof, mask in (
                (batch.user_emb, batch.users, self.profiles.users, self.profiles.user_mask),
                (batch.item_emb, batch.pos, self.profiles.items, self.profiles.item_mask)):
            keep = eligible_nodes(idx, mask)
            if len(keep) >= 2:  # InfoNCE needs an in-batch negative
                total = total + info_nce(emb[keep], self.project(prof[keep]), self.temperature)
        return self.weight * total


class MaskedProfileReconstruction(nn.Module):
    """RLMRec-Gen: masked nodes, propagated, reconstruct their profile embeddings."""

    def __init__(self, profiles: Profiles, cf_dim: int, mask_ratio: float = 0.15,
                 weight: float = 0.1, temperature: float = 0.5) -> None:
        super().__init__()
        self.profiles, self.mask_ratio = profiles, mask_ratio
        self.weight, self.temperature = weight, temperature
        self.mask_token = nn.Parameter(torch.zeros(1, cf_dim))
        self.reconstruct = mlp(cf_dim, profiles.dim)
        nn.init.xavier_uniform_(self.mask_token)

    def forward(self, batch) -> Tensor:
        model, n_users = batch.model, batch.data.num_users
        ratio, generator = self.mask_ratio, batch.generator
        users = sample_nodes(batch.users, self.profiles.user_mask, ratio, generator)
        items = sample_nodes(batch.pos, self.profiles.item_mask, ratio, generator)
        nodes = torch.cat([users, items + n_users])
        if len(nodes) < 2:
            return batch.user_emb.new_zeros(())
        x = model.node_input().clone()  # ID embeddings (+ fused features, if any)
        x[nodes] = self.mask_token.expand(len(nodes), -1)
        out = model.get_embedding(batch.adj, x=x)
        target = torch.cat([self.profiles.users[users], self.profiles.items[items]])
        return self.weight * info_nce(self.reconstruct(out[nodes]), target, self.temperature)
