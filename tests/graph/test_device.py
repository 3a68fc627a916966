"""Training and ranking on a CUDA GPU compute what they compute on the CPU.

Skipped without a GPU (CI has none); run on a GPU machine with
``pytest tests/graph/test_device.py``."""

import pytest
import torch

from workbench.graph.evaluate import evaluate
from workbench.graph.models import LightGCN
from workbench.graph.sampling import NegativeSampler
from workbench.graph.train import TrainConfig, Trainer, make_optimizer, train
from workbench.graph.views import load_graph
from tests.graph.helpers import FAST

GPU = "cuda"
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_layer_combination_on_cuda_matches_cpu(toy_store):
    adj = load_graph(toy_store).normalized_adjacency()
    model = LightGCN(adj.size(0) - 5, 5, embedding_dim=16, num_layers=3)
    weights = torch.randn(adj.size(0), 16)
    out = {}
    for device in ("cpu", GPU):
        x = weights.to(device).clone().requires_grad_()
        emb = model.to(device).get_embedding(adj.to(device), x)
        (emb ** 2).sum().backward()
        out[device] = emb.detach().cpu(), x.grad.cpu()
    assert torch.allclose(out[GPU][0], out["cpu"][0], atol=1e-5)
    assert torch.allclose(out[GPU][1], out["cpu"][1], atol=1e-4)


def test_ranking_on_cuda_matches_cpu(toy_store):
    data = load_graph(toy_store)
    g = torch.Generator().manual_seed(0)
    users, items = torch.randn(data.num_users, 16, generator=g), torch.randn(
        data.num_items, 16, generator=g)
    cpu = evaluate(users, items, data.test, [data.train_csr, data.valid], (10, 20))
    cuda = evaluate(users.to(GPU), items.to(GPU), data.test, [data.train_csr, data.valid],
                    (10, 20))
    assert cuda == pytest.approx(cpu, abs=1e-6)


def test_an_epoch_on_cuda_is_the_cpu_epoch(toy_store):
    """Same seed: the same initial embeddings, batches and negatives; only the order of
    floating-point sums differs."""
    data = load_graph(toy_store)
    embeddings = {}
    for device in ("cpu", GPU):
        trainer = Trainer(toy_store, TrainConfig(**FAST, device=device), data)
        optimizer = make_optimizer(trainer.parameters(), 1e-2)
        trainer.train_epoch(optimizer, NegativeSampler(data.train, data.num_items))
        embeddings[device] = trainer.model.embedding.weight.detach().cpu()
    assert not torch.equal(embeddings["cpu"], Trainer(
        toy_store, TrainConfig(**FAST), data).model.embedding.weight.detach())  # it trained
    assert torch.allclose(embeddings[GPU], embeddings["cpu"], atol=1e-4)


def test_a_run_on_cuda_gives_the_cpu_metrics(toy_store):
    cpu = train(toy_store, TrainConfig(**FAST, device="cpu"))
    cuda = train(toy_store, TrainConfig(**FAST, device=GPU))
    assert cuda.best_epoch == cpu.best_epoch
    assert cuda.test == pytest.approx(cpu.test, abs=0.01)
