"""A Ray replica's callable without Ray: concurrent calls feed one engine stream (the next
batch joins while the last one runs), each call gets its own batch's rows back, earlier
rejections count, and an engine error fails the calls waiting on it, not the next one."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.augment.fakes import StreamingFakeEngine
from tests.augment.test_jobs import GOOD
from workbench.augment import engine as engine_module
from workbench.augment.attributes import ItemAttributesJob
from workbench.augment.engine import SamplingSettings
from workbench.augment.ray_backend import Replica

BAD = '{"director": 3}'


class SlowEngine(StreamingFakeEngine):
    """Steps take a little time, so that a second call arrives while the first runs."""

    def __init__(self, answer, **kw) -> None:
        super().__init__(answer, per_step=2, **kw)
        self.llm = self  # what the replica's thread builds
        self.built_in: str | None = None
        self.fail_next = False

    def stream(self, schema, more, done):
        self.built_in = self.built_in or threading.current_thread().name

        def slow_more(n):
            time.sleep(0.01)
            if self.fail_next and n:  # with requests in flight
                self.fail_next = False
                raise RuntimeError("engine died")
            return more(n)
        return super().stream(schema, slow_more, done)


@pytest.fixture
def replica(monkeypatch):
    def make(answer, max_attempts: int = 3, low_water: int = 4) -> tuple[Replica, SlowEngine]:
        fake = SlowEngine(answer)
        monkeypatch.setattr(engine_module, "LLMEngine", lambda settings, path: fake)
        made = Replica({"model": "fake"}, "fake", ItemAttributesJob().schema, "item",
                       SamplingSettings(max_tokens=8).model_dump(), max_attempts, 0.7,
                       threads=None, low_water=low_water)
        return made, fake
    return make


def batch(keys: list[int], prior: int = 0) -> dict:
    messages = [json.dumps([{"role": "user", "content": f"item {k}"}]) for k in keys]
    return {"entity_idx": keys, "messages": messages, "prior": [prior] * len(keys)}


def call_all(replica: Replica, batches: list[dict]) -> list[dict]:
    out: list = [None] * len(batches)

    def one(n: int) -> None:
        try:
            out[n] = replica(batches[n])
        except Exception as exc:  # noqa: BLE001
            out[n] = exc
    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(batches))]
    for t in threads:
        t.start()
        time.sleep(0.005)
    for t in threads:
        t.join(10)
    return out


def test_concurrent_calls_share_one_stream_and_get_their_own_rows(replica):
    made, fake = replica(lambda c, a: GOOD)
    first, second = call_all(made, [batch(list(range(8))), batch(list(range(100, 108)))])
    assert first["entity_idx"] == list(range(8))
    assert second["entity_idx"] == list(range(100, 108))
    assert all(json.loads(a)["director"] == "A. Director"
               for a in first["answer"] + second["answer"])
    assert fake.calls == []  # no batch calls: one stream
    # the second batch joined while the first was still in flight
    joins = [(flying, keys[0][0]) for flying, keys in fake.added]
    assert (joins[0][0], joins[0][1]) == (0, 0)
    assert joins[1][1] == 100 and 0 < joins[1][0] < 8
    assert fake.built_in == "workbench-engine"  # built and stepped by the same thread


def test_retries_ride_in_the_stream_and_earlier_rejections_count(replica):
    made, fake = replica(lambda c, a: GOOD if a >= 2 else BAD, max_attempts=3)
    fresh, retried = call_all(made, [batch([1, 2]), batch([3], prior=1)])
    # fresh entities: rejected at attempts 1 and 2, accepted at 3
    assert [len(json.loads(r)) for r in fresh["rejected"]] == [2, 2]
    assert all(fresh["answer"])
    # one earlier rejection: its next attempt is its second (seed offset 1), then its third
    assert [a for k, a in sum((keys for _, keys in fake.added), []) if k == 3] == [1, 2]
    assert retried["answer"][0] is not None
    assert [r["attempt"] for r in json.loads(retried["rejected"][0])] == [2]


def test_an_engine_error_fails_the_waiting_calls_and_the_next_call_works(replica):
    made, fake = replica(lambda c, a: GOOD)
    fake.fail_next = True
    (failed,) = call_all(made, [batch([1, 2, 3])])
    assert isinstance(failed, RuntimeError) and "engine died" in str(failed)
    (ok,) = call_all(made, [batch([4, 5])])
    assert ok["entity_idx"] == [4, 5] and all(ok["answer"])


def test_an_empty_batch_returns_empty_columns(replica):
    made, fake = replica(lambda c, a: GOOD)
    (empty,) = call_all(made, [batch([])])
    assert empty["entity_idx"] == [] and empty["answer"] == [] and fake.added == []
