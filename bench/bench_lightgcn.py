"""Benchmark: our LightGCN vs RecBole 1.2.1's on ML-100K, same split and settings, one run.

Both: 64 dims, 3 layers, lr 1e-3, reg 1e-4, batch 2048, one uniform negative, full ranking,
validation every 5 epochs with early stopping on Recall@20 (patience 10 evaluations), the
best validation epoch's model tested once. The split is ours (seeded per-user 0.8/0.1/0.1),
exported to RecBole's benchmark files so both see the same interactions.

    bash bench/setup_recbole.sh            # once: RecBole in bench/.venv-recbole
    python bench/bench_lightgcn.py [--epochs 300]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

from workbench.graph.ingest import IngestOptions, ingest
from workbench.store import Store
from workbench.graph.train import TrainConfig, train

HERE = Path(__file__).resolve().parent
RECBOLE_PY = HERE / ".venv-recbole" / "bin" / "python"


def export_benchmark_files(store: Store, folder: Path, name: str) -> None:
    """Our split as RecBole benchmark files NAME.{train,valid,test}.inter."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        frame = store.frame(
            "SELECT u.user_key AS \"user_id:token\", t.item_key AS \"item_id:token\" "
            "FROM interactions i JOIN users u USING (dataset_id, user_idx) "
            "JOIN items t USING (dataset_id, item_idx) WHERE i.split = ? ORDER BY 1, 2", [split])
        frame.write_csv(folder / f"{name}.{split}.inter", separator="\t")


def run_ours(store: Store, epochs: int) -> dict:
    result = train(store, TrainConfig(max_epochs=epochs, eval_every=5, patience=10,
                                      min_epochs=0, ks=(20,)))
    timing = store.frame("SELECT avg(train_s) AS t, avg(eval_s) AS e FROM run_epochs "
                         "WHERE run_id = ?", [result.run_id]).row(0, named=True)
    return {"train_s_per_epoch": timing["t"], "eval_s": timing["e"],
            "epochs": result.epochs_run, "best_epoch": result.best_epoch,
            "valid_recall@20": result.valid["recall@20"],
            "test_recall@20": result.test["recall@20"], "test_ndcg@20": result.test["ndcg@20"]}


def run_recbole(folder: Path, name: str, epochs: int) -> dict:
    if not RECBOLE_PY.exists():
        sys.exit("RecBole is not set up: run `bash bench/setup_recbole.sh` first")
    out = folder / "recbole.json"
    subprocess.run([str(RECBOLE_PY), str(HERE / "recbole_driver.py"), str(folder.parent), name,
                    str(epochs), "5", "10", str(out)], check=True, cwd=folder.parent)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # (RecBole would swap a dataset named "ml-100k" for its bundled copy: rename ours.)
        name = "ml100k-bench"
        with Store.open(tmp / "bench.duckdb") as store:
            ingest(store, IngestOptions(name=name), tmp / "cache")
            export_benchmark_files(store, tmp / "data" / name, name)
            ours = run_ours(store, args.epochs)
        print("ours:", json.dumps(ours), flush=True)
        theirs = run_recbole(tmp / "data" / name, name, args.epochs)
        print("RecBole:", json.dumps(theirs), flush=True)
    rows = [("train s/epoch", "train_s_per_epoch", "{:.3f}"), ("full eval s", "eval_s", "{:.3f}"),
            ("epochs run", "epochs", "{}"), ("best epoch", "best_epoch", "{}"),
            ("valid Recall@20", "valid_recall@20", "{:.4f}"),
            ("test Recall@20", "test_recall@20", "{:.4f}"),
            ("test NDCG@20", "test_ndcg@20", "{:.4f}")]
    print(f"LightGCN on ML-100K, same split, max {args.epochs} epochs")
    print(pl.DataFrame({
        "measure": [r[0] for r in rows],
        "ours": [r[2].format(ours[r[1]]) for r in rows],
        "RecBole 1.2.1": [r[2].format(theirs[r[1]]) for r in rows],
    }))
    print(f"speed-up per epoch: {theirs['train_s_per_epoch'] / ours['train_s_per_epoch']:.2f}x; "
          f"per full evaluation: {theirs['eval_s'] / ours['eval_s']:.2f}x; "
          f"test Recall@20 ours/RecBole: {ours['test_recall@20'] / theirs['test_recall@20']:.3f}")


if __name__ == "__main__":
    main()
