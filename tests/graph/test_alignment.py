"""Loss terms on tiny hand-checkable inputs: pruning, InfoNCE, RLMRec-Con and -Gen."""

import math

import pytest
import torch

from workbench.graph.alignment import MaskedProfileReconstruction, ProfileContrast, Profiles, info_nce
from workbench.graph.losses import prune_largest
from workbench.graph.models import LightGCN
from tests.graph.helpers import batch_for


def test_prune_drops_the_largest_losses():
    losses = torch.tensor([0.1, 5.0, 0.3, 2.0])
    assert prune_largest(losses, 0.5).item() == pytest.approx(0.2)  # 5.0 and 2.0 dropped
    assert prune_largest(losses, 0.25).item() == pytest.approx((0.1 + 0.3 + 2.0) / 3)
    assert prune_largest(losses, 0.0).item() == pytest.approx(losses.mean().item())


def test_info_nce_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # cosine: identity matrix
    t = 0.5
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + math.exp(0)))
    assert info_nce(a, b, t).item() == pytest.approx(expected)
    swapped = info_nce(a, b.flip(0), t).item()
    assert swapped > info_nce(a, b, t).item()


def profiles(n_users=4, n_items=5, dim=6, user_mask=None, item_mask=None):
    g = torch.Generator().manual_seed(0)
    um = torch.ones(n_users, dtype=torch.bool) if user_mask is None else user_mask
    im = torch.ones(n_items, dtype=torch.bool) if item_mask is None else item_mask
    return Profiles(torch.randn(n_users, dim, generator=g), um,
                    torch.randn(n_items, dim, generator=g), im)


def test_contrast_matches_formula_and_trains_its_projection():
    model = LightGCN(4, 5, embedding_dim=3, num_layers=0)
    prof = profiles()
    con = ProfileContrast(prof, cf_dim=3, weight=0.5, temperature=0.2)
    batch = batch_for(model)
    loss = con(batch)
    idx = torch.arange(4)
    expected = 0.5 * (info_nce(batch.user_emb[idx], con.project(prof.users[idx]), 0.2)
                      + info_nce(batch.item_emb[idx], con.project(prof.items[idx]), 0.2))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert con.project[0].weight.grad is not None


def test_missing_profiles_give_zero_loss_not_a_crash():
    model = LightGCN(4, 5, embedding_dim=3, num_layers=0)
    none = profiles(user_mask=torch.zeros(4, dtype=torch.bool),
                    item_mask=torch.zeros(5, dtype=torch.bool))
    assert ProfileContrast(none, 3)(batch_for(model)).item() == 0.0
    assert MaskedProfileReconstruction(none, 3)(batch_for(model)).item() == 0.0
    # only users 0 and 1 have profiles: the loss uses exactly those
    part = profiles(user_mask=torch.tensor([True, True, False, False]),
                    item_mask=torch.zeros(5, dtype=torch.bool))
    con = ProfileContrast(part, 3, weight=1.0)
    b = batch_for(model)
    idx = torch.tensor([0, 1])
    expected = info_nce(b.user_emb[idx], con.project(part.users[idx]), 0.2)
    assert con(b).item() == pytest.approx(expected.item(), rel=1e-5)


def test_generative_masks_before_propagation():
    model = LightGCN(4, 5, embedding_dim=3, num_layers=2)
    edge = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7], [4, 5, 6, 7, 0, 1, 2, 3]])
    adj = torch.sparse_coo_tensor(edge, torch.full((8,), 0.5), (9, 9)).to_sparse_csr()
    gen = MaskedProfileReconstruction(profiles(), cf_dim=3, mask_ratio=0.5)
    loss = gen(batch_for(model, adj))
    assert loss.item() > 0
    loss.backward()
    assert gen.mask_token.grad is not None and gen.mask_token.grad.abs().sum() > 0
    assert model.embedding.weight.grad is not None  # unmasked neighbours learn through it
