"""The word-wise grammar bitmask: the same logits as xgrammar's kernel and vLLM's own
``apply_grammar_bitmask``, for every shape of vocabulary and batch, and in place in vLLM's
model runner once an engine is built on CPU."""

import warnings
from types import SimpleNamespace

import pytest
import torch

from workbench.augment import cpu_bitmask

xgr = pytest.importorskip("xgrammar")
pytest.importorskip("vllm")


def random_bitmask(rows: int, words: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mask = torch.randint(-2 ** 31, 2 ** 31 - 1, (rows, words), dtype=torch.int32, generator=g)
    kind = torch.randint(0, 3, (rows, words), generator=g)  # as in a job: whole words mostly
    mask[kind == 0] = 0
    mask[kind == 1] = -1
    return mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows", [1, 6])
@pytest.mark.parametrize("vocab,words", [(256, 8), (100, 4), (96, 3), (130, 4), (70, 2)])
def test_the_same_logits_as_xgrammars_kernel(dtype, rows, vocab, words):
    mask = random_bitmask(rows, words, seed=vocab)
    logits = torch.randn(rows, vocab, generator=torch.Generator().manual_seed(1)).to(dtype)
    expected = logits.float()
    with warnings.catch_warnings():  # xgrammar warns of logits wider than the mask
        warnings.simplefilter("ignore")
        xgr.apply_token_bitmask_inplace(expected, mask)
    got = logits.clone()
    cpu_bitmask.apply_token_bitmask_(got, mask)
    assert torch.equal(got, expected.to(dtype))
    assert got.isinf().any() and not got.isinf().all()


def test_a_strided_view_is_masked_in_place():
    mask = random_bitmask(4, 4, seed=3)
    base = torch.randn(4, 200)
    expected = base[:, :128].clone()
    xgr.apply_token_bitmask_inplace(expected, mask)
    cpu_bitmask.apply_token_bitmask_(base[:, :128], mask)
    assert torch.equal(base[:, :128], expected)


def test_requests_in_another_order_with_speculative_tokens_and_unconstrained_ones():
    """Four requests in the batch; the grammar covers b (2 speculative tokens), d and a, in
    its own order; c is unconstrained. Same logits as vLLM's own function."""
    from vllm.v1.structured_output.utils import apply_grammar_bitmask

    spec = {"b": [7, 8]}
    batch = SimpleNamespace(req_ids=["a", "b", "c", "d"])
    scheduled = SimpleNamespace(scheduled_spec_decode_tokens=spec)
    grammar = SimpleNamespace(structured_output_request_ids=["b", "d", "a"],
                              grammar_bitmask=random_bitmask(5, 8, seed=4).numpy())
    logits = torch.randn(6, 256, generator=torch.Generator().manual_seed(5))  # a, b x3, c, d
    expected, got = logits.clone(), logits.clone()
    apply_grammar_bitmask(scheduled, grammar, batch, expected)
    cpu_bitmask.apply_grammar_bitmask(scheduled, grammar, batch, got)
    assert torch.equal(got, expected)
    assert torch.equal(got[4], logits[4])  # c untouched


def test_installed_in_the_model_runner_by_a_cpu_engine(tiny_engine):
    from vllm.v1.worker import gpu_model_runner

    tiny_engine.llm  # noqa: B018 - built on first use
    assert cpu_bitmask.install()
    assert gpu_model_runner.apply_grammar_bitmask.__qualname__.startswith("install.")

