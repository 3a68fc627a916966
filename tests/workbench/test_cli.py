from typer.testing import CliRunner

from data import TOY_DIR
from workbench.cli import app

runner = CliRunner()


def test_help_lists_subcommands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("ingest", "stats", "datasets"):
        assert name in result.output


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


def test_stats_on_empty_store_is_clear():
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 1
    assert "holds no dataset" in result.output
