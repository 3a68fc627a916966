"""The structured-output token mask on CPU, applied word by word instead of bit by bit.

At every decoding step vLLM masks each constrained request's logits with its grammar's
bitmask (one bit per vocabulary token, 32 to an ``int32`` word: bit ``t % 32`` of word
``t // 32`` set means token ``t`` may come next). vLLM 0.32 does it on CPU with xgrammar's
kernel, which reads one bit per token, after copying bfloat16 logits to float32 and back:
measured on 2 cores with SmolLM2's 49,152-token vocabulary, 10 ms per step at 64 requests
and 48 ms at 256, a fifth to a quarter of a decoding step.

Most words are all zeros (no token of the 32 allowed: 58% of the words of an item-attribute
job) or all ones (33%). Here whole words are filled at once, only the mixed ones (9%) are
expanded to bits, through a 256-entry table of bytes, and the logits stay in their dtype:
1.2 ms at 64 requests, 4 ms at 256, the same logits to the bit (tests/augment/
test_cpu_bitmask.py). :func:`install` puts it in vLLM's model runner for CPU logits; GPU
logits keep vLLM's own kernel.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)
_installed: bool | None = None
# _DISALLOWED[byte] is which of that byte's 8 tokens are masked (bit j clear: token j)
_DISALLOWED = ((torch.arange(256).unsqueeze(-1) >> torch.arange(8)) & 1) == 0


def apply_token_bitmask_(logits: Tensor, bitmask: Tensor) -> None:
    """Set ``logits[i, t]`` to -inf wherever bit ``t % 32`` of ``bitmask[i, t // 32]`` is
    clear, in place. ``logits``: (rows, vocab), any float dtype; ``bitmask``: (rows, words)
    ``int32``. Tokens past ``32 * words`` are left alone (as xgrammar's kernel does)."""
    vocab = logits.shape[1]
    whole = min(bitmask.shape[1], vocab // 32)  # words whose 32 tokens are all in logits
    if whole:
        body = logits[:, : whole * 32]
        copied = not body.is_contiguous()  # a vocabulary not a multiple of 32, or a view
        if copied:
            body = body.contiguous()
        words = body.view(-1, 32)  # word i of the flattened mask is row i here
        mask = bitmask[:, :whole].reshape(-1)
        words.index_fill_(0, (mask == 0).nonzero().squeeze(1), float("-inf"))
        mixed = ((mask != 0) & (mask != -1)).nonzero().squeeze(1)
        if mixed.numel():
            sub = words.index_select(0, mixed)
            sub.masked_fill_(_bits_clear(mask[mixed]), float("-inf"))
            words.index_copy_(0, mixed, sub)
        if copied:
            logits[:, : whole * 32] = body
    if whole < bitmask.shape[1] and whole * 32 < vocab:  # a last word cut by the vocabulary
        tail = logits[:, whole * 32:min(vocab, bitmask.shape[1] * 32)]
        tail.masked_fill_(_bits_clear(bitmask[:, whole])[:, : tail.shape[1]], float("-inf"))


def _bits_clear(words: Tensor) -> Tensor:
    """(n,) int32 words -> (n, 32) bools: which of each word's tokens are masked."""
    if sys.byteorder == "little":  # byte k of a word holds its tokens 8k..8k+7
        dense = words.clone(memory_format=torch.contiguous_format)  # stride 1, even for one
        return _DISALLOWED[dense.view(torch.uint8).long()].view(-1, 32)
    shifts = torch.arange(32, dtype=torch.int32)
    return ((words.unsqueeze(-1) >> shifts) & 1) == 0


def apply_grammar_bitmask(scheduler_output: Any, grammar_output: Any, input_batch: Any,
                          logits: Tensor) -> None:
    """vLLM's ``apply_grammar_bitmask`` (same arguments) for CPU logits: the grammar's rows
    (one per constrained request, plus one per speculative token) go to their requests'
    rows of the batch's logits; unconstrained rows are left alone."""
    spec = scheduler_output.scheduled_spec_decode_tokens
    row_of: dict[str, int] = {}  # a request's first logits row
    extra = 0
    for i, req in enumerate(input_batch.req_ids):
        row_of[req] = i + extra
        extra += len(spec.get(req, ()))
    src: list[int] = []  # bitmask rows ...
    dst: list[int] = []  # ... and the logits rows they mask
    k = 0
    for req in grammar_output.structured_output_request_ids:
        n = 1 + len(spec.get(req, ()))
        if (row := row_of.get(req)) is not None:
            src.extend(range(k, k + n))
            dst.extend(range(row, row + n))
        k += n
    if not dst:
        return
    bitmask = torch.from_numpy(grammar_output.grammar_bitmask)
    if src != dst or len(dst) != logits.shape[0]:  # in the batch's order; -1: all allowed
        ordered = torch.full((logits.shape[0], bitmask.shape[1]), -1, dtype=bitmask.dtype)
        ordered[dst] = bitmask[src]
        bitmask = ordered
    apply_token_bitmask_(logits, bitmask)


def install() -> bool:
    """Use :func:`apply_grammar_bitmask` for CPU logits in vLLM's model runner (once per
    process); whether it is in place. Another vLLM without that function keeps its own."""
    global _installed
    if _installed is None:
        try:
            from vllm.v1.worker import gpu_model_runner as runner

            original = runner.apply_grammar_bitmask
            if getattr(original, "__module__", "") != "vllm.v1.structured_output.utils":
                raise RuntimeError(f"unexpected apply_grammar_bitmask: {original!r}")

            def dispatch(scheduler_output: Any, grammar_output: Any, input_batch: Any,
                         logits: Tensor) -> None:
                if logits.is_cpu:
                    apply_grammar_bitmask(scheduler_output, grammar_output, input_batch, logits)
                else:
                    original(scheduler_output, grammar_output, input_batch, logits)

            runner.apply_grammar_bitmask = dispatch
            _installed = True
        except Exception as exc:  # noqa: BLE001 - any other vLLM keeps its own
            log.info("word-wise grammar bitmask not used: %s", exc)
            _installed = False
    return _installed
