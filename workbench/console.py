"""What every room's CLI module shares: the console, opening the store, failing with one line."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Annotated, Any, Literal, Optional, get_args

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from workbench.settings import get_settings
from workbench.store import Store

# Piped or logged output (no terminal) would be cut to 80 columns; tables need more.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)


def open_store() -> Store:
    """The workbench's store, for writing (created and migrated on first use); waits, saying
    for whom, while another process writes."""
    return Store.open(get_settings().db_path, timeout_s=None)


def read_store() -> Store:
    """The workbench's store, read-only (many readers may share it); a clear error if absent."""
    return Store.open_read_only(get_settings().db_path, timeout_s=None)


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    raise typer.Exit(code=1)


def with_choices(command: Callable[..., Any], **names: Callable[[], Iterable[str]]
                 ) -> Callable[..., Any]:
    """``command`` whose named options take one of a registry's names, read when the CLI is
    built (so what a test or plugin registered first is included): ``--help`` lists them and
    another value is refused with the list."""
    signature = inspect.signature(command, eval_str=True)
    params = []
    for param in signature.parameters.values():
        if param.name in names:
            base, *meta = get_args(param.annotation)
            choice: Any = Literal[tuple(names[param.name]())]
            if type(None) in get_args(base):
                choice = Optional[choice]
            param = param.replace(annotation=Annotated[(choice, *meta)])
        params.append(param)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper


AsJson = Annotated[bool, typer.Option(
    "--json", help="Print JSON (a list of objects; [] when empty) instead of a table.")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV (with a header) instead of a table.")]


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def print_json(value: Any) -> None:
    """Machine-readable output: straight to stdout, no styling or wrapping."""
    sys.stdout.write(json.dumps(value, default=_plain, indent=2) + "\n")


def emit(frame: pl.DataFrame, as_json: bool, as_csv: bool, table: Callable[[], Table]) -> None:
    """A listing as JSON, CSV (nested values as JSON text) or the human table."""
    if as_json and as_csv:
        fail("--json and --csv exclude each other")
    if as_json:
        print_json(frame.to_dicts())
    elif as_csv:
        flat = frame.with_columns(
            pl.col(c).map_elements(lambda v: json.dumps(v, default=_plain),
                                   return_dtype=pl.String)
            for c, t in frame.schema.items() if t.is_nested() or t == pl.Object)
        sys.stdout.write(flat.write_csv())
    else:
        console.print(table())
