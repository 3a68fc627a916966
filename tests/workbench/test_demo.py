"""The demo's stages are real commands with real options (the whole demo runs in `make demo`)."""

import pytest
import typer
from typer._click.exceptions import UsageError  # typer ships its own click

from workbench.cli import app
from workbench.demo import stages


def parse(args: list[str]):
    """Resolve the sub-commands and parse the leaf's options, running nothing."""
    cmd, tokens = typer.main.get_command(app), list(args)
    ctx = cmd.make_context("workbench", [], resilient_parsing=True)
    while hasattr(cmd, "get_command"):  # a group
        name = tokens.pop(0)
        cmd = cmd.get_command(ctx, name)
        if cmd is None:
            raise UsageError(f"no command {name!r}")
    return cmd.make_context(name, tokens, parent=ctx)


def test_every_demo_stage_parses_as_a_command():
    plan = stages(items=3, users=2, edge_users=2, seeds=1, epochs=2, base_epochs=2)
    assert [args[0] for _, args in plan][:3] == ["ingest", "stats", "model"]
    for _, args in plan:
        parse(args)


@pytest.mark.parametrize("args", [["graph", "nope"], ["augment", "edges", "--bogus", "1"],
                                  ["augment", "edges"]])
def test_the_check_catches_a_broken_stage(args):
    with pytest.raises(UsageError):
        parse(args)
