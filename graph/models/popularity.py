"""Most-popular baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

import torch
from torch import Tensor

from workbench.graph.models.registry import ModelSpec, register_model


class Popularity(torch.nn.Module):
    """Scores item ``i`` by its training degree, the same for every user.

    Exposes the same ``forward(adj) -> (user_emb, item_emb)`` as the learned models, with
    one-dimensional embeddings (users 1, items their count), so evaluation is shared.
    """

    def __init__(self, num_users: int, num_items: int, train_items: Tensor) -> None:
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        counts = torch.bincount(train_items, minlength=num_items).float()
        self.register_buffer("counts", counts)

    def forward(self, adj: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return torch.ones(self.num_users, 1), self.counts.unsqueeze(1)


register_model(ModelSpec(
    name="pop", summary="most popular items (training degree), the same for every user",
    propagates=False, trainable=False,
    build=lambda config, data: Popularity(data.num_users, data.num_items, data.train[1])))
