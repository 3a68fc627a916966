"""The LLM engine: a thin wrapper over one ``vllm.LLM``: settings in, batched chat out.

    engine = LLMEngine(EngineSettings(model="/path/to/hf-dir"))
    outs = engine.chat(list_of_message_lists, SamplingSettings(), schema=MovieAttributes)

Structured output uses vLLM's ``StructuredOutputsParams(json=schema)``. On a CPU machine the
engine runs in-process with the settings measured best on our 2-core machines (see
``../shared/notes/vllm-on-cpu.md``); on a GPU the same code runs with ``vllm`` and, for large
models, ``tensor_parallel_size``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from workbench import logs
from workbench.augment import cpu_kernels
from workbench.augment.schemas import grammar_schema
from workbench.errors import ConfigError, validation_message

DEFAULT_MODEL = "smollm2-135m-instruct"  # prepared by `workbench model prepare`

CPU_BLOCK_SIZE = 32  # the CPU attention backend takes multiples of 32
CPU_ENV = {
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",  # engine in-process: starts in seconds
    "VLLM_CPU_KVCACHE_SPACE": "2",  # GiB of KV cache
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",  # the default leaves one of two cores idle
    # compiled mode (enforce_eager off): vLLM 0.32's AOT compile cache fails to load with
    # torch 2.13 ("'function' object has no attribute 'finalize_loading'") and compiles
    # again at every start (60-80 s); its dynamo + inductor cache loads (about 15 s)
    "VLLM_USE_AOT_COMPILE": "0",
}


class EngineSettings(BaseSettings):
    """Which model and how to run it. Environment: ``WORKBENCH_LLM_*``."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_LLM_", extra="ignore")

    model: str = Field(DEFAULT_MODEL, description=(
        "a local HF model folder, the name of a prepared model under $WORKBENCH_HOME/models, "
        "or (on a machine with hub access, by your choice) a hub id"))
    dtype: str = Field("bfloat16", description="weights/activations dtype")
    max_model_len: int = Field(2048, ge=16, description="prompt + output tokens per request")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs per model replica")
    max_num_seqs: int | None = Field(None, ge=1, description=(
        "sequences batched at once; unset: vLLM's default for the device (256 on CPU, 1,024 "
        "on GPU)"))
    block_size: int | None = Field(None, ge=1, description=(
        "KV-cache block in tokens; unset: 32 on CPU (vLLM's CPU default, 128, is longer than "
        "a job's shared prompt prefix, so prefix caching never hit), vLLM's default on GPU"))
    cpu_kernels: bool = Field(True, description=(
        "on CPU, vLLM's compiled RMSNorm kernels instead of its PyTorch fallback, and the "
        "grammar's token mask applied word by word instead of bit by bit (see "
        "workbench.augment.cpu_kernels and cpu_bitmask)"))
    enforce_eager: bool = Field(
        True, description=(
            "skip torch.compile; off, on CPU: 10-20% faster decoding for about 15 s more at "
            "each start once compiled (the first start compiles for 1-1.5 min)"))
    gpu_memory_utilization: float = Field(0.85, gt=0.0, le=1.0, description="GPU only")
    seed: int = Field(0, description="engine seed")


class SamplingSettings(BaseModel):
    """Sampling parameters; recorded with every job."""

    temperature: float = Field(0.0, ge=0.0, description="0: greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling mass")
    max_tokens: int = Field(160, ge=1, description="per answer")
    seed: int = Field(0, description="sampling seed (GPU; on CPU the engine seed)")


def engine_settings(**given: Any) -> EngineSettings:
    """The environment's engine settings (``WORKBENCH_LLM_*``) with ``given`` on top; invalid
    ones are one :class:`ConfigError` naming each, before any engine starts."""
    try:
        return EngineSettings(**given)
    except ValidationError as exc:
        raise ConfigError(f"invalid LLM engine settings (WORKBENCH_LLM_*): "
                          f"{validation_message(exc)}") from None


@dataclass
class Request:
    """One request of :meth:`LLMEngine.stream`: ``key`` is the caller's (an entity)."""

    key: int
    messages: list[dict[str, str]]
    sampling: SamplingSettings
    seed_offset: int = 0


@dataclass
class Completion:
    text: str
    n_prompt_tokens: int
    n_output_tokens: int
    finish_reason: str | None

    @classmethod
    def of(cls, output: Any) -> Completion:
        """From a vLLM ``RequestOutput`` (its first sequence)."""
        first = output.outputs[0]
        return cls(first.text, len(output.prompt_token_ids or []), len(first.token_ids),
                   first.finish_reason)


def resolve_model(model: str, models_dir: Path) -> str:
    """A prepared name -> its folder; a path stays a path; anything else is a hub id."""
    prepared = models_dir / model
    if prepared.is_dir():
        return str(prepared)
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser().resolve())
    if model == DEFAULT_MODEL:
        raise FileNotFoundError(f"the default model is not prepared in {models_dir}: run "
                                "`workbench model prepare`")
    if "/" not in model:
        raise FileNotFoundError(f"model {model!r} is neither a folder nor a prepared model "
                                f"in {models_dir}")
    return model  # a hub id: the user named it


def vllm_version() -> str:
    """vLLM's version: the module's own once it is imported, else the metadata of the
    package that installs it (``vllm`` on GPUs, ``vllm-cpu`` here), read by name: listing
    every installed package to find the module's owner took 0.3-0.5 s per job."""
    if (module := sys.modules.get("vllm")) is not None and hasattr(module, "__version__"):
        return module.__version__
    from importlib import metadata

    for name in ("vllm", "vllm-cpu"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    import vllm

    return vllm.__version__


def _on_cpu() -> bool:
    try:
        import torch

        return not torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return True


@contextmanager
def _modules_hidden_from_vllm_kernel_scan() -> Iterator[None]:
    """Work around a vLLM 0.32 start-up crash when numba/llvmlite is already imported.

    At start vLLM scans every module in ``sys.modules`` and calls ``vars(value).get`` on each
    attribute; ``llvmlite.binding.ffi.lib`` has a ``__dict__`` that is not a dict, so the
    scan raises ``AttributeError: '_lib_fn_wrapper' object has no attribute 'get'``.
    torch-geometric imports numba, so any process that trained a model first would crash.
    Modules with such attributes hold no Triton kernels; hiding them during the scan is safe.
    """
    with warnings.catch_warnings():  # probing attributes trips deprecation warnings
        warnings.simplefilter("ignore")
        hidden = _modules_with_odd_attributes()
    for name in hidden:
        sys.modules.pop(name, None)
    try:
        yield
    finally:
        sys.modules.update(hidden)


def _modules_with_odd_attributes() -> dict[str, Any]:
    found = {}
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for value in list(namespace.values()):
            try:
                broken = hasattr(value, "__dict__") and not isinstance(vars(value), Mapping)
            except Exception:  # noqa: BLE001 - anything odd here is what we are avoiding
                broken = True
            if broken:
                found[name] = module
                break
    return found


def answer_counter(on_answer: Callable[[int], None]) -> Callable[..., Any]:
    """What ``LLM.chat(use_tqdm=...)`` takes as a progress-bar factory: a silent stand-in that
    reports each finished request to ``on_answer`` (vLLM also wraps the conversations it
    renders in the factory: those pass through)."""

    class _Counter:
        def __init__(self, iterable: Any = None, total: int | None = None, **_: Any) -> None:
            self.iterable, self.total, self.n, self.postfix = iterable, total, 0, ""
            self.started = time.perf_counter()

        def __iter__(self) -> Iterator[Any]:
            return iter(self.iterable or ())

        @property
        def format_dict(self) -> dict[str, float]:
            return {"elapsed": max(time.perf_counter() - self.started, 1e-9)}

        def update(self, n: int = 1) -> None:
            self.n += n
            on_answer(n)

        def refresh(self) -> None:
            pass

        def close(self) -> None:
            pass

    return _Counter


class LLMEngine:
    """One vLLM engine, created on first use and reused for every batch."""

    def __init__(self, settings: EngineSettings, model_path: str) -> None:
        self.settings = settings
        self.model_path = model_path

    @cached_property
    def llm(self) -> Any:
        if _on_cpu():
            for key, value in CPU_ENV.items():
                os.environ.setdefault(key, value)
            if self.settings.cpu_kernels:
                from workbench.augment import cpu_bitmask  # imports torch: not before a load

                cpu_bitmask.install()  # in vLLM's model runner, which runs in this process
        from vllm import LLM

        started = time.perf_counter()
        with _modules_hidden_from_vllm_kernel_scan(), logs.native_output_to_log():
            llm = LLM(**self.llm_kwargs())
        self.load_s = time.perf_counter() - started
        return llm

    def llm_kwargs(self) -> dict[str, Any]:
        """What ``vllm.LLM`` is built with (settings left unset keep vLLM's defaults)."""
        s, cpu = self.settings, _on_cpu()
        kwargs: dict[str, Any] = dict(
            model=self.model_path, dtype=s.dtype, max_model_len=s.max_model_len,
            tensor_parallel_size=s.tensor_parallel_size, enforce_eager=s.enforce_eager,
            seed=s.seed,
            # Without this a weak model can loop on whitespace inside the JSON.
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        )
        if s.max_num_seqs is not None:
            kwargs["max_num_seqs"] = s.max_num_seqs
        block_size = s.block_size or (CPU_BLOCK_SIZE if cpu else None)
        if block_size is not None:
            kwargs["block_size"] = block_size
        if cpu and s.cpu_kernels and (config := cpu_kernels.kernel_config()):
            kwargs["kernel_config"] = config
        if not cpu:
            kwargs["gpu_memory_utilization"] = s.gpu_memory_utilization
        return kwargs

    @property
    def version(self) -> str:
        """vLLM's version: its module's own once imported, else the installed package's
        metadata (importing vLLM takes seconds, and a Ray driver never runs it)."""
        return vllm_version()

    def sampling_params(self, sampling: SamplingSettings, schema: type[BaseModel] | None,
                        seed_offset: int = 0) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = (StructuredOutputsParams(json=grammar_schema(schema))
                      if schema is not None else None)
        # Per-request seeds crash vLLM 0.32 on CPU when a seeded request's prefill is chunked
        # ("CPU Generator does not use offset"); there the engine seed alone seeds sampling.
        seed = None if _on_cpu() else sampling.seed + seed_offset
        return SamplingParams(temperature=sampling.temperature, top_p=sampling.top_p,
                              max_tokens=sampling.max_tokens, seed=seed,
                              structured_outputs=structured)

    def _params(self, built: dict[tuple, Any], sampling: SamplingSettings,
                schema: type[BaseModel] | None, seed_offset: int) -> Any:
        """``sampling_params``, built once per distinct setting into ``built``."""
        key = (sampling.model_dump_json(), seed_offset)
        if key not in built:
            built[key] = self.sampling_params(sampling, schema, seed_offset)
        return built[key]

    def chat(self, conversations: list[list[dict[str, str]]],
             sampling: SamplingSettings | Sequence[SamplingSettings],
             schema: type[BaseModel] | None = None, seed_offset: int | Sequence[int] = 0,
             on_answer: Callable[[int], None] | None = None) -> list[Completion]:
        """One batched ``llm.chat`` call; answers come back in input order. ``sampling`` and
        ``seed_offset`` are one for all, or one per conversation (first attempts and retries
        in one batch). ``on_answer(n)`` is called as each request finishes (vLLM finishes
        them out of order)."""
        if not conversations:
            return []
        n = len(conversations)
        samplings = [sampling] * n if isinstance(sampling, SamplingSettings) else list(sampling)
        offsets = [seed_offset] * n if isinstance(seed_offset, int) else list(seed_offset)
        built: dict[tuple, Any] = {}  # one SamplingParams per distinct setting
        params = [self._params(built, s, schema, o) for s, o in zip(samplings, offsets)]
        outputs = self.llm.chat(conversations, params[0] if len(built) == 1 else params,
                                use_tqdm=answer_counter(on_answer) if on_answer else False)
        return [Completion.of(o) for o in outputs]

    def stream(self, schema: type[BaseModel] | None,
               more: Callable[[int], Sequence[Request]],
               done: Callable[[Request, Completion], Sequence[Request]]) -> None:
        """Continuous batching across a whole job: before every engine step ``more(n)`` (n:
        requests in flight) may add requests, and each finished request goes to ``done``,
        whose returned requests (a retry) join the running batch at once. Returns when
        nothing is in flight and ``more`` adds nothing; requests still in flight when it
        raises are aborted."""
        llm = self.llm
        if not hasattr(llm, "enqueue_chat"):  # a vLLM before enqueue_chat
            self._stream_in_rounds(schema, more, done)
            return
        engine = llm.llm_engine
        built: dict[tuple, Any] = {}
        flying: dict[str, Request] = {}

        def add(requests: Sequence[Request]) -> None:
            if requests:
                params = [self._params(built, r.sampling, schema, r.seed_offset)
                          for r in requests]
                ids = llm.enqueue_chat([r.messages for r in requests], params, use_tqdm=False)
                # vLLM returns its internal ids ("<our id>-<random>"); outputs carry ours
                flying.update((rid.rsplit("-", 1)[0], r) for rid, r in zip(ids, requests))

        try:
            while True:
                add(more(len(flying)))
                if not flying:
                    return
                for out in engine.step():
                    if out.finished and out.request_id in flying:
                        add(done(flying.pop(out.request_id), Completion.of(out)))
        finally:
            if flying:
                engine.abort_request(list(flying), internal=False)

    def _stream_in_rounds(self, schema: type[BaseModel] | None,
                          more: Callable[[int], Sequence[Request]],
                          done: Callable[[Request, Completion], Sequence[Request]]) -> None:
        """:meth:`stream` as rounds of :meth:`chat`: what is queued runs as one call; the
        retries it returns and what ``more`` adds make the next."""
        queue = list(more(0))
        while queue:
            outs = self.chat([r.messages for r in queue], [r.sampling for r in queue], schema,
                             seed_offset=[r.seed_offset for r in queue])
            follow = [new for r, c in zip(queue, outs) for new in done(r, c)]
            queue = follow + list(more(len(follow)))

    @cached_property
    def tokenizer(self) -> Any:
        """The model's tokenizer: the running engine's own, else loaded without starting
        the engine (0.2 s and more that a job need not pay twice)."""
        if "llm" in self.__dict__:  # the engine is built
            return self.llm.get_tokenizer()
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.model_path)

    @cached_property
    def _fast_tokenizer(self) -> Any:
        """The model's fast tokenizer file (``tokenizer.json``) loaded alone, or None."""
        fast = Path(self.model_path) / "tokenizer.json"
        if not fast.is_file():
            return None
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(fast))

    def count_text_tokens(self, text: str) -> int:
        """Tokens of a plain text (an answer), without starting the engine: by the model's
        fast tokenizer file where it has one (loaded once, 0.1 s; transformers'
        AutoTokenizer takes seconds to import, which a Ray driver would pay for this count
        alone)."""
        if (fast := self._fast_tokenizer) is not None:
            return len(fast.encode(text, add_special_tokens=False))
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_tokens(self, conversations: list[list[dict[str, str]]]) -> list[int]:
        """Prompt token counts with the model's chat template."""
        texts = [self.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
                 for c in conversations]
        return [len(ids) for ids in
                self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
