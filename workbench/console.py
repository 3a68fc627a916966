"""What every room's CLI module shares: the console, opening the store, failing with one line."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from workbench.settings import get_settings
from workbench.store import Store, StoreError

# Piped or logged output (no terminal) would be cut to 80 columns; tables need more.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)


def open_store() -> Store:
    """The workbench's store, for writing (created and migrated on first use)."""
    return Store.open(get_settings().db_path)


def read_store() -> Store:
    """The workbench's store, read-only (many readers may share it); a clear error if absent."""
    try:
        return Store.open_read_only(get_settings().db_path)
    except StoreError as exc:
        fail(str(exc))


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    raise typer.Exit(code=1)
