"""The `workbench` command: a thin front door composing each room's own CLI module."""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from typer.core import TyperGroup

from workbench import __version__, locking, logs
from workbench.console import console
from workbench.demo import demo_command
from workbench.errors import WorkbenchError

#: The rooms' CLI modules (each has ``register(app)``) and the top-level commands each
#: registers. A room is imported when one of its commands runs (or for the full ``--help``),
#: so ``workbench jobs`` or an LLM job on Ray does not import torch and torch-geometric.
#: tests/workbench/test_cli.py checks that these names are what each room registers.
ROOMS: dict[str, tuple[str, ...]] = {
    "workbench.graph.cli": ("graph", "ingest", "datasets", "stats"),
    "workbench.graph.train_cli": ("experiment", "train", "runs", "recommend"),
    "workbench.augment.cli": ("model", "augment", "jobs"),
    "workbench.app.cli": ("app",),
}
ROOM_OF = {command: room for room, commands in ROOMS.items() for command in commands}


def room_commands(module: str) -> dict[str, Any]:
    """The click commands one room registers, as its own small app."""
    room = typer.Typer()
    importlib.import_module(module).register(room)
    return dict(typer.main.get_group(room).commands)


class HandledGroup(TyperGroup):
    """The one error handler: a WorkbenchError from any command is one line and exit 1; so is
    anything unexpected, logged in full; the traceback on the terminal only with ``-v``.
    Rooms' commands are loaded on first use (see :data:`ROOMS`)."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*super().list_commands(ctx), *(c for c in ROOM_OF if c not in self.commands)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in ROOM_OF:
            for name, command in room_commands(ROOM_OF[cmd_name]).items():
                self.add_command(command, name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            if logs.verbose():
                raise
            console.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            console.print("interrupted: what was committed is kept; run the same command "
                          "again to resume", highlight=False)
            raise typer.Exit(code=130) from None
        except Exception as exc:  # a bug or an environment we did not foresee
            if logs.verbose() or _usage(exc):
                raise
            logging.getLogger("workbench").exception("unexpected error")
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            console.print(f"[red]error:[/red] unexpected {type(exc).__name__}: {first} "
                          f"(the traceback is in {logs.log_path()}; `workbench -v` shows it)",
                          highlight=False, markup=True)
            raise typer.Exit(code=1) from None


def _usage(exc: BaseException) -> bool:
    """typer's own usage errors and exits (it prints those as one line itself)."""
    return isinstance(exc, (typer.Exit, typer.Abort)) or type(exc).__module__.startswith(
        ("typer.", "click."))


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
    locking.notice = lambda line: print(line, file=sys.stderr, flush=True)


def export_command(
    dataset: Annotated[str, typer.Argument(help="The dataset to export (`workbench datasets`).")],
    out: Annotated[Path, typer.Argument(help="A new (or empty) folder for the files.")],
    format: Annotated[Literal["parquet"], typer.Option(
        help="parquet: one file per table and manifest.json.")] = "parquet",
) -> None:
    """Write a dataset and all made from it (jobs, generated rows, graph, runs) as Parquet;
    `workbench ingest OUT` reads it back."""
    from workbench.console import read_store
    from workbench.export import export_dataset

    with read_store() as store:
        manifest = export_dataset(store, dataset, out)
    rows = sum(t["rows"] for t in manifest["tables"].values())
    console.print(f"exported [bold]{manifest['dataset']}[/bold] to {out}: "
                  f"{len(manifest['tables'])} tables, {rows:,} rows", highlight=False)


def settings_command() -> None:
    """Every engine, sampling, training and workbench setting with default and description."""
    from workbench.reference import settings_reference

    console.print(settings_reference(), markup=False, highlight=False)


def build_app() -> typer.Typer:
    """The command tree: the root's own commands; each room registers its commands when
    first used (job kinds generate theirs)."""
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
    app.command("export")(export_command)
    return app


app = build_app()


def quick_exit() -> None:
    """At exit, after a command that loaded torch: the interpreter's last garbage collections
    walk every object torch and vLLM made (2.6 s after an LLM job on 2 cores, 1.2 s after
    importing torch). By then the store is closed and the log flushed, so the objects still
    alive are frozen out of those collections; what extension modules print about objects
    left alive (nanobind's leak reports) goes to the log. Nothing changes with ``-v``."""
    if "torch" in sys.modules and not logs.verbose() and logs.teardown_output_to_log():
        gc.freeze()


def main() -> None:
    """The console script: the app, with the one error handler (and a quick exit: registered
    first, it runs after the exit handlers registered later, vLLM's engine shutdown and
    Ray's among them)."""
    atexit.register(quick_exit)
    app()


if __name__ == "__main__":
    main()
