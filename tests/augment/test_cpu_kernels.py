"""vLLM's compiled CPU RMSNorm kernels as IR-op providers: the same values as vLLM's own
PyTorch fallback, and the engine's settings that turn them (and the CPU block size) on."""

import pytest
import torch

from workbench.augment import cpu_kernels
from workbench.augment.engine import CPU_BLOCK_SIZE, EngineSettings, LLMEngine

pytest.importorskip("vllm")


@pytest.fixture(scope="module")
def ops():
    if not cpu_kernels.register():
        pytest.fail("the CPU kernels did not register with this vLLM")
    from vllm import ir

    return ir.ops


def test_rms_norm_matches_the_native_one(ops):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 576, generator=g).bfloat16()
    w = torch.randn(576, generator=g).bfloat16()
    ours = ops.rms_norm.impls[cpu_kernels.PROVIDER].impl_fn(x, w, 1e-5)
    native = ops.rms_norm.impls["native"].impl_fn(x, w, 1e-5)
    # within one bfloat16 rounding step of the value
    assert torch.allclose(ours.float(), native.float(), rtol=2 ** -7, atol=1e-2)


def test_fused_add_rms_norm_matches_the_native_one_in_place(ops):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 576, generator=g).bfloat16()
    residual = torch.randn(5, 576, generator=g).bfloat16()
    w = torch.randn(576, generator=g).bfloat16()
    out, res = ops.fused_add_rms_norm.impls["native"].impl_fn(x.clone(), residual.clone(), w,
                                                              1e-5)
    x2, r2 = x.clone(), residual.clone()
    got = ops.fused_add_rms_norm.impls[cpu_kernels.PROVIDER].impl_fn(x2, r2, w, 1e-5)
    assert got[0] is x2 and got[1] is r2  # in place, as registered
    assert torch.equal(r2, res)
    assert torch.allclose(x2.float(), out.float(), rtol=2 ** -7, atol=1e-2)


def test_only_plain_arguments_take_the_kernels(ops):
    impl = ops.rms_norm.impls[cpu_kernels.PROVIDER]
    x = torch.randn(4, 64).bfloat16()
    assert impl.supports_args(x, torch.ones(64).bfloat16(), 1e-5)
    assert not impl.supports_args(x, torch.ones(64), 1e-5)  # weight in another dtype
    assert not impl.supports_args(x.T, torch.ones(4).bfloat16(), 1e-5)  # not contiguous
    assert not impl.supports_args(x, torch.ones(64).bfloat16(), 1e-5, 32)  # variance size


def test_engine_settings_on_cpu(tiny_model):
    kwargs = LLMEngine(EngineSettings(model=str(tiny_model)), str(tiny_model)).llm_kwargs()
    assert kwargs["block_size"] == CPU_BLOCK_SIZE and "max_num_seqs" not in kwargs
    assert kwargs["kernel_config"]["ir_op_priority"]["rms_norm"] == [cpu_kernels.PROVIDER]
    plain = LLMEngine(EngineSettings(model=str(tiny_model), cpu_kernels=False, block_size=64,
                                     max_num_seqs=8), str(tiny_model)).llm_kwargs()
    assert "kernel_config" not in plain and plain["block_size"] == 64
    assert plain["max_num_seqs"] == 8
