"""The local backend's streaming run (continuous batching across chunks), scripted."""

import pytest

from workbench.augment.attributes import ItemAttributesJob
from workbench.augment.jobs import job_row
from tests.augment.fakes import StreamingFakeEngine
from tests.augment.test_jobs import GOOD, counts, runner


def test_next_chunk_joins_while_the_last_one_runs_and_each_commits_when_settled(toy_store):
    engine = StreamingFakeEngine(lambda c, a: GOOD, per_step=3)
    commits = []
    r = runner(toy_store, engine, chunk_size=10)
    report = r.run(ItemAttributesJob(), toy_store.dataset(),
                   on_chunk=lambda rep: commits.append(rep.n_done))
    assert report.status == "done" and report.n_done == 24 and report.n_answered == 0
    assert counts(toy_store, report.job_id) == (24, 24)
    assert [len(keys) for _, keys in engine.added] == [10, 10, 4]
    # the second and third chunks joined with the previous still in flight
    assert [flying for flying, _ in engine.added] == [0, 7, 8]
    assert commits == [10, 20, 24]  # one commit per chunk, as soon as it was settled
    assert engine.calls == []  # no batch calls: one stream


def test_a_rejected_answer_is_retried_in_the_running_batch(toy_store):
    def answer(conversation, attempt):
        return GOOD if attempt >= 1 else '{"director": 3}'

    engine = StreamingFakeEngine(answer, per_step=4)
    report = runner(toy_store, engine, chunk_size=10).run(ItemAttributesJob(),
                                                          toy_store.dataset())
    assert report.n_done == 24 and report.n_rejected == 24
    retries = [(flying, keys) for flying, keys in engine.added if keys[0][1] == 1]
    assert len(retries) == 24 and all(len(keys) == 1 for _, keys in retries)
    # most retries join while other requests are still in flight
    assert sum(1 for flying, _ in retries if flying > 0) >= 20
    rejected = toy_store.frame("SELECT attempt FROM rejected_outputs")
    assert set(rejected["attempt"]) == {1}


def test_out_of_attempts_and_too_long_settle_their_chunk(toy_store):
    engine = StreamingFakeEngine(lambda c, a: '{"director": 3}', per_step=5)
    report = runner(toy_store, engine, chunk_size=10, max_attempts=2).run(
        ItemAttributesJob(), toy_store.dataset())
    assert report.n_done == 0 and report.n_rejected == 48 and report.status == "done"
    too_long = StreamingFakeEngine(lambda c, a: GOOD, max_model_len=170)
    toy_store.con.execute("DELETE FROM jobs")
    toy_store.con.execute("DELETE FROM rejected_outputs")
    report = runner(toy_store, too_long, chunk_size=10).run(ItemAttributesJob(),
                                                            toy_store.dataset())
    assert report.n_done == 0 and too_long.added == []
    reasons = toy_store.frame("SELECT reason FROM rejected_outputs")["reason"]
    assert reasons.len() == 24 and reasons.str.starts_with("prompt too long").all()


def test_a_killed_stream_keeps_what_was_committed_and_resumes(toy_store):
    crashing = StreamingFakeEngine(lambda c, a: GOOD, per_step=3, fail_on_step=5)
    with pytest.raises(KeyboardInterrupt):
        runner(toy_store, crashing, chunk_size=10).run(ItemAttributesJob(),
                                                       toy_store.dataset())
    job_id = runner(toy_store, crashing).job_id(ItemAttributesJob(), toy_store.dataset())
    assert counts(toy_store, job_id) == (10, 10)  # the first chunk settled at step 4
    engine = StreamingFakeEngine(lambda c, a: GOOD)
    report = runner(toy_store, engine, chunk_size=10).run(ItemAttributesJob(),
                                                          toy_store.dataset())
    assert [len(keys) for _, keys in engine.added] == [10, 4]  # only what was missing
    assert counts(toy_store, job_id) == (24, 24) and report.status == "done"
    assert job_row(toy_store, job_id)["n_done"] == 24


def test_progress_counts_first_answers_across_overlapping_chunks(toy_store):
    seen = []
    r = runner(toy_store, StreamingFakeEngine(lambda c, a: GOOD, per_step=3), chunk_size=10)
    r.run(ItemAttributesJob(), toy_store.dataset(),
          on_progress=lambda rep: seen.append(rep.n_done + rep.n_answered))
    assert len(seen) == 24  # once per answer
    assert seen == sorted(seen) and seen[-1] == 24  # never goes back, ends at all
