"""Benchmark: LightGCN seconds per training epoch and per full evaluation on Gowalla.

Gowalla's LightGCN split (29,858 users, 40,981 items, 810,128 training interactions), paper
settings (64 dims, 3 layers, batch 2048, Adam 1e-3); 10% of each user's training items are
held out for validation. Times `--epochs` epochs and one full-ranking evaluation of all test
users (training items excluded). With `--with-recbole` RecBole's LightGCN runs one epoch and
one evaluation on the same files in the same run (about 3 minutes more; needs
`bash bench/setup_recbole.sh`).

A training curve (on a GPU, say): `--eval-every N` validates every N epochs, `--max-minutes`
stops early, and the test metrics are those of the best validation epoch (`--curve F`
writes the curve as JSON).

    python bench/bench_gowalla.py [--data ../shared/data/gowalla] [--epochs 2] [--with-recbole]
    python bench/bench_gowalla.py --device cuda --epochs 1000 --eval-every 20 --curve c.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

from bench_lightgcn import export_benchmark_files, run_recbole
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
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="validate every N epochs and test the best (0: test at the end)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after this many minutes")
    parser.add_argument("--curve", type=Path, default=None, help="write the curve as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with Store.open(tmp / "g.duckdb") as store:
            # RecBole's benchmark mode needs a validation file: carve 10% of train for both.
            split = SplitConfig(method="given", valid_from_train=0.1)
            info = ingest(store, IngestOptions(path=args.data, split=split), tmp)
            data = load_graph(store, info.name)
            trainer = Trainer(store, TrainConfig(device=args.device), data)
            optimizer = make_optimizer(trainer.parameters(), 1e-3)
            sampler = NegativeSampler(data.train, data.num_items)
            epoch_s, curve, best = [], [], (-1.0, 0, None)
            deadline = time.monotonic() + 60 * args.max_minutes if args.max_minutes else None
            for epoch in range(1, args.epochs + 1):
                t = time.perf_counter()
                trainer.train_epoch(optimizer, sampler)
                epoch_s.append(time.perf_counter() - t)
                if args.eval_every and epoch % args.eval_every == 0:
                    valid = trainer.validate()
                    curve.append({"epoch": epoch, "train_s": sum(epoch_s), **valid})
                    print(f"epoch {epoch}: valid recall@20 {valid['recall@20']:.4f} "
                          f"({sum(epoch_s):.0f} s training)", flush=True)
                    if valid["recall@20"] > best[0]:
                        best = (valid["recall@20"], epoch,
                                copy.deepcopy(trainer.model.state_dict()))
                if deadline and time.monotonic() > deadline:
                    break
            if best[2] is not None:
                trainer.model.load_state_dict(best[2])
            t = time.perf_counter()
            test = trainer.test()
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            eval_s = time.perf_counter() - t
            if args.with_recbole:
                export_benchmark_files(store, tmp / "data" / info.name, info.name)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        steady = epoch_s[1:] if len(epoch_s) > 2 else epoch_s  # the first warms kernels up
        ours = sum(steady) / len(steady)
        picked = f"best validation epoch {best[1]}" if best[2] is not None else \
            f"{len(epoch_s)} epochs"
        print(f"Gowalla ({data.num_users:,} users, {data.num_items:,} items, "
              f"{data.train.size(1):,} train pairs), LightGCN 64d/3 layers, batch 2048, "
              f"on {trainer.device}")
        print(f"ours: {ours:.2f} s/epoch (over {len(steady)}), full evaluation {eval_s:.2f} s, "
              f"test Recall@20 {test['recall@20']:.4f} NDCG@20 {test['ndcg@20']:.4f} at "
              f"{picked} of {len(epoch_s)}, peak RSS {peak:.0f} MB")
        if args.curve:
            args.curve.write_text(json.dumps({
                "device": str(trainer.device), "s_per_epoch": ours, "eval_s": eval_s,
                "epochs": len(epoch_s), "best_epoch": best[1], "test": test,
                "curve": curve}, indent=1))
        if args.with_recbole:
            theirs = run_recbole(tmp / "data" / info.name, info.name, 1)
            print(f"RecBole: {theirs['train_s_per_epoch']:.1f} s/epoch, full evaluation "
                  f"{theirs['eval_s']:.1f} s")
            print(f"speed-up per epoch {theirs['train_s_per_epoch'] / ours:.2f}x, "
                  f"per evaluation {theirs['eval_s'] / eval_s:.2f}x")
        print(json.dumps({"train_s_per_epoch": ours, "eval_s": eval_s}))


if __name__ == "__main__":
    main()
