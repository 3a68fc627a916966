"""Benchmark: the item-attribute job on the local backend and on Ray (1 and 2 replicas), in
one run, each as a user runs it (`workbench augment item-attributes`, a fresh process and a
fresh copy of the same store), on the first N MovieLens-100K items.

Printed per backend: wall seconds end to end (engine or Ray start included), valid answers,
output tokens, output tokens per second end to end, and the ratio to the local backend.
On a 2-core machine two replicas share the same two cores (one each), so they cannot be
faster than the local engine; on a cluster each replica has its own GPUs (docs/scaling.md).

    python bench/bench_ray.py [--n 1000] [--replicas 1,2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb


def run(home: Path, n: int, extra: list[str]) -> dict:
    workbench = str(Path(sys.executable).parent / "workbench")
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    start = time.perf_counter()
    done = subprocess.run([workbench, "augment", "item-attributes", "--limit", str(n), *extra],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    con = duckdb.connect(str(home / "workbench.duckdb"), read_only=True)
    n_done, n_rejected, tokens = con.execute(
        "SELECT n_done, n_rejected, n_output_tokens FROM jobs").fetchone()
    con.close()
    return {"wall_s": wall, "done": n_done, "rejected": n_rejected, "tokens": tokens,
            "tok_s": tokens / wall}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--replicas", default="1,2")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    seed = base / "seed"
    workbench = str(Path(sys.executable).parent / "workbench")
    env = {**os.environ, "WORKBENCH_HOME": str(seed)}
    for command in (["ingest"], ["model", "prepare"]):
        subprocess.run([workbench, *command], env=env, check=True, capture_output=True)
    configs = [("local", [])] + [(f"ray x{r}", ["--backend", "ray", "--replicas", r])
                                 for r in args.replicas.split(",")]
    results = {}
    for name, extra in configs:
        home = base / name.replace(" ", "-")
        shutil.copytree(seed, home)
        results[name] = run(home, args.n, extra)
        r = results[name]
        print(f"{name:9} {r['wall_s']:7.1f} s  {r['done']:5d}/{args.n} valid  "
              f"{r['tokens']:7,d} tokens  {r['tok_s']:6.1f} tok/s end to end", flush=True)
    local = results["local"]
    print(f"\n{args.n} items, {os.cpu_count()} cores; ratios to the local backend "
          "(tok/s end to end; overhead = wall / local wall - 1):")
    for name, r in results.items():
        if name != "local":
            print(f"  {name}: {r['tok_s'] / local['tok_s']:.2f}x tok/s, overhead "
                  f"{r['wall_s'] / local['wall_s'] - 1:+.1%}")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
