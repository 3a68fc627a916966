"""Benchmark: ingest of Gowalla (LightGCN split, 1.03M interactions) into a fresh store.

Side by side in one run, each in its own process (wall time and peak RSS):
  ours       `graph.ingest.ingest` end to end: parse (polars), check, index, write (Arrow).
  reference  the way the LightGCN/NGCF reference code loads train.txt/test.txt: a Python
             loop over lines building id lists (parse only; it writes nothing).

    python bench/bench_ingest.py [--data ../shared/data/gowalla]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT = Path(os.environ.get("WORKBENCH_SHARED_DATA",
                              Path(__file__).resolve().parents[2] / "shared" / "data")) / "gowalla"

OURS = """
import json, resource, sys, time
from pathlib import Path
from workbench.graph.ingest import IngestOptions, ingest
from workbench.store import Store
data, db = Path(sys.argv[1]), Path(sys.argv[2])
t = time.perf_counter()
with Store.open(db) as store:
    info = ingest(store, IngestOptions(path=data), db.parent)
print(json.dumps({"s": time.perf_counter() - t, "n": info.n_interactions,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

REFERENCE = """
import json, resource, sys, time
from pathlib import Path
data = Path(sys.argv[1])
t = time.perf_counter()
users, items, n = [], [], 0
for name in ("train.txt", "test.txt"):
    with open(data / name) as fh:
        for line in fh:
            ids = [int(x) for x in line.strip().split(" ")]
            users.extend([ids[0]] * (len(ids) - 1))
            items.extend(ids[1:])
print(json.dumps({"s": time.perf_counter() - t, "n": len(items),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    args = parser.parse_args()
    if not (args.data / "train.txt").exists():
        sys.exit(f"no Gowalla split at {args.data} (pass --data)")
    with tempfile.TemporaryDirectory() as tmp:
        ours = run(OURS, str(args.data), str(Path(tmp) / "bench.duckdb"))
    ref = run(REFERENCE, str(args.data))
    print(f"Gowalla ingest, {ours['n']:,} interactions")
    print(f"{'':34}{'seconds':>10}{'peak RSS MB':>14}")
    print(f"{'ours (parse+check+index+write)':34}{ours['s']:>10.2f}{ours['rss_mb']:>14.0f}")
    print(f"{'reference Python loop (parse)':34}{ref['s']:>10.2f}{ref['rss_mb']:>14.0f}")
    print(f"ratio reference/ours (time): {ref['s'] / ours['s']:.2f}x")


if __name__ == "__main__":
    main()
