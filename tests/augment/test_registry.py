"""A job kind is one module plus one registration: a toy kind, defined here, gets its table,
its CLI command and its rows without an edit anywhere else."""

import json

import duckdb
import polars as pl
import pytest
from pydantic import BaseModel, ConfigDict, Field
from typer.testing import CliRunner

from workbench import migrations
from workbench.augment import registry
from workbench.augment.engine import SamplingSettings
from workbench.augment.jobs import JobRunner, WorkItem
from workbench.augment.outputs import find_job, job_rows
from workbench.augment.prompts import PromptTemplate
from workbench.augment.registry import JobKindSpec, build_kind, register_job_kind
from workbench.errors import ConfigError
from workbench.store import Store
from tests.augment.fakes import FakeEngine


class Note(BaseModel):
    mood: str = Field(max_length=20)


def m900_toy_notes(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE toy_notes (job_id VARCHAR, dataset_id INTEGER, "
                "item_idx INTEGER, mood VARCHAR, PRIMARY KEY (job_id, item_idx))")


class ToyNotesJob:
    kind, entity, output_table, key_column = "toy-notes", "item", "toy_notes", "item_idx"
    schema = Note
    max_tokens = 16
    template = PromptTemplate("toy_notes", "v1", "Be brief.", "Mood of $title?", "0" * 64)

    def __init__(self, shout: bool) -> None:
        self.shout = shout

    def work_items(self, store, dataset):
        self.dataset_id = dataset.dataset_id
        rows = store.con.execute("SELECT item_idx, title FROM items WHERE dataset_id = ?",
                                 [dataset.dataset_id]).fetchall()
        return [WorkItem(i, self.template.messages(title=json.dumps(t))) for i, t in rows]

    def output_rows(self, items, answers):
        moods = [a.mood.upper() if self.shout else a.mood for a in answers]
        return pl.DataFrame({"dataset_id": [self.dataset_id] * len(items),
                             "item_idx": [w.entity_idx for w in items], "mood": moods})


class ToyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shout: bool = Field(False, description="Write the mood in capitals.")


@pytest.fixture
def toy_kind(monkeypatch):
    monkeypatch.setattr(registry.KINDS, "_items", registry.job_kinds())
    monkeypatch.setattr(migrations, "_REGISTERED", list(migrations.all_migrations()))
    return register_job_kind(JobKindSpec(
        name="toy-notes", summary="Toy notes: one mood per item.", output_table="toy_notes",
        options=ToyOptions, migrations=(m900_toy_notes,),
        build=lambda o, store, info: ToyNotesJob(o.shout)))


def test_a_registered_kind_runs_and_its_rows_resolve(toy_kind, tmp_path):
    from workbench.data import TOY_DIR
    from workbench.graph.ingest import IngestOptions, ingest

    with Store.open(tmp_path / "s.duckdb") as store:  # its table comes with the schema
        ingest(store, IngestOptions(path=TOY_DIR), tmp_path)
        info = store.dataset()
        kind = build_kind("toy-notes", store, info, shout=True)
        report = JobRunner(store, FakeEngine(lambda c, a: '{"mood": "calm"}'),
                           SamplingSettings(), "fake").run(kind, info)
        assert report.n_done == 24
        assert find_job(store, info.dataset_id, "toy-notes") == report.job_id
        rows = job_rows(store, report.job_id, "item_idx, mood")
        assert rows.num_rows == 24 and set(rows.column("mood").to_pylist()) == {"CALM"}
        with pytest.raises(ConfigError, match="toy-notes"):
            build_kind("toy-notes", store, info, loud=True)
    with pytest.raises(ConfigError, match="unknown job kind 'nope'.*toy-notes"):
        registry.job_kind("nope")


def test_a_registered_kind_gets_its_cli_command(toy_kind):
    from workbench.cli import build_app

    app = build_app()
    result = CliRunner().invoke(app, ["augment", "--help"])
    assert "toy-notes" in result.output and "Toy notes: one mood per item." in result.output
    result = CliRunner().invoke(app, ["augment", "toy-notes", "--help"])
    assert result.exit_code == 0
    assert "--shout" in result.output and "Write the mood in capitals." in result.output
    assert "--limit" in result.output and "--dry-run" in result.output
