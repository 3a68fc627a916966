"""A scripted engine for unit tests of job handling (the real path is test_vllm_path.py)."""

from __future__ import annotations

from collections.abc import Callable

from workbench.augment.engine import Completion, EngineSettings


class FakeEngine:
    def __init__(self, answer: Callable[[list[dict], int], str], max_model_len: int = 1024,
                 fail_on_call: int | None = None) -> None:
        self.answer = answer
        self.settings = EngineSettings(model="fake", max_model_len=max_model_len)
        self.model_path = "fake"
        self.version = "fake"
        self.calls: list[int] = []  # batch sizes
        self.fail_on_call = fail_on_call

    def chat(self, conversations, sampling, schema=None, seed_offset=0, on_answer=None):
        self.calls.append(len(conversations))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise KeyboardInterrupt("simulated crash")
        offsets = [seed_offset] * len(conversations) if isinstance(seed_offset, int) \
            else list(seed_offset)
        out = [Completion(self.answer(c, o), 10, 5, "stop")
               for c, o in zip(conversations, offsets)]
        for _ in out if on_answer else ():
            on_answer(1)
        return out

    def count_tokens(self, conversations):
        return [sum(len(m["content"]) for m in c) // 4 for c in conversations]


class StreamingFakeEngine(FakeEngine):
    """Continuous batching, scripted: each step finishes the ``per_step`` oldest requests;
    a retry returned by ``done`` joins the back of the queue."""

    def __init__(self, answer: Callable[[list[dict], int], str], per_step: int = 3,
                 fail_on_step: int | None = None, **kw) -> None:
        super().__init__(answer, **kw)
        self.per_step, self.fail_on_step = per_step, fail_on_step
        self.added: list[tuple[int, list[tuple[int, int]]]] = []  # (in flight, [(key, try)])
        self.steps = 0

    def stream(self, schema, more, done):
        queue: list = []

        def add(requests):
            if requests:
                self.added.append((len(queue), [(r.key, r.seed_offset) for r in requests]))
                queue.extend(requests)

        while True:
            add(list(more(len(queue))))
            if not queue:
                return
            self.steps += 1
            if self.fail_on_step == self.steps:
                raise KeyboardInterrupt("simulated crash")
            finished, queue[:] = queue[:self.per_step], queue[self.per_step:]
            for r in finished:
                add(list(done(r, Completion(self.answer(r.messages, r.seed_offset), 10, 5,
                                            "stop"))))
