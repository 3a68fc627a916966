"""One chunk of a job through an engine: prompts in, validated answers and rejected attempts
out. The same function runs in the local backend (in the workbench's process) and inside
each Ray replica, so prompts, schemas, validation and retries are the same everywhere.

An answer that is not valid JSON for the schema is rejected (raw text and reason kept) and
retried, ``max_attempts`` in all; retries sample at ``retry_temperature`` with a new seed,
since a greedy retry would repeat itself. A prompt that cannot fit the context is rejected
once, for good.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from workbench.augment.engine import SamplingSettings


@dataclass
class Generated:
    """What a chunk produced: accepted (entity_idx, answer), rejected attempts, tokens."""

    accepted: list[tuple[int, BaseModel]] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # rows of rejected_outputs, no job_id
    prompt_tokens: dict[int, int] = field(default_factory=dict)  # per entity, all attempts
    output_tokens: dict[int, int] = field(default_factory=dict)
    llm_s: float = 0.0


def parse_answer(text: str, schema: type[BaseModel]) -> tuple[BaseModel | None, str | None]:
    """The validated answer, or None and the reason it was rejected."""
    try:
        return schema.model_validate_json(text), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "answer"
        return None, f"{first['type']} at {where}: {first['msg']}"[:500]


def generate(engine: Any, prompts: dict[int, list[dict[str, str]]], schema: type[BaseModel],
             entity: str, sampling: SamplingSettings, prior: dict[int, int],
             max_attempts: int, retry_temperature: float,
             released: Callable[[], AbstractContextManager] = nullcontext,
             on_answer: Callable[[int], None] | None = None) -> Generated:
    """Answers for ``prompts`` (entity_idx -> messages); ``prior`` counts each entity's
    earlier rejected attempts; ``released`` wraps each engine call (the local backend gives
    the store's lock up meanwhile); ``on_answer(n)`` hears of each first answer as it comes
    (retries are not counted again)."""
    prior = dict(prior)
    out = Generated()
    waiting = _drop_too_long(engine, prompts, entity, sampling, prior, max_attempts, out)
    for attempt in range(1, max_attempts + 1):
        waiting = [i for i in waiting if prior.get(i, 0) < max_attempts]
        if not waiting:
            break
        params = sampling if attempt == 1 else sampling.model_copy(
            update={"temperature": max(sampling.temperature, retry_temperature)})
        start = time.perf_counter()
        with released():
            live = {"on_answer": on_answer} if on_answer and attempt == 1 else {}
            completions = engine.chat([prompts[i] for i in waiting], params, schema,
                                      seed_offset=attempt - 1, **live)
        out.llm_s += time.perf_counter() - start
        retry = []
        for idx, completion in zip(waiting, completions):
            out.prompt_tokens[idx] = out.prompt_tokens.get(idx, 0) + completion.n_prompt_tokens
            out.output_tokens[idx] = out.output_tokens.get(idx, 0) + completion.n_output_tokens
            answer, reason = parse_answer(completion.text, schema)
            if answer is not None:
                out.accepted.append((idx, answer))
                continue
            prior[idx] = prior.get(idx, 0) + 1
            out.rejected.append({"entity": entity, "entity_idx": idx, "attempt": prior[idx],
                                 "raw_text": completion.text, "reason": reason})
            retry.append(idx)
        waiting = retry
    return out


def _drop_too_long(engine: Any, prompts: dict[int, list[dict[str, str]]], entity: str,
                   sampling: SamplingSettings, prior: dict[int, int], max_attempts: int,
                   out: Generated) -> list[int]:
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
