"""The `workbench` command: a thin front door composing each room's own CLI module."""

from __future__ import annotations

import typer

from workbench.app import cli as app_cli
from workbench.augment import cli as augment_cli
from workbench.graph import cli as graph_cli
from workbench.graph import train_cli

app = typer.Typer(
    name="workbench",
    help="Enrich recommender data with LLMs, store it in DuckDB, train graph recommenders, "
         "browse it. State lives in $WORKBENCH_HOME (default ./workbench-home).",
    no_args_is_help=True,
    add_completion=False,
)
graph_cli.register(app)
train_cli.register(app)
augment_cli.register(app)
app_cli.register(app)


if __name__ == "__main__":
    app()
