"""Job handling with a scripted engine: resume, idempotence, rejected outputs, limits."""

import json

import pytest
from pydantic import BaseModel, Field

from workbench.augment.attributes import ItemAttributesJob
from workbench.augment.engine import EngineSettings, LLMEngine, SamplingSettings
from workbench.augment.jobs import JobRunner, job_row
from workbench.augment.schemas import MovieAttributes, smallest_answer
from workbench.errors import ConfigError
from tests.augment.fakes import FakeEngine

GOOD = json.dumps({"director": "A. Director", "country": "USA", "language": "English",
                   "release_year": 1995, "genres": ["Drama"]})


def runner(store, engine, **kw):
    return JobRunner(store, engine, SamplingSettings(), "fake-model", **kw)


def counts(store, job_id):
    return (store.con.execute("SELECT count(*), count(DISTINCT item_idx) FROM item_attributes "
                              "WHERE job_id = ?", [job_id]).fetchone())


def test_job_writes_one_row_per_item_with_provenance(toy_store):
    engine = FakeEngine(lambda c, a: GOOD)
    report = runner(toy_store, engine, chunk_size=10).run(ItemAttributesJob(),
                                                          toy_store.dataset())
    assert report.status == "done" and report.n_done == 24 and report.n_rejected == 0
    assert counts(toy_store, report.job_id) == (24, 24)
    assert engine.calls == [10, 10, 4]
    job = job_row(toy_store, report.job_id)
    manifest = json.loads(job["manifest"])
    assert job["model"] == "fake-model" and job["prompt_version"] == "item_attributes.movie.v1"
    assert manifest["prompt"]["sha256"] == job["prompt_hash"]
    assert manifest["schema"] == MovieAttributes.model_json_schema()
    assert json.loads(job["sampling"])["temperature"] == 0.0


def test_rerun_is_idempotent(toy_store):
    engine = FakeEngine(lambda c, a: GOOD)
    first = runner(toy_store, engine).run(ItemAttributesJob(), toy_store.dataset())
    second = runner(toy_store, engine).run(ItemAttributesJob(), toy_store.dataset())
    assert second.job_id == first.job_id and second.n_new == 0
    assert engine.calls == [24]
    assert counts(toy_store, first.job_id) == (24, 24)


def test_crash_mid_job_resumes_without_duplicates(toy_store):
    crashing = FakeEngine(lambda c, a: GOOD, fail_on_call=2)
    with pytest.raises(KeyboardInterrupt):
        runner(toy_store, crashing, chunk_size=10).run(ItemAttributesJob(), toy_store.dataset())
    job_id = runner(toy_store, crashing).job_id(ItemAttributesJob(), toy_store.dataset())
    assert counts(toy_store, job_id) == (10, 10)  # first chunk committed, second rolled back
    assert job_row(toy_store, job_id)["status"] == "running"
    engine = FakeEngine(lambda c, a: GOOD)
    report = runner(toy_store, engine, chunk_size=10).run(ItemAttributesJob(),
                                                          toy_store.dataset())
    assert engine.calls == [10, 4]  # only what was missing
    assert counts(toy_store, job_id) == (24, 24)
    assert job_row(toy_store, job_id)["n_done"] == 24 and report.status == "done"


def test_invalid_output_is_rejected_retried_and_never_stored(toy_store):
    def answer(conversation, attempt):
        title = json.loads(conversation[1]["content"].split("<item>\n")[1].split("\n</item>")[0])
        if title["title"].startswith("Silent"):  # always broken for these items
            return '{"director": "X", "country": '
        return GOOD if attempt >= 1 else '{"director": 3}'  # valid on the first retry

    engine = FakeEngine(answer)
    report = runner(toy_store, engine, max_attempts=3).run(ItemAttributesJob(),
                                                           toy_store.dataset())
    n_silent = toy_store.con.execute(
        "SELECT count(*) FROM items WHERE title LIKE 'Silent%'").fetchone()[0]
    assert n_silent > 0
    assert report.n_done == 24 - n_silent
    rejected = toy_store.frame("SELECT * FROM rejected_outputs WHERE job_id = ?",
                               [report.job_id])
    # every item failed once; the Silent ones three times in all
    assert rejected.height == 24 + 2 * n_silent
    assert set(rejected.filter(rejected["raw_text"] == '{"director": 3}')["attempt"]) == {1}
    assert rejected["reason"].str.contains("at director|json_invalid").all()
    stored = toy_store.frame("SELECT attributes FROM item_attributes WHERE job_id = ?",
                             [report.job_id])
    for attrs in stored["attributes"]:
        MovieAttributes.model_validate_json(attrs)
    # a rerun does not retry exhausted items forever
    again = FakeEngine(answer)
    runner(toy_store, again, max_attempts=3).run(ItemAttributesJob(), toy_store.dataset())
    assert again.calls == []


def test_limit_takes_a_sample_and_extends(toy_store):
    engine = FakeEngine(lambda c, a: GOOD)
    r = runner(toy_store, engine)
    assert r.run(ItemAttributesJob(), toy_store.dataset(), limit=5).n_done == 5
    assert r.run(ItemAttributesJob(), toy_store.dataset(), limit=8).n_new == 3


def test_prompt_too_long_is_rejected_once(toy_store):
    engine = FakeEngine(lambda c, a: GOOD, max_model_len=170)  # budget 170 - 160 = 10 tokens
    report = runner(toy_store, engine).run(ItemAttributesJob(), toy_store.dataset())
    assert report.n_done == 0 and engine.calls == []
    reasons = toy_store.frame("SELECT reason FROM rejected_outputs")["reason"]
    assert reasons.len() == 24 and reasons.str.starts_with("prompt too long").all()


def test_new_prompt_version_or_model_is_a_new_job(toy_store, tmp_path):
    engine = FakeEngine(lambda c, a: GOOD)
    a = JobRunner(toy_store, engine, SamplingSettings(), "model-a").job_id(
        ItemAttributesJob(), toy_store.dataset())
    b = JobRunner(toy_store, engine, SamplingSettings(), "model-b").job_id(
        ItemAttributesJob(), toy_store.dataset())
    c = JobRunner(toy_store, engine, SamplingSettings(temperature=0.5), "model-a").job_id(
        ItemAttributesJob(), toy_store.dataset())
    assert len({a, b, c}) == 3


def test_unknown_attribute_schema_is_refused():
    with pytest.raises(ValueError, match="unknown attribute schema 'books'.*movie, product"):
        ItemAttributesJob("books")


def test_progress_hears_each_answer_and_each_chunk(toy_store):
    """on_progress: every first answer as it arrives (n_answered grows within the chunk and
    is back to 0 once the chunk is written); on_chunk: once per committed chunk."""
    seen, chunks = [], []
    runner(toy_store, FakeEngine(lambda c, a: GOOD), chunk_size=10).run(
        ItemAttributesJob(), toy_store.dataset(),
        on_chunk=lambda r: chunks.append(r.n_done),
        on_progress=lambda r: seen.append((r.n_done, r.n_answered)))
    answers = [s for s in seen if s[1]]
    assert len(answers) == 24
    assert answers[:10] == [(0, i) for i in range(1, 11)]
    assert answers[10:20] == [(10, i) for i in range(1, 11)]
    assert chunks == [10, 20, 24]


def test_retries_do_not_count_as_new_answers(toy_store):
    answered = []
    runner(toy_store, FakeEngine(lambda c, a: "not json" if a == 0 else GOOD),
           chunk_size=24).run(ItemAttributesJob(), toy_store.dataset(),
                              on_progress=lambda r: answered.append(r.n_answered))
    assert max(answered) == 24 and len([a for a in answered if a]) == 24


# -- settings no answer can satisfy: one line, before any engine starts, nothing written --

def jobs_rows(store):
    return store.con.execute("SELECT count(*) FROM jobs").fetchone()[0]


def test_a_context_too_short_for_the_answer_is_refused_before_the_job(toy_store):
    engine = FakeEngine(lambda c, a: GOOD, max_model_len=100)  # answers take 160 tokens
    with pytest.raises(ConfigError, match="max_model_len 100 leaves no room"):
        runner(toy_store, engine).run(ItemAttributesJob(), toy_store.dataset())
    assert engine.calls == [] and jobs_rows(toy_store) == 0


class Contradictory(BaseModel):
    code: str = Field(min_length=5, max_length=2)


def test_a_schema_no_answer_can_satisfy_is_refused(toy_store):
    job = ItemAttributesJob()
    job.schema = Contradictory
    engine = FakeEngine(lambda c, a: GOOD)
    with pytest.raises(ConfigError, match="minLength 5 is above maxLength 2"):
        runner(toy_store, engine).run(job, toy_store.dataset())
    assert engine.calls == [] and jobs_rows(toy_store) == 0


def test_a_token_budget_below_the_smallest_answer_is_refused(toy_store, tiny_model):
    """Counted with the model's tokenizer; the engine itself never starts."""
    engine = LLMEngine(EngineSettings(model=str(tiny_model)), str(tiny_model))
    job_runner = JobRunner(toy_store, engine, SamplingSettings(max_tokens=5), "tiny")
    with pytest.raises(ConfigError, match="needs at least .* tokens"):
        job_runner.run(ItemAttributesJob(), toy_store.dataset())
    assert "llm" not in vars(engine) and jobs_rows(toy_store) == 0
    assert smallest_answer(MovieAttributes).startswith('{"director":""')


@pytest.mark.parametrize("env, option, message", [
    ({"WORKBENCH_LLM_MAX_NUM_SEQS": "0"}, [], "max_num_seqs: Input should be greater than"),
    ({"WORKBENCH_LLM_MAX_MODEL_LEN": "100"}, [], "max_model_len 100 leaves no room"),
    ({}, ["--chunk-size", "0"], "chunk_size must be at least 1"),
])
def test_bad_engine_settings_are_one_line_from_the_cli(workbench_home, tiny_model, monkeypatch,
                                                       env, option, message):
    from typer.testing import CliRunner

    from workbench.cli import app
    from workbench.data import TOY_DIR

    cli = CliRunner()
    assert cli.invoke(app, ["ingest", str(TOY_DIR)]).exit_code == 0
    monkeypatch.setenv("WORKBENCH_LLM_MODEL", str(tiny_model))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = cli.invoke(app, ["augment", "item-attributes", *option])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_retries_ride_with_the_next_chunk(toy_store):
    """A chunk's rejected entities are retried in the next chunk's engine call (at their
    next attempt's seed offset), not in a small call of their own; after the last chunk
    they run alone."""
    engine = FakeEngine(lambda c, a: "not json" if a == 0 else GOOD)
    report = runner(toy_store, engine, chunk_size=10).run(ItemAttributesJob(),
                                                          toy_store.dataset())
    assert engine.calls == [10, 10 + 10, 4 + 10, 4]
    assert report.n_done == 24 and report.n_rejected == 24
    attempts = toy_store.frame("SELECT attempt, count(*) AS n FROM rejected_outputs "
                               "GROUP BY attempt")
    assert attempts.rows() == [(1, 24)]
    assert counts(toy_store, report.job_id) == (24, 24)


def test_an_entity_out_of_attempts_is_not_carried(toy_store):
    engine = FakeEngine(lambda c, a: "not json")
    report = runner(toy_store, engine, chunk_size=10, max_attempts=2).run(
        ItemAttributesJob(), toy_store.dataset())
    assert engine.calls == [10, 20, 14, 4] and report.n_done == 0
    assert toy_store.con.execute("SELECT max(attempt), count(*) FROM rejected_outputs"
                                 ).fetchone() == (2, 48)
