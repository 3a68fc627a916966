"""Negative sampling for BPR: uniform over items, never a training positive of that user."""

from __future__ import annotations

import torch
from torch import Tensor


class NegativeSampler:
    """Draws one negative item per (user, positive) pair, rejecting the user's positives.

    Membership is a binary search in the sorted keys ``user * num_items + item`` of the
    training pairs, so a whole batch is checked at once; rejected draws are redrawn.
    """

    def __init__(self, train: Tensor, num_items: int, max_rounds: int = 100) -> None:
        self.num_items = num_items
        self.max_rounds = max_rounds
        self.keys = torch.sort(train[0] * num_items + train[1]).values
        degree = torch.bincount(train[0])
        if (degree >= num_items).any():
            raise ValueError("a user interacted with every item: no negative can be sampled")

    def is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        keys = users * self.num_items + items
        pos = torch.searchsorted(self.keys, keys).clamp(max=len(self.keys) - 1)
        return self.keys[pos] == keys

    def sample(self, users: Tensor, generator: torch.Generator | None = None) -> Tensor:
        items = torch.randint(self.num_items, users.shape, generator=generator)
        for _ in range(self.max_rounds):
            bad = self.is_positive(users, items)
            if not bad.any():
                return items
            items[bad] = torch.randint(self.num_items, (int(bad.sum()),), generator=generator)
        raise RuntimeError("negative sampling did not converge (users with almost all items)")
