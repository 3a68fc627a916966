"""A dataset out as Parquet and back: every table equal, readable by DuckDB and polars, the
imported dataset usable; bad input one line with nothing half-written."""

from __future__ import annotations

import json

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from workbench.augment.attributes import ItemAttributesJob
from workbench.augment.engine import SamplingSettings
from workbench.augment.jobs import JobRunner
from workbench.cli import app
from workbench.errors import ConfigError, IngestError, StoreError
from workbench.export import export_dataset, import_export
from workbench.graph.enriched import build_enriched_graph
from workbench.graph.train import TrainConfig, train
from workbench.store import Store
from tests.app.conftest import ATTRS
from tests.augment.fakes import FakeEngine
from tests.graph.helpers import fake_profile_embeddings

FAST = dict(max_epochs=2, min_epochs=1, eval_every=1, batch_size=64, embedding_dim=8)


@pytest.fixture
def enriched(toy_store):
    """The toy dataset with a job, embeddings, an enriched graph and two runs."""
    JobRunner(toy_store, FakeEngine(lambda c, a: ATTRS), SamplingSettings(), "fake").run(
        ItemAttributesJob(), toy_store.dataset())
    fake_profile_embeddings(toy_store, "item", 24, dim=8, every=1, source_kind="item-text")
    build_enriched_graph(toy_store, codebook_size=4)
    train(toy_store, TrainConfig(**FAST))
    train(toy_store, TrainConfig(**FAST, model="alpharec", loss="softmax", score="cosine"),
          view="text-enriched")
    return toy_store


def rows(store: Store, table: str, columns: list[str]) -> list[tuple]:
    cols = ", ".join(c for c in columns if c != "dataset_id")
    return sorted(map(repr, store.con.execute(f"SELECT {cols} FROM {table}").fetchall()))


def test_round_trip_keeps_every_table(enriched, tmp_path):
    out = tmp_path / "export"
    manifest = export_dataset(enriched, "toy", out)
    assert {"interactions", "items", "users", "jobs", "item_attributes", "embeddings",
            "graph_nodes", "graph_edges", "runs", "run_epochs", "run_embeddings"} <= set(
        manifest["tables"])
    # plain Parquet: DuckDB and polars read it as it is
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/interactions.parquet')"
                      ).fetchall()[0][0] == 318
    runs = pl.read_parquet(out / "runs.parquet")
    assert runs.height == 2 and set(runs["status"]) == {"done"}
    with Store.open(tmp_path / "other.duckdb") as other:
        info = import_export(other, out)
        assert (info.name, info.n_users, info.n_items) == ("toy", 30, 24)
        for table, spec in manifest["tables"].items():
            assert rows(other, table, spec["columns"]) == rows(enriched, table,
                                                               spec["columns"]), table
        # the imported dataset is usable: a view resolves the imported jobs
        result = train(other, TrainConfig(**FAST, model="alpharec", loss="softmax",
                                          score="cosine"), view="text-enriched")
        sources = json.loads(other.con.execute("SELECT sources FROM runs WHERE run_id = ?",
                                               [result.run_id]).fetchone()[0])
        assert sources["embed:item-text"] == "embed-item-text"


def test_cli_export_then_ingest(enriched, tmp_path, monkeypatch):
    import shutil

    runner = CliRunner()
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    shutil.copy(enriched.path, home / "workbench.duckdb")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    enriched.close()
    result = runner.invoke(app, ["export", "toy", str(tmp_path / "out")])
    assert result.exit_code == 0 and "exported toy" in result.output, result.output
    result = runner.invoke(app, ["export", "toy", str(tmp_path / "out")])
    assert result.exit_code == 1 and "is not an empty folder" in result.output
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "fresh"))
    result = runner.invoke(app, ["ingest", str(tmp_path / "out")])
    assert result.exit_code == 0 and "dataset toy: 30 users" in result.output, result.output
    result = runner.invoke(app, ["ingest", str(tmp_path / "out")])
    assert result.exit_code == 1 and "already holds a dataset 'toy'" in result.output
    result = runner.invoke(app, ["ingest", str(tmp_path / "out"), "--name", "again"])
    assert result.exit_code == 1 and "already holds rows of this export" in result.output
    with Store.open(tmp_path / "fresh" / "workbench.duckdb") as store:
        assert [d.name for d in store.datasets()] == ["toy"]  # nothing half-written


def test_an_export_from_a_newer_workbench_is_refused(enriched, tmp_path):
    out = tmp_path / "newer"
    export_dataset(enriched, None, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["migrations"].append("m999_from_the_future")
    (out / "manifest.json").write_text(json.dumps(manifest))
    with Store.open(tmp_path / "x.duckdb") as other:
        with pytest.raises(IngestError, match="written by a newer workbench"):
            import_export(other, out)
        assert other.datasets() == []


def test_a_failed_export_leaves_no_folder(enriched, tmp_path, monkeypatch):
    import workbench.export as export

    real = export._tables
    monkeypatch.setattr(export, "_tables", lambda store: {**real(store),
                                                          "no_such_table": ["dataset_id"]})
    with pytest.raises(duckdb.Error):
        export_dataset(enriched, None, tmp_path / "half")
    assert not (tmp_path / "half").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".half")] == []
    with pytest.raises(ConfigError, match="not an empty folder"):
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("x")
        export_dataset(enriched, None, tmp_path / "full")
    with pytest.raises(StoreError, match="unknown dataset"):
        export_dataset(enriched, "nope", tmp_path / "none")
