import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from pydantic import ValidationError

from workbench import runs
from workbench.graph.evaluate import evaluate
from workbench.graph.train import TrainConfig, train
from workbench.graph.views import ViewError, load_graph
from tests.graph.helpers import FAST



def test_run_is_recorded_with_best_epoch_restored(toy_store):
    result = train(toy_store, TrainConfig(**FAST))
    run = runs.get_run(toy_store, result.run_id)
    assert run["status"] == "done" and run["best_epoch"] == result.best_epoch
    epochs = toy_store.frame("SELECT * FROM run_epochs WHERE run_id = ? ORDER BY epoch",
                             [result.run_id])
    assert epochs["epoch"].to_list() == list(range(1, result.epochs_run + 1))
    assert epochs["valid_metrics"].null_count() == result.epochs_run - result.epochs_run // 2
    # The stored embeddings are the best epoch's: re-evaluating them gives the stored metrics.
    user_emb, item_emb = runs.load_embeddings(toy_store, result.run_id)
    data = load_graph(toy_store)
    valid = evaluate(user_emb, item_emb, data.valid, [data.train_csr])
    test = evaluate(user_emb, item_emb, data.test, [data.train_csr, data.valid])
    assert valid == pytest.approx(json.loads(run["valid_metrics"]))
    assert test == pytest.approx(json.loads(run["test_metrics"]))
    best = epochs.filter(epochs["epoch"] == result.best_epoch)["valid_metrics"][0]
    assert json.loads(best)["recall@20"] == pytest.approx(valid["recall@20"])


def test_same_seed_same_run(toy_store):
    a = train(toy_store, TrainConfig(**FAST, seed=7))
    b = train(toy_store, TrainConfig(**FAST, seed=7))
    c = train(toy_store, TrainConfig(**FAST, seed=8))
    assert a.test == b.test
    assert a.test != c.test


def test_early_stopping_respects_patience_and_min_epochs(toy_store):
    cfg = TrainConfig(**{**FAST, "max_epochs": 200, "eval_every": 1, "patience": 2,
                         "min_epochs": 10, "lr": 0.05})
    result = train(toy_store, cfg)
    assert 10 <= result.epochs_run < 200
    assert result.epochs_run - result.best_epoch >= 2 or result.epochs_run == 10


@pytest.mark.parametrize("model", ["mf", "pop"])
def test_other_models(toy_store, model):
    result = train(toy_store, TrainConfig(**{**FAST, "model": model}))
    assert runs.get_run(toy_store, result.run_id)["model"] == model
    assert 0.0 <= result.test["recall@20"] <= 1.0


def test_popularity_ranks_by_training_degree(toy_store):
    result = train(toy_store, TrainConfig(model="pop"))
    _, item_emb = runs.load_embeddings(toy_store, result.run_id)
    data = load_graph(toy_store)
    assert torch.equal(item_emb[:, 0], torch.bincount(data.train[1],
                                                      minlength=data.num_items).float())


def test_extra_loss_terms_are_added(toy_store):
    calls = []

    def term(batch):
        calls.append(batch.users.shape[0])
        return batch.user_emb.sum() * 0.0

    result = train(toy_store, TrainConfig(**{**FAST, "max_epochs": 1}), extra_losses=[term])
    assert sum(calls) == load_graph(toy_store).train.size(1)
    assert runs.get_run(toy_store, result.run_id)["objectives"] == "bpr+term"


def test_alignment_losses_come_from_the_config(toy_store):
    from workbench.graph.alignment import MaskedProfileReconstruction, ProfileContrast
    from workbench.graph.train import Trainer
    from tests.graph.helpers import fake_profile_embeddings

    config = TrainConfig(**{**FAST, "max_epochs": 1}, contrast_weight=0.01,
                         generative_weight=0.1)
    with pytest.raises(ViewError, match="no embedded user-profiles"):
        train(toy_store, config)
    fake_profile_embeddings(toy_store, "user", 30, dim=16)
    fake_profile_embeddings(toy_store, "item", 24, dim=16)
    trainer = Trainer(toy_store, config, load_graph(toy_store))
    assert [type(t) for t in trainer.extra_losses] == [ProfileContrast,
                                                        MaskedProfileReconstruction]
    assert trainer.extra_losses[0].weight == 0.01 and trainer.extra_losses[1].weight == 0.1
    result = trainer.fit()
    assert runs.get_run(toy_store, result.run_id)["objectives"] == "bpr+con+gen"
    # their parameters are trained with the model's
    assert len(trainer.parameters()) > len(list(trainer.model.parameters()))


def test_unknown_or_bad_settings_fail_before_work():
    with pytest.raises(ValidationError, match="Extra inputs"):
        TrainConfig(learning_rate=0.1)
    with pytest.raises(ValidationError, match="select_metric"):
        TrainConfig(select_metric="recall@50")
    with pytest.raises(ValidationError, match="pop is not trained"):
        TrainConfig(model="pop", contrast_weight=0.01)
    with pytest.raises(ValidationError, match="mae_mask_ratio must be in"):
        TrainConfig(mae_mask_ratio=1.5)


def test_no_validation_split_is_refused_before_any_run(store, tmp_path):
    from workbench.graph.ingest import IngestOptions, ingest
    from tests.conftest import write

    d = tmp_path / "lg"
    write(d / "train.txt", "0 0 1 2\n1 1 2 3\n")
    write(d / "test.txt", "0 3\n1 0\n")
    ingest(store, IngestOptions(path=d), tmp_path)
    with pytest.raises(ViewError, match="no validation interactions.*--valid-from-train"):
        train(store, TrainConfig(**FAST))
    assert store.con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_empty_training_split_is_refused(toy_store):
    toy_store.con.execute("DELETE FROM interactions WHERE split = 'train'")
    with pytest.raises(ViewError, match="no training interactions"):
        train(toy_store, TrainConfig(**FAST))


def test_unknown_view_is_refused(toy_store):
    with pytest.raises(ViewError, match="unknown graph view 'llm'"):
        train(toy_store, TrainConfig(**FAST), view="llm")


def test_exception_marks_run_failed(toy_store):
    def boom(batch):
        raise RuntimeError("exploded")

    with pytest.raises(RuntimeError):
        train(toy_store, TrainConfig(**FAST), extra_losses=[boom])
    frame = runs.list_runs(toy_store)
    assert frame["status"].to_list() == ["failed"]
    assert toy_store.con.execute("SELECT count(*) FROM run_embeddings").fetchone()[0] == 0


@pytest.mark.slow
def test_killed_run_never_looks_finished(tmp_path):
    from workbench.graph.ingest import IngestOptions, ingest
    from workbench.store import Store
    from workbench.data import TOY_DIR

    db = tmp_path / "kill.duckdb"
    with Store.open(db) as store:
        ingest(store, IngestOptions(path=TOY_DIR), tmp_path)
    script = textwrap.dedent(f"""
        import time
        from workbench.store import Store
        from workbench.graph.train import TrainConfig, train
        def on_epoch(epoch, loss, valid):
            print("epoch", epoch, flush=True)
            time.sleep(0.2)
        with Store.open({str(db)!r}) as store:
            train(store, TrainConfig(max_epochs=10000, batch_size=64, epoch_write_s=0),
                  on_epoch=on_epoch)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("epoch")
        assert proc.stdout.readline().startswith("epoch")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with Store.open(db) as store:
        frame = runs.list_runs(store)
        assert frame["status"].to_list() == ["interrupted"]
        assert store.con.execute("SELECT count(*) FROM run_epochs").fetchone()[0] >= 2
        with pytest.raises(Exception, match="not done"):
            runs.load_embeddings(store, frame["run_id"][0])


@pytest.mark.slow
def test_out_of_disk_during_training_is_clear(tmp_path):
    """`workbench train` where no file may grow past 12 kB: a clear error, no traceback, and
    the run never reads done; the store stays usable."""
    from pathlib import Path

    from workbench.data import TOY_DIR
    from workbench.store import Store
    from tests.conftest import limit_file_size

    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home")}
    workbench = str(Path(sys.executable).parent / "workbench")
    subprocess.run([workbench, "ingest", str(TOY_DIR)], env=env, check=True,
                   capture_output=True)
    full = subprocess.run([workbench, "train", "--epochs", "400", "--set", "min_epochs=400",
                           "--set", "eval_every=1", "--set", "batch_size=64"], env=env,
                          capture_output=True, text=True, preexec_fn=limit_file_size(12_000))
    message = " ".join(full.stdout.split())
    assert full.returncode == 1 and "Traceback" not in full.stdout + full.stderr
    assert "could not write the store" in message and "Is the disk full?" in message
    with Store.open(tmp_path / "home" / "workbench.duckdb") as store:
        frame = runs.list_runs(store)
        assert frame["status"].to_list() in (["failed"], ["interrupted"])
        n_epochs = store.con.execute("SELECT count(*) FROM run_epochs").fetchone()[0]
        assert 0 < n_epochs < 400  # what was written before the failure is kept


def test_synthetic_triples_weigh_like_real_ones(toy_store):
    """Each kept synthetic triple counts aug_weight / batch_size, like a real triple's
    1 / batch_size; by default about as many are drawn per epoch as there are triples."""
    from workbench.graph.losses import bpr_loss_per_triple, score_pairs
    from workbench.graph.train import Trainer

    data = load_graph(toy_store)
    data.extra_triples = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3], [5, 6, 7, 8]])
    trainer = Trainer(toy_store, TrainConfig(**FAST, prune_rate=0.0, aug_weight=1.0), data)
    user_emb, item_emb = trainer.embeddings()
    state = trainer.generator.get_state()
    loss = trainer.augmented_loss(user_emb, item_emb, batch_size=64)
    n = -(-4 * 64 // data.train.size(1))  # ceil(n_synthetic / n_train * batch_size)
    trainer.generator.set_state(state)
    pick = torch.randint(4, (n,), generator=trainer.generator)
    u, p, q = data.extra_triples[:, pick]
    expected = bpr_loss_per_triple(score_pairs(user_emb, item_emb, u, p),
                                   score_pairs(user_emb, item_emb, u, q)).sum() / 64
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
