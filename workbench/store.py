"""The DuckDB store: one file that holds the dataset, what the LLM generated, and training runs.

This is the one place that opens connections. DuckDB allows one read-write process *or* many
read-only ones on a file, so writers keep their connection for the length of one job and
readers (the dashboard) open short-lived read-only connections.

    store = Store.open(path)            # creates the file and applies migrations
    with store.transaction() as con:    # all-or-nothing writes
        con.execute(...)
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from workbench.errors import StoreBusyError, StoreError
from workbench.migrations import apply_migrations, pending_migrations

__all__ = ["DatasetInfo", "Store", "StoreError", "live_status", "process_alive", "to_matrix"]


@dataclass(frozen=True)
class DatasetInfo:
    dataset_id: int
    name: str
    source_format: str
    n_users: int
    n_items: int
    n_interactions: int


class Store:
    """A DuckDB store file. Use :meth:`open` for writing, :meth:`open_read_only` for reading."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, retries: int = 0, wait_s: float = 0.25) -> Store:
        """Open (or create) the store for writing and bring its schema up to date."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(path, read_only=False, retries=retries, wait_s=wait_s)
        apply_migrations(con)
        return cls(con, path, read_only=False)

    @contextmanager
    def released(self, retries: int = 1200, wait_s: float = 0.1) -> Iterator[None]:
        """Give the file lock up for the length of the block (e.g. while an LLM generates).

        DuckDB lets one process write *or* many read a file; a job that held its connection
        for an hour would lock the dashboard out for an hour. Jobs release it between chunks
        and take it back (waiting for short-lived readers to finish) to write.
        """
        self.con.close()
        try:
            yield
        finally:
            self.con = _connect(self.path, read_only=self.read_only, retries=retries,
                                wait_s=wait_s)

    @classmethod
    def open_read_only(cls, path: str | Path, retries: int = 20, wait_s: float = 0.25,
                       upgrade: bool = True) -> Store:
        """Open an existing store read-only, retrying while a writer holds the lock. A store
        of an older schema is upgraded first, unless ``upgrade`` is False (then an error)."""
        path = Path(path)
        if not path.exists():
            raise StoreError(f"no store at {path}: run `workbench ingest` first")
        con = _connect(path, read_only=True, retries=retries, wait_s=wait_s)
        if pending_migrations(con):  # a store written by an older workbench: upgrade it once
            con.close()
            if not upgrade:
                raise StoreError(f"the store at {path} was written by an older workbench: "
                                 "any `workbench` command (e.g. `workbench datasets`) "
                                 "upgrades it")
            try:
                cls.open(path, retries=retries, wait_s=wait_s).close()
            except StoreError as exc:
                raise StoreError(f"the store at {path} needs a schema upgrade and another "
                                 "process is writing it; try again when it is done") from exc
            con = _connect(path, read_only=True, retries=retries, wait_s=wait_s)
        return cls(con, path, read_only=True)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: commits at the end of the block, rolls back on any exception. A
        failed write (disk full, file too large) becomes a :class:`StoreError` saying so."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
            self.con.execute("COMMIT")
        except BaseException as exc:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:  # the failed COMMIT already ended the transaction
                pass
            if isinstance(exc, duckdb.IOException) or (
                    isinstance(exc, duckdb.TransactionException)
                    and "could not write" in str(exc).lower()):
                raise StoreError(f"could not write the store {self.path}: {exc}. This step "
                                 "was rolled back; what was written before it is kept. "
                                 "Is the disk full?") from exc
            raise

    def insert_frame(self, table: str, frame: pl.DataFrame) -> None:
        """Bulk insert a polars frame (through Arrow) into ``table``, matching columns by name."""
        if frame.height == 0:
            return
        view = f"_insert_{table}"
        self.con.register(view, frame.to_arrow())
        try:
            cols = ", ".join(frame.columns)
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {view}")
        finally:
            try:
                self.con.unregister(view)
            except duckdb.Error:  # the failed insert aborted the transaction: the caller's
                pass  # rollback drops the view, and the insert's error is the one to see

    # -- reading ---------------------------------------------------------------------------
    def arrow(self, sql: str, params: list | None = None) -> pa.Table:
        """Run a query with bound parameters and fetch the whole result as an Arrow table."""
        with warnings.catch_warnings():  # "extra copy" advice: fine at our result sizes
            warnings.simplefilter("ignore", UserWarning)
            return self.con.execute(sql, params or []).to_arrow_table()

    def frame(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """Run a query with bound parameters and return a polars frame."""
        return pl.from_arrow(self.arrow(sql, params))

    def datasets(self) -> list[DatasetInfo]:
        rows = self.con.execute(
            "SELECT dataset_id, name, source_format, n_users, n_items, n_interactions "
            "FROM datasets ORDER BY dataset_id"
        ).fetchall()
        return [DatasetInfo(*row) for row in rows]

    def dataset(self, name: str | None = None) -> DatasetInfo:
        """The named dataset, or the only/most recent one when ``name`` is None."""
        found = self.datasets()
        if not found:
            raise StoreError(f"the store {self.path} holds no dataset: run `workbench ingest`")
        if name is None:
            return found[-1]
        for info in found:
            if info.name == name:
                return info
        known = ", ".join(d.name for d in found)
        raise StoreError(f"unknown dataset {name!r}; the store holds: {known}")


def to_matrix(column: pa.ChunkedArray) -> np.ndarray:
    """A column of equal-length float lists (e.g. FLOAT[] vectors) as a 2-D float32 array."""
    column = column.combine_chunks()
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return flat.reshape(len(column), -1)


def _connect(path: Path, read_only: bool, retries: int = 0, wait_s: float = 0.25):
    for attempt in range(retries + 1):
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise StoreError(f"cannot open store {path}: {exc}") from exc
            if attempt == retries:
                raise StoreBusyError(
                    f"the store {path} is locked by another process (a running job or "
                    f"training?). DuckDB allows one writer at a time; wait for it or stop it. "
                    f"({exc})"
                ) from exc
            time.sleep(wait_s)
    raise AssertionError("unreachable")


def process_alive(pid: int | None, host: str | None) -> bool:
    """Whether the process that wrote a ``running`` row may still be at work."""
    if pid is None or host != socket.gethostname():
        return host != socket.gethostname()  # another machine's process: cannot tell, trust it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_status(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of runs or jobs with ``status``, ``pid`` and ``host``: a ``running`` row whose
    process is gone (killed, crashed machine) reads ``interrupted``; pid and host dropped."""
    status = ["interrupted" if s == "running" and not process_alive(p, h) else s
              for s, p, h in zip(frame["status"], frame["pid"], frame["host"])]
    return frame.with_columns(pl.Series("status", status, dtype=pl.String)).drop("pid", "host")
