"""Benchmark: LightGCN seconds per training epoch and per full evaluation on Gowalla.

Gowalla's LightGCN split (29,858 users, 40,981 items, 810,128 training interactions), paper
settings (64 dims, 3 layers, batch 2048). Times `--epochs` epochs and one full-ranking
evaluation of all test users (training items excluded). With `--with-recbole` RecBole's
LightGCN runs one epoch and one evaluation on the same files in the same run (about 3 minutes
more; needs `bash bench/setup_recbole.sh`).

    python bench/bench_gowalla.py [--data ../shared/data/gowalla] [--epochs 2] [--with-recbole]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path


from bench_lightgcn import export_benchmark_files, run_recbole
from workbench.graph.evaluate import evaluate
from workbench.graph.ingest import IngestOptions, ingest
from workbench.graph.sampling import NegativeSampler
from workbench.graph.splits import SplitConfig
from workbench.store import Store
from workbench.graph.train import TrainConfig, Trainer, make_optimizer
from workbench.graph.views import load_graph

DEFAULT = Path(os.environ.get("WORKBENCH_SHARED_DATA",
                              Path(__file__).resolve().parents[2] / "shared" / "data")) / "gowalla"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--with-recbole", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with Store.open(tmp / "g.duckdb") as store:
            # RecBole's benchmark mode needs a validation file: carve 10% of train for both.
            split = SplitConfig(method="given", valid_from_train=0.1)
            info = ingest(store, IngestOptions(path=args.data, split=split), tmp)
            data = load_graph(store, info.name)
            trainer = Trainer(store, TrainConfig(), data)
            optimizer = make_optimizer(trainer.parameters(), 1e-3)
            sampler = NegativeSampler(data.train, data.num_items)
            epoch_s = []
            for _ in range(args.epochs):
                t = time.perf_counter()
                trainer.train_epoch(optimizer, sampler)
                epoch_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            user_emb, item_emb = trainer.embeddings()
            test = evaluate(user_emb.detach(), item_emb.detach(), data.test,
                            [data.train_csr, data.valid], (20,))
            eval_s = time.perf_counter() - t
            if args.with_recbole:
                export_benchmark_files(store, tmp / "data" / info.name, info.name)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ours = sum(epoch_s) / len(epoch_s)
        print(f"Gowalla ({data.num_users:,} users, {data.num_items:,} items, "
              f"{data.train.size(1):,} train pairs), LightGCN 64d/3 layers, batch 2048")
        print(f"ours: {ours:.1f} s/epoch (over {len(epoch_s)}), full evaluation {eval_s:.1f} s, "
              f"test Recall@20 after {len(epoch_s)} epochs {test['recall@20']:.4f}, "
              f"peak RSS {peak:.0f} MB")
        if args.with_recbole:
            theirs = run_recbole(tmp / "data" / info.name, info.name, 1)
            print(f"RecBole: {theirs['train_s_per_epoch']:.1f} s/epoch, full evaluation "
                  f"{theirs['eval_s']:.1f} s")
            print(f"speed-up per epoch {theirs['train_s_per_epoch'] / ours:.2f}x, "
                  f"per evaluation {theirs['eval_s'] / eval_s:.2f}x")
        print(json.dumps({"train_s_per_epoch": ours, "eval_s": eval_s}))


if __name__ == "__main__":
    main()
