"""Runs RecBole's LightGCN on benchmark files we export; executed inside bench/.venv-recbole.

    python recbole_driver.py DATA_DIR NAME EPOCHS EVAL_EVERY PATIENCE OUT_JSON

Prints nothing of ours; writes seconds per training epoch, per full evaluation, the best
validation and the test metrics as JSON.
"""

import json
import os
import sys
import time

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.model.general_recommender import LightGCN  # noqa: E402
from recbole.trainer import Trainer  # noqa: E402
from recbole.utils import init_seed  # noqa: E402

data_dir, name, epochs, eval_every, patience, out = sys.argv[1:7]


class TimedTrainer(Trainer):
    train_s: list = []
    eval_s: list = []
    valid_scores: list = []  # (epoch, valid Recall@20)

    def _train_epoch(self, *args, **kwargs):
        t = time.perf_counter()
        result = super()._train_epoch(*args, **kwargs)
        self.train_s.append(time.perf_counter() - t)
        return result

    def _valid_epoch(self, *args, **kwargs):
        t = time.perf_counter()
        result = super()._valid_epoch(*args, **kwargs)
        self.eval_s.append(time.perf_counter() - t)
        self.valid_scores.append((len(self.train_s), float(result[0])))
        return result


config = Config(model="LightGCN", dataset=name, config_dict={
    "data_path": data_dir, "benchmark_filename": ["train", "valid", "test"],
    "load_col": {"inter": ["user_id", "item_id"]},
    "embedding_size": 64, "n_layers": 3, "reg_weight": 1e-4, "learning_rate": 1e-3,
    "train_batch_size": 2048, "epochs": int(epochs), "eval_step": int(eval_every),
    "stopping_step": int(patience),
    "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
    "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},
    "metrics": ["Recall", "NDCG"], "topk": [20], "valid_metric": "Recall@20",
    "device": "cpu", "use_gpu": False, "seed": 2020, "reproducibility": True,
    "show_progress": False, "checkpoint_dir": os.path.join(data_dir, "saved"),
    "state": "WARNING",
})
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
train_data, valid_data, test_data = data_preparation(config, dataset)
model = LightGCN(config, train_data.dataset).to(config["device"])
trainer = TimedTrainer(config, model)
best_score, best_valid = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
json.dump({
    "train_s_per_epoch": sum(trainer.train_s) / len(trainer.train_s),
    "eval_s": sum(trainer.eval_s) / max(1, len(trainer.eval_s)),
    "epochs": len(trainer.train_s),
    "best_epoch": max(trainer.valid_scores, key=lambda es: (es[1], -es[0]))[0],
    "valid_recall@20": float(best_valid["recall@20"]), "test_recall@20": float(test["recall@20"]),
    "test_ndcg@20": float(test["ndcg@20"]),
    "n_users": dataset.user_num, "n_items": dataset.item_num,
}, open(out, "w"))
