import pytest
import torch

from workbench.graph.sampling import NegativeSampler


def test_negatives_are_never_training_positives():
    # user 0 likes items 0..7 of 10, user 1 likes 2..9
    users = torch.tensor([0] * 8 + [1] * 8)
    items = torch.tensor(list(range(8)) + list(range(2, 10)))
    sampler = NegativeSampler(torch.stack([users, items]), num_items=10)
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        neg = sampler.sample(users, g)
        assert set(neg[:8].tolist()) <= {8, 9}
        assert set(neg[8:].tolist()) <= {0, 1}


def test_user_with_every_item_is_refused():
    train = torch.tensor([[0, 0], [0, 1]])
    with pytest.raises(ValueError, match="every item"):
        NegativeSampler(train, num_items=2)
