import pytest
from typer.testing import CliRunner

from workbench.data import TOY_DIR
from workbench.cli import app

runner = CliRunner()


def test_help_lists_subcommands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("ingest", "stats", "datasets"):
        assert name in result.output


def test_rooms_register_the_commands_the_root_expects():
    from workbench.cli import ROOMS, room_commands

    for module, names in ROOMS.items():
        assert set(room_commands(module)) == set(names), module


def test_a_command_imports_only_its_room(tmp_path):
    """`workbench jobs` (and an LLM job's driver) runs without torch and torch-geometric;
    `workbench train --help` loads the training room, torch and all."""
    import os
    import subprocess
    import sys

    check = ("import sys\nfrom workbench.cli import app\ntry:\n    app(sys.argv[1:])\n"
             "except SystemExit:\n    pass\nprint('torch' in sys.modules)")
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    for argv, torch in ((["jobs"], "False"), (["augment", "--help"], "False"),
                        (["train", "--help"], "True")):
        out = subprocess.run([sys.executable, "-c", check, *argv], env=env,
                             capture_output=True, text=True)
        assert out.stdout.strip().splitlines()[-1] == torch, (argv, out.stdout, out.stderr)


def test_quick_exit_after_torch_freezes_and_logs_teardown_noise(tmp_path):
    import os
    import subprocess
    import sys

    code = ("import gc, sys, torch\nfrom workbench import cli, logs\n"
            "logs.configure(sys.argv[1] == '-v')\ncli.quick_exit()\n"
            "print(gc.get_freeze_count() > 0)\nsys.stderr.write('teardown noise\\n')")
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    quiet = subprocess.run([sys.executable, "-c", code, "-q"], env=env, capture_output=True,
                           text=True)
    assert quiet.stdout.strip() == "True" and "teardown noise" not in quiet.stderr
    assert "teardown noise" in (tmp_path / "logs" / "workbench.log").read_text()
    loud = subprocess.run([sys.executable, "-c", code, "-v"], env=env, capture_output=True,
                          text=True)
    assert loud.stdout.strip() == "False" and "teardown noise" in loud.stderr


def test_ingest_then_stats(workbench_home):
    result = runner.invoke(app, ["ingest", str(TOY_DIR)])
    assert result.exit_code == 0, result.output
    assert "30 users, 24 items, 318 interactions" in result.output
    assert (workbench_home / "workbench.duckdb").exists()  # state lives under WORKBENCH_HOME
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 0, result.output
    assert "train" in result.output and "valid" in result.output and "test" in result.output


def test_bad_input_exits_nonzero_with_message(tmp_path):
    (tmp_path / "x.inter").write_text("user_id\nu1\n")
    result = runner.invoke(app, ["ingest", str(tmp_path / "x.inter")])
    assert result.exit_code == 1
    assert "lacks a type" in result.output


def test_stats_without_a_store_is_clear():
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 1
    assert "run `workbench ingest` first" in result.output


def test_stats_on_empty_store_is_clear(workbench_home):
    from workbench.store import Store

    Store.open(workbench_home / "workbench.duckdb").close()
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 1
    assert "holds no dataset" in result.output


def test_train_runs_recommend(workbench_home):
    assert runner.invoke(app, ["ingest", str(TOY_DIR)]).exit_code == 0
    result = runner.invoke(app, ["train", "--epochs", "4", "--set", "eval_every=2",
                                 "--set", "min_epochs=1", "--set", "batch_size=64"])
    assert result.exit_code == 0, result.output
    assert "recall@20" in result.output and "best epoch" in result.output
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 0 and "done" in result.output
    from workbench.store import Store

    with Store.open(workbench_home / "workbench.duckdb") as store:
        run_id = store.con.execute("SELECT run_id FROM runs").fetchone()[0]
    result = runner.invoke(app, ["recommend", "3", "--run", "latest", "-k", "5"])
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") >= 5
    result = runner.invoke(app, ["recommend", "nobody", "--run", run_id])
    assert result.exit_code == 1 and "unknown user 'nobody'" in result.output


def test_train_with_bad_settings_is_clear(workbench_home):
    assert runner.invoke(app, ["ingest", str(TOY_DIR)]).exit_code == 0
    result = runner.invoke(app, ["train", "--set", "lr=fast"])
    assert result.exit_code == 1 and "invalid training settings" in result.output


def test_train_on_an_absent_gpu_is_one_clear_line(workbench_home):
    import torch

    if torch.cuda.is_available():
        pytest.skip("the message is for machines without a GPU")
    assert runner.invoke(app, ["ingest", str(TOY_DIR)]).exit_code == 0
    result = runner.invoke(app, ["train", "--device", "cuda", "--epochs", "1"])
    assert result.exit_code == 1
    assert "device 'cuda' asked for, but torch sees no GPU here" in result.output
    assert "Traceback" not in result.output


def test_version_is_the_installed_one():
    import importlib.metadata

    import workbench

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"workbench {workbench.__version__}"
    assert importlib.metadata.version("enrichment-workbench") == workbench.__version__


def test_listings_as_json_and_csv(workbench_home):
    import csv
    import io
    import json

    assert runner.invoke(app, ["ingest", str(TOY_DIR)]).exit_code == 0
    for command in (["runs"], ["jobs"]):  # empty listings stay valid JSON
        result = runner.invoke(app, [*command, "--json"])
        assert result.exit_code == 0 and json.loads(result.output) == []
    datasets = json.loads(runner.invoke(app, ["datasets", "--json"]).output)
    assert datasets == [{"dataset_id": 1, "name": "toy", "source_format": "recbole",
                         "n_users": 30, "n_items": 24, "n_interactions": 318}]
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["datasets", "--csv"]).output)))
    assert rows[0]["name"] == "toy" and rows[0]["n_items"] == "24"
    stats = json.loads(runner.invoke(app, ["stats", "--json"]).output)
    assert stats["dataset"]["n_users"] == 30 and stats["enriched_graph"] is None
    result = runner.invoke(app, ["train", "--epochs", "2", "--set", "min_epochs=1",
                                 "--set", "eval_every=1", "--set", "batch_size=64"])
    assert result.exit_code == 0, result.output
    runs = json.loads(runner.invoke(app, ["runs", "--json"]).output)
    assert len(runs) == 1 and runs[0]["status"] == "done" and runs[0]["sources"] == {}
    assert 0 <= runs[0]["test_recall@20"] <= 1 and runs[0]["view"] == "base"
    top = json.loads(runner.invoke(app, ["recommend", "1", "--run", "latest", "-k", "3",
                                         "--json"]).output)
    assert [t["rank"] for t in top] == [1, 2, 3] and set(top[0]) == {"rank", "item", "title",
                                                                      "held_out"}
    result = runner.invoke(app, ["runs", "--json", "--csv"])
    assert result.exit_code == 1 and "exclude each other" in result.output


def test_choices_are_listed_and_enforced(workbench_home):
    result = runner.invoke(app, ["train", "--help"])
    assert "lightgcn|mf" in "".join(result.output.split())
    for args in (["train", "--view", "nope"], ["ingest", "--split", "nope"],
                 ["ingest", "--format", "nope"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "'nope' is not one of" in result.output, args


def test_pins_of_unknown_jobs_are_one_line(workbench_home):
    assert runner.invoke(app, ["ingest", str(TOY_DIR)]).exit_code == 0
    result = runner.invoke(app, ["train", "--view", "llmrec", "--edges-job", "nope"])
    assert result.exit_code == 1 and "unknown job 'nope'" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["train", "--features-job", "nope"])
    assert result.exit_code == 1 and "unknown job 'nope'" in result.output


def test_recommend_k_zero_is_one_line(workbench_home):
    assert runner.invoke(app, ["ingest", str(TOY_DIR)]).exit_code == 0
    assert runner.invoke(app, ["train", "--model", "pop"]).exit_code == 0
    result = runner.invoke(app, ["recommend", "1", "--run", "latest", "-k", "0"])
    assert result.exit_code == 1 and "k must be at least 1" in result.output
