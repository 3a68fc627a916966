"""Benchmark: the item-attribute job on the local backend and on Ray (1 and 2 replicas), in
one run, each as a user runs it (`workbench augment item-attributes`, a fresh process and a
fresh copy of the same store), on the first N MovieLens-100K items.

Printed per run: wall seconds end to end (engine or Ray start included), valid answers,
output tokens and output tokens per second end to end; then, per backend, the median wall
time of ``--repeats`` rounds (each round runs every backend once, so that a drift of the
machine hits all of them) with its range, and the overhead against the local backend's
median. One run of the 1,000-item job varies by about +-3 s here, hence the rounds.
On a 2-core machine two replicas share the same two cores (one each), so they cannot be
faster than the local engine; on a cluster each replica has its own GPUs (docs/scaling.md).

    python bench/bench_ray.py [--n 1000] [--replicas 1,2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of every backend, alternating; medians are compared")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    base = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    seed = base / "seed"
    workbench = str(Path(sys.executable).parent / "workbench")
    env = {**os.environ, "WORKBENCH_HOME": str(seed)}
    for command in (["ingest"], ["model", "prepare"]):
        subprocess.run([workbench, *command], env=env, check=True, capture_output=True)
    configs = [("local", [])] + [(f"ray x{r}", ["--backend", "ray", "--replicas", r])
                                 for r in args.replicas.split(",")]
    walls: dict[str, list[float]] = {name: [] for name, _ in configs}
    for repeat in range(args.repeats):
        for name, extra in configs:
            home = base / name.replace(" ", "-")
            shutil.rmtree(home, ignore_errors=True)
            shutil.copytree(seed, home)  # the same store, nothing done yet, every run
            r = run(home, args.n, extra)
            walls[name].append(r["wall_s"])
            print(f"round {repeat + 1} {name:9} {r['wall_s']:7.1f} s  {r['done']:5d}/{args.n} "
                  f"valid  {r['tokens']:7,d} tokens  {r['tok_s']:6.1f} tok/s end to end",
                  flush=True)
    local = statistics.median(walls["local"])
    print(f"\n{args.n} items, {os.cpu_count()} cores, median wall of {args.repeats} round(s) "
          "(range); overhead = median wall / local median wall - 1:")
    for name, runs in walls.items():
        median = statistics.median(runs)
        print(f"  {name:9} {median:7.1f} s ({min(runs):.1f}-{max(runs):.1f})" + (
            "" if name == "local" else f"  overhead {median / local - 1:+.1%}"))
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
