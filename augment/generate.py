"""One chunk of a job through an engine: prompts in, validated answers and rejected attempts
out. The same function runs in the local backend (in the workbench's process) and inside
each Ray replica, so prompts, schemas, validation and retries are the same everywhere.

An answer that is not valid JSON for the schema is rejected (raw text and reason kept) and
retried, ``max_attempts`` in all; retries sample at ``retry_temperature`` with a new seed,
since a greedy retry would repeat itself. A prompt that cannot fit the context is rejected
once, for good. :func:`generate_stream` runs a whole job through one streaming engine run
(the local backend with vLLM: the next chunk and each retry join the running batch);
:func:`generate_round` is one engine call in which first attempts and retries mix (engines
without streaming: the local backend carries a chunk's retries into the next chunk's call);
:func:`generate` repeats rounds until every entity is settled (a Ray replica's batch).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from workbench.augment.engine import Completion, Request, SamplingSettings


@dataclass
class Generated:
    """What a chunk produced: accepted (entity_idx, answer), rejected attempts, tokens."""

    accepted: list[tuple[int, BaseModel]] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # rows of rejected_outputs, no job_id
    prompt_tokens: dict[int, int] = field(default_factory=dict)  # per entity, all attempts
    output_tokens: dict[int, int] = field(default_factory=dict)
    llm_s: float = 0.0

    def merge(self, other: Generated) -> None:
        """Add another round's results to these."""
        self.accepted += other.accepted
        self.rejected += other.rejected
        for mine, theirs in ((self.prompt_tokens, other.prompt_tokens),
                             (self.output_tokens, other.output_tokens)):
            for idx, n in theirs.items():
                mine[idx] = mine.get(idx, 0) + n
        self.llm_s += other.llm_s


def parse_answer(text: str, schema: type[BaseModel]) -> tuple[BaseModel | None, str | None]:
    """The validated answer, or None and the reason it was rejected."""
    try:
        return schema.model_validate_json(text), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "answer"
        return None, f"{first['type']} at {where}: {first['msg']}"[:500]


def retry_sampling(sampling: SamplingSettings, retry_temperature: float) -> SamplingSettings:
    """How retries sample: at least ``retry_temperature`` (a greedy retry repeats itself)."""
    return sampling.model_copy(
        update={"temperature": max(sampling.temperature, retry_temperature)})


def record(out: Generated, idx: int, attempt: int, completion: Completion,
           schema: type[BaseModel], entity: str) -> bool:
    """Count ``completion``'s tokens into ``out`` and keep its answer, or its rejection
    (``attempt``: its number, from 1); whether it was accepted."""
    out.prompt_tokens[idx] = out.prompt_tokens.get(idx, 0) + completion.n_prompt_tokens
    out.output_tokens[idx] = out.output_tokens.get(idx, 0) + completion.n_output_tokens
    answer, reason = parse_answer(completion.text, schema)
    if answer is not None:
        out.accepted.append((idx, answer))
        return True
    out.rejected.append({"entity": entity, "entity_idx": idx, "attempt": attempt,
                         "raw_text": completion.text, "reason": reason})
    return False


def generate(engine: Any, prompts: dict[int, list[dict[str, str]]], schema: type[BaseModel],
             entity: str, sampling: SamplingSettings, prior: dict[int, int],
             max_attempts: int, retry_temperature: float,
             released: Callable[[], AbstractContextManager] = nullcontext,
             on_answer: Callable[[int], None] | None = None) -> Generated:
    """Answers for ``prompts`` (entity_idx -> messages), each entity tried until valid or
    ``max_attempts`` in all (``prior`` counts its earlier rejected attempts): rounds of
    :func:`generate_round`, the retries of one round the whole batch of the next.
    ``released`` wraps each engine call (the local backend gives the store's lock up
    meanwhile); ``on_answer(n)`` hears of each first answer as it comes."""
    prior = dict(prior)
    out = Generated()
    waiting = dict(prompts)
    while waiting:
        got, retry = generate_round(engine, waiting, schema, entity, sampling, prior,
                                    max_attempts, retry_temperature, released, on_answer)
        out.merge(got)
        for idx in retry:
            prior[idx] = prior.get(idx, 0) + 1
        waiting = {i: prompts[i] for i in retry if prior[i] < max_attempts}
    return out


def generate_round(engine: Any, prompts: dict[int, list[dict[str, str]]],
                   schema: type[BaseModel], entity: str, sampling: SamplingSettings,
                   prior: dict[int, int], max_attempts: int, retry_temperature: float,
                   released: Callable[[], AbstractContextManager] = nullcontext,
                   on_answer: Callable[[int], None] | None = None
                   ) -> tuple[Generated, list[int]]:
    """One engine call: each entity's next attempt (``prior[idx]`` rejected so far), first
    attempts as ``sampling``, retries at ``retry_temperature`` with their own seed offset,
    in one batch. Returns what it produced and the entities it rejected (whose attempts are
    ``prior[idx] + 1`` now). A prompt that cannot fit is rejected once, for good (only
    first attempts are measured: a retried prompt fitted before)."""
    prior = dict(prior)
    out = Generated()
    first = {i: m for i, m in prompts.items() if prior.get(i, 0) == 0}
    fits = set(_drop_too_long(engine, first, entity, sampling, prior, max_attempts, out))
    order = [i for i in prompts if i in fits or i not in first]
    if not order:
        return out, []
    retried = retry_sampling(sampling, retry_temperature)
    samplings = [sampling if prior.get(i, 0) == 0 else retried for i in order]
    offsets = [prior.get(i, 0) for i in order]
    n_first = sum(1 for o in offsets if o == 0)
    heard = [0]

    def first_answers(n: int) -> None:  # vLLM counts every request; the bar counts entities
        now = min(heard[0] + n, n_first)
        if on_answer and now > heard[0]:
            on_answer(now - heard[0])
        heard[0] = now

    start = time.perf_counter()
    with released():
        completions = engine.chat([prompts[i] for i in order], samplings, schema,
                                  seed_offset=offsets,
                                  **({"on_answer": first_answers} if on_answer else {}))
    out.llm_s += time.perf_counter() - start
    rejected = [idx for idx, completion in zip(order, completions)
                if not record(out, idx, prior.get(idx, 0) + 1, completion, schema, entity)]
    return out, rejected


def _drop_too_long(engine: Any, prompts: dict[int, list[dict[str, str]]], entity: str,
                   sampling: SamplingSettings, prior: dict[int, int], max_attempts: int,
                   out: Generated) -> list[int]:
    if not prompts:
        return []
    budget = engine.settings.max_model_len - sampling.max_tokens
    order = list(prompts)
    keep = []
    for idx, n in zip(order, engine.count_tokens([prompts[i] for i in order])):
        if n <= budget:
            keep.append(idx)
            continue
        attempt = prior.get(idx, 0) + 1
        prior[idx] = max_attempts  # no retry can help
        out.rejected.append({"entity": entity, "entity_idx": idx, "attempt": attempt,
                             "raw_text": None,
                             "reason": f"prompt too long: {n} tokens, the budget is {budget} "
                                       "(max_model_len - max_tokens)"})
    return keep


@dataclass
class _Chunk:
    """A chunk in flight in :func:`generate_stream`: its entities, those not yet settled."""

    keys: list[int]
    pending: set[int]
    got: Generated = field(default_factory=Generated)


def generate_stream(engine: Any, chunks: Iterable[dict[int, list[dict[str, str]]]],
                    schema: type[BaseModel], entity: str, sampling: SamplingSettings,
                    prior: dict[int, int], max_attempts: int, retry_temperature: float,
                    on_chunk: Callable[[list[int], Generated], None],
                    on_answer: Callable[[int], None] | None = None,
                    low_water: int = 1) -> None:
    """A whole job through one engine run (:meth:`LLMEngine.stream`, continuous batching):
    the next chunk joins while the engine still works on the last one's longest answers, a
    rejected answer's retry joins the running batch at once, and ``on_chunk(keys, got)``
    hears of each chunk as soon as all its entities are settled (answered, or out of
    attempts), to commit it. A new chunk is added whenever fewer than ``low_water``
    requests are in flight (a chunk's size keeps the engine's queue about one chunk deep).
    ``chunks`` may yield an empty chunk for "nothing yet" (asked again before the next
    step: a Ray replica's batches arrive while others run); ``prior`` is read for each
    chunk's entities as it joins, and not changed. The same prompts, schema, validation
    and retry sampling as :func:`generate_round`; ``on_answer(1)`` for each first answer."""
    given, prior = prior, {}
    retried = retry_sampling(sampling, retry_temperature)
    source = iter(chunks)
    owner: dict[int, _Chunk] = {}
    messages: dict[int, list[dict[str, str]]] = {}
    clock = [time.perf_counter()]

    def request(idx: int) -> Request:
        attempt = prior.get(idx, 0)
        return Request(idx, messages[idx], retried if attempt else sampling, attempt)

    def settle(chunk: _Chunk, idx: int | None = None) -> None:
        chunk.pending.discard(idx)
        if not chunk.pending:
            now = time.perf_counter()  # the engine time since the last chunk settled
            chunk.got.llm_s, clock[0] = now - clock[0], now
            on_chunk(chunk.keys, chunk.got)

    def more(n_flying: int) -> list[Request]:
        # the next chunk once fewer than ``low_water`` requests are in flight
        while n_flying < low_water:
            prompts = next(source, None)
            if not prompts:  # the end, or nothing yet
                return []
            prior.update((i, given[i]) for i in prompts if given.get(i))
            chunk = _Chunk(list(prompts), set(prompts))
            messages.update(prompts)
            first = {i: m for i, m in prompts.items() if prior.get(i, 0) == 0}
            fits = set(_drop_too_long(engine, first, entity, sampling, prior, max_attempts,
                                      chunk.got))
            go = [i for i in prompts if (i in fits or i not in first)
                  and prior.get(i, 0) < max_attempts]
            owner.update((i, chunk) for i in go)
            chunk.pending = set(go)
            if not go:
                settle(chunk)
                continue
            return [request(i) for i in go]
        return []

    def done(req: Request, completion: Completion) -> list[Request]:
        idx, chunk = req.key, owner[req.key]
        if on_answer and req.seed_offset == 0:
            on_answer(1)
        if not record(chunk.got, idx, prior.get(idx, 0) + 1, completion, schema, entity):
            prior[idx] = prior.get(idx, 0) + 1
            if prior[idx] < max_attempts:
                return [request(idx)]
        del owner[idx]
        settle(chunk, idx)
        return []

    engine.stream(schema, more, done)
