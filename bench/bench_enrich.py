"""Benchmark: the item-attribute job three ways on the same prompts, in one run.

  ours  `JobRunner` + `ItemAttributesJob` end to end: prompts, vLLM with the JSON schema,
        validation, DuckDB writes in chunks
  raw   `vllm.LLM.chat` on the same prompts and sampling (schema-constrained), nothing else
  hf    HF transformers `generate`, batched, greedy, unconstrained (it has no schema support),
        in bfloat16 and in float32, each in a clean process (no vLLM environment, the same
        thread count as vLLM); the faster of the two is the baseline of the ratio

Model: the prepared default (SmolLM2-135M-Instruct; `workbench model prepare`), or
`WORKBENCH_LLM_MODEL`. Output tokens per second and ratios are printed.

    python bench/bench_enrich.py [--n 64] [--repeats 5] [--max-tokens 96] [--chunk-size 256]
                                 [--hf-n 64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbench.augment.attributes import ItemAttributesJob
from workbench.augment.engine import EngineSettings, LLMEngine, SamplingSettings, resolve_model
from workbench.augment.jobs import JobRunner
from workbench.augment.prepare import prepare_default_model
from workbench.graph.ingest import IngestOptions, ingest
from workbench.store import Store
from workbench.settings import get_settings


def run_hf(model_path: str, conversations: list, max_tokens: int, dtype: str,
           threads: int) -> tuple[int, float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_path,
                                                 dtype=getattr(torch, dtype)).eval()
    texts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
             for c in conversations]
    batch = tok(texts, return_tensors="pt", padding=True)
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=max_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id or tok.eos_token_id)
    seconds = time.perf_counter() - start
    new = out[:, batch["input_ids"].shape[1]:]
    eos = tok.eos_token_id
    n_tokens = int(sum(int((row != eos).cumprod(0).sum()) + (1 if (row == eos).any() else 0)
                       for row in new))
    return n_tokens, seconds


def run_in_subprocess(model_path: str, conversations: list, max_tokens: int, dtype: str
                      ) -> tuple[int, float]:
    """HF in a clean process: none of the OpenMP pinning or vLLM variables of this one, and
    the same number of threads as vLLM uses (every core)."""
    threads = os.cpu_count() or 1
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VLLM_", "OMP_", "KMP_", "GOMP_", "MKL_"))}
    env["OMP_NUM_THREADS"] = str(threads)
    code = ("import json, sys; from bench_enrich import run_hf; "
            "a = json.load(sys.stdin); print(json.dumps(run_hf(*a)))")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(
        [model_path, conversations, max_tokens, dtype, threads]), capture_output=True,
        text=True, check=True, cwd=Path(__file__).parent, env=env)
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=5, help=(
        "runs of raw vLLM and of our job, alternating; medians are compared (a 64-prompt "
        "run takes ~4 s and varies by 10%% from run to run)"))
    parser.add_argument("--chunk-size", type=int, default=256,
                        help="our job's chunk (its default); prompts per commit")
    parser.add_argument("--hf-n", type=int, default=64, help=(
        "prompts for HF generate, one padded batch (its tok/s does not grow with more "
        "prompts: it has no continuous batching)"))
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    settings = EngineSettings()
    if settings.model == "smollm2-135m-instruct":
        prepare_default_model(get_settings().models_dir)
    model_path = resolve_model(settings.model, get_settings().models_dir)
    engine = LLMEngine(settings, model_path)
    sampling = SamplingSettings(max_tokens=args.max_tokens)
    raws, ours, valid = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        with Store.open(Path(tmp) / "seed.duckdb") as store:
            info = ingest(store, IngestOptions(), Path(tmp))
            job = ItemAttributesJob("movie")
            conversations = [w.messages for w in job.work_items(store, info)[: args.n]]
        # load and warm up on every batch size the runs will see (the first batch of each
        # size is slower: oneDNN builds its kernels), so that neither side runs cold
        engine.chat(conversations[: min(args.n, 256)], sampling, job.schema)
        for repeat in range(args.repeats):  # alternating, so that drift hits both sides
            engine.llm.reset_prefix_cache()  # each side computes its prompts itself
            start = time.perf_counter()
            raw = engine.llm.chat(conversations,
                                  engine.sampling_params(sampling, job.schema), use_tqdm=False)
            raws.append(sum(len(o.outputs[0].token_ids) for o in raw)
                        / (time.perf_counter() - start))
            with Store.open(Path(tmp) / f"job{repeat}.duckdb") as store:  # a new job each
                info = ingest(store, IngestOptions(), Path(tmp))
                runner = JobRunner(store, engine, sampling, settings.model,
                                   chunk_size=args.chunk_size, max_attempts=1)
                engine.llm.reset_prefix_cache()
                start = time.perf_counter()
                report = runner.run(job, info, limit=args.n)
                ours.append(report.output_tokens / (time.perf_counter() - start))
                valid.append(report.n_done)
    rates = {"ours (job, end to end)": statistics.median(ours),
             "raw vllm.LLM.chat": statistics.median(raws)}
    spread = {"ours (job, end to end)": ours, "raw vllm.LLM.chat": raws}
    for dtype in ("bfloat16", "float32"):
        hf_tokens, hf_s = run_in_subprocess(model_path, conversations[: args.hf_n],
                                            args.max_tokens, dtype)
        rates[f"HF generate ({dtype})"] = hf_tokens / hf_s
    best_hf = max(rates["HF generate (bfloat16)"], rates["HF generate (float32)"])
    print(f"item attributes, {args.n} prompts (HF: {min(args.hf_n, args.n)}), max "
          f"{args.max_tokens} tokens, greedy, model {settings.model}, vLLM {engine.version}")
    for name, rate in rates.items():
        runs = spread.get(name)
        print(f"  {name:26} {rate:8.0f} tok/s" + (
            f"  (median of {len(runs)}: {min(runs):.0f}-{max(runs):.0f})" if runs else ""))
    print(f"  valid JSON in our job: {min(valid)}/{args.n} (the worst of {len(valid)} runs)")
    print(f"ours / raw vLLM: {rates['ours (job, end to end)'] / rates['raw vllm.LLM.chat']:.2f}; "
          f"ours / the faster HF generate: {rates['ours (job, end to end)'] / best_hf:.2f}x")


if __name__ == "__main__":
    main()
