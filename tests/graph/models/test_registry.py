"""A model is one module plus one registration: a toy model, defined here, trains through the
same trainer, CLI and evaluation; a view it cannot use is refused."""

import pytest
import torch
from typer.testing import CliRunner

from workbench import runs
from workbench.errors import ViewError
from workbench.graph.models import registry
from workbench.graph.models.registry import ModelSpec, register_model
from workbench.graph.train import TrainConfig, train

FAST = dict(max_epochs=2, min_epochs=1, eval_every=1, batch_size=64, embedding_dim=4)


class ScaledMF(torch.nn.Module):
    """MF whose item scores are scaled by a learned scalar."""

    def __init__(self, num_users: int, num_items: int, dim: int) -> None:
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.embedding = torch.nn.Embedding(num_users + num_items, dim)
        self.scale = torch.nn.Parameter(torch.ones(()))

    @property
    def ego_embedding(self) -> torch.Tensor:
        return self.embedding.weight

    def forward(self, adj):
        w = self.embedding.weight
        return w[: self.num_users], self.scale * w[self.num_users:]


@pytest.fixture
def toy_model(monkeypatch):
    monkeypatch.setattr(registry.MODELS, "_items", registry.models())
    return register_model(ModelSpec(
        name="scaled-mf", summary="toy", propagates=False,
        build=lambda config, data: ScaledMF(data.num_users, data.num_items,
                                            config.embedding_dim)))


def test_a_registered_model_trains_and_is_recorded(toy_model, toy_store):
    result = train(toy_store, TrainConfig(model="scaled-mf", **FAST))
    run = runs.get_run(toy_store, result.run_id)
    assert run["model"] == "scaled-mf" and run["status"] == "done"
    assert set(result.test) >= {"recall@20", "ndcg@20"}


def test_a_model_is_refused_a_view_it_cannot_use(toy_model, toy_store):
    from tests.graph.helpers import fake_profile_embeddings

    fake_profile_embeddings(toy_store, "item", 24, every=1, source_kind="item-attributes")
    with pytest.raises(ViewError, match="'scaled-mf' cannot use the features of view "
                                        "'features'; models that can: lightgcn-features"):
        train(toy_store, TrainConfig(model="scaled-mf", **FAST), view="features")


def test_unknown_model_lists_the_known(toy_model):
    with pytest.raises(ValueError, match="unknown model 'nope'.*scaled-mf"):
        TrainConfig(model="nope")


def test_cli_trains_a_registered_model(toy_model, workbench_home):
    from workbench.cli import build_app
    from workbench.data import TOY_DIR

    app = build_app()
    assert CliRunner().invoke(app, ["ingest", str(TOY_DIR)]).exit_code == 0
    result = CliRunner().invoke(app, ["train", "--model", "scaled-mf", "--epochs", "2",
                                      "--set", "min_epochs=1", "--set", "eval_every=1"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["train", "--model", "nope"])  # refused with the list
    assert result.exit_code == 2 and "'nope' is not one of" in result.output
    assert "'scaled-mf'" in " ".join(result.output.split())
