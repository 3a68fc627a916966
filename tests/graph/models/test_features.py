"""LLMRec's feature fusion and masked feature reconstruction on tiny hand-checkable inputs."""

import math

import json

import pytest
import torch

from workbench import runs
from workbench.graph.models import FeatureLightGCN, LightGCN, MaskedFeatureReconstruction
from workbench.graph.models.features import scaled_cosine_error
from workbench.graph.train import TrainConfig, train
from workbench.graph.views import ViewError, load_graph
from tests.graph.helpers import batch_for, fake_profile_embeddings


def tiny(num_layers=0, weight=0.5):
    # 2 users, 3 items; node 1 (user) and node 4 (item) have no feature
    features = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0], [3.0, 4.0], [0.0, 0.0]])
    mask = torch.tensor([True, False, True, True, False])
    model = FeatureLightGCN(2, 3, features, mask, embedding_dim=2, num_layers=num_layers,
                            feature_weight=weight)
    with torch.no_grad():  # encoder = identity, so its output is the feature itself
        model.encoder.weight.copy_(torch.eye(2))
        model.encoder.bias.zero_()
    return model


def test_fusion_adds_weighted_normalized_feature_where_present():
    model = tiny(weight=0.5)
    ids = model.embedding.weight.detach()
    x = model.node_input().detach()
    assert torch.allclose(x[0], ids[0] + 0.5 * torch.tensor([1.0, 0.0]))
    assert torch.allclose(x[2], ids[2] + 0.5 * torch.tensor([0.0, 1.0]))
    assert torch.allclose(x[3], ids[3] + 0.5 * torch.tensor([0.6, 0.8]))
    assert torch.allclose(x[[1, 4]], ids[[1, 4]])  # no feature: ID embedding only
    users, items = model(None)  # zero layers: scores use the fused input
    assert torch.allclose(users, x[:2]) and torch.allclose(items, x[2:])


def test_fusion_rejects_features_of_the_wrong_shape():
    with pytest.raises(ValueError, match="one row per node"):
        FeatureLightGCN(2, 3, torch.zeros(4, 2), torch.ones(4, dtype=torch.bool))


def test_scaled_cosine_error_by_hand():
    pred = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    target = torch.tensor([[1.0, 1.0], [5.0, 0.0]])  # cosines 1/sqrt(2) and 1
    expected = ((1 - 1 / math.sqrt(2)) ** 2 + 0.0) / 2
    assert scaled_cosine_error(pred, target, gamma=2.0).item() == pytest.approx(expected)
    assert scaled_cosine_error(pred, target, gamma=1.0).item() == pytest.approx(
        (1 - 1 / math.sqrt(2)) / 2)


def test_mae_masks_featured_nodes_and_matches_formula():
    model = tiny(num_layers=0)
    mae = MaskedFeatureReconstruction(feature_dim=2, cf_dim=2, mask_ratio=1.0, weight=0.3)
    loss = mae(batch_for(model, users=(0, 1), pos=(0, 1, 2)))
    # ratio 1: every batch node with a feature is masked: users 0, items 0 and 1 (nodes 2, 3)
    nodes = torch.tensor([0, 2, 3])
    masked = model.features.clone()
    masked[nodes] = mae.mask_token.detach()
    out = model.get_embedding(None, x=model.node_input(masked))
    expected = 0.3 * scaled_cosine_error(mae.decoder(out[nodes]), model.features[nodes])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert mae.mask_token.grad.abs().sum() > 0  # the mask token is what the encoder saw
    assert model.encoder.weight.grad is not None and mae.decoder.weight.grad is not None


def test_mae_without_featured_nodes_is_zero_and_needs_features():
    model = tiny()
    mae = MaskedFeatureReconstruction(2, 2, mask_ratio=1.0)
    assert mae(batch_for(model, users=(1,), pos=(2,))).item() == 0.0  # nodes 1, 4: none
    with pytest.raises(TypeError, match="needs a model with node features"):
        mae(batch_for(LightGCN(2, 3, embedding_dim=2, num_layers=0), users=(0, 1), pos=(0,)))


FAST = dict(max_epochs=3, min_epochs=1, eval_every=1, batch_size=64, embedding_dim=8)


def test_features_view_trains_with_mae_and_records_its_losses(toy_store):
    with pytest.raises(ViewError, match="no embedded item-attributes"):
        load_graph(toy_store, view="features")
    fake_profile_embeddings(toy_store, "item", 24, every=3, source_kind="item-attributes")
    data = load_graph(toy_store, view="features")  # no user profiles: users have no feature
    assert data.feature_mask[:data.num_users].sum() == 0
    assert data.feature_mask[data.num_users:].tolist() == [i % 3 == 0 for i in range(24)]
    with pytest.raises(ViewError, match="mae_weight needs a model with generated features"):
        train(toy_store, TrainConfig(**FAST, mae_weight=0.1), view="base")
    # a model that cannot use the view's features is refused, never swapped
    with pytest.raises(ViewError, match="'lightgcn' cannot use the features.*lightgcn-features"):
        train(toy_store, TrainConfig(**FAST), view="features")
    with pytest.raises(ViewError, match="needs features"):
        train(toy_store, TrainConfig(**FAST, model="lightgcn-features"), view="base")
    result = train(toy_store, TrainConfig(**FAST, model="lightgcn-features", mae_weight=0.1),
                   view="features")
    run = runs.get_run(toy_store, result.run_id)
    assert (run["view"], run["objectives"], run["status"]) == ("features", "bpr+mae", "done")
    assert json.loads(run["sources"]) == {"embed:item-attributes": "embed-item-attributes"}
    fake_profile_embeddings(toy_store, "user", 30, dim=8)
    with pytest.raises(ViewError, match="differ in size"):
        load_graph(toy_store, view="features")
