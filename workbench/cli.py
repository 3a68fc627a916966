"""The `workbench` command: a thin front door composing each room's own CLI module."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperGroup

from workbench import __version__, logs
from workbench.console import console
from workbench.demo import demo_command
from workbench.errors import WorkbenchError
from workbench.app import cli as app_cli
from workbench.augment import cli as augment_cli
from workbench.graph import cli as graph_cli
from workbench.graph import train_cli

class HandledGroup(TyperGroup):
    """The one error handler: a WorkbenchError from any command is one line and exit 1
    (the traceback only with ``-v``)."""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            if logs.verbose():
                raise
            console.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
            raise typer.Exit(code=1) from None


def show_version(value: bool) -> None:
    if value:
        console.print(f"workbench {__version__}", highlight=False)
        raise typer.Exit()


def root(verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Show engine and library logs, and tracebacks of errors.")]
        = False,
        version: Annotated[bool, typer.Option(
            "--version", callback=show_version, is_eager=True,
            help="Print the version and exit.")] = False) -> None:
    logs.configure(verbose)


def settings_command() -> None:
    """Every engine, sampling, training and workbench setting with default and description."""
    from workbench.reference import settings_reference

    console.print(settings_reference(), markup=False, highlight=False)


def build_app() -> typer.Typer:
    """The command tree: each room registers its commands (job kinds generate theirs)."""
    app = typer.Typer(
        name="workbench",
        help="Enrich recommender data with LLMs, store it in DuckDB, train graph recommenders, "
             "browse it. State lives in $WORKBENCH_HOME (default ./workbench-home).",
        no_args_is_help=True,
        add_completion=False,
        cls=HandledGroup,
    )
    app.callback()(root)
    app.command("settings")(settings_command)
    app.command("demo")(demo_command)
    graph_cli.register(app)
    train_cli.register(app)
    augment_cli.register(app)
    app_cli.register(app)
    return app


app = build_app()


def main() -> None:
    """The console script: the app, with the one error handler."""
    app()


if __name__ == "__main__":
    main()
