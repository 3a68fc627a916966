"""The DuckDB store: one file that holds the dataset, what the LLM generated, and training runs.

This is the one place that opens connections (through :mod:`workbench.locking`). DuckDB allows
one read-write process *or* many read-only ones on a file, so writers hold the lock only while
they write (``released`` blocks around generation and training) and readers (the dashboard)
open short-lived read-only connections; whoever finds it held waits and says for whom.

    store = Store.open(path)            # creates the file and applies migrations
    with store.transaction() as con:    # all-or-nothing writes
        con.execute(...)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from workbench import locking, processes
from workbench.errors import StoreBusyError, StoreError
from workbench.migrations import apply_migrations, pending_migrations

__all__ = ["DatasetInfo", "Store", "StoreBusyError", "StoreError", "live_status", "to_matrix"]


@dataclass(frozen=True)
class DatasetInfo:
    dataset_id: int
    name: str
    source_format: str
    n_users: int
    n_items: int
    n_interactions: int


class _Released:
    """Stands in for the connection while a store has given its lock up: using it outside
    :meth:`Store.transaction` is a programming error, said plainly."""

    def __getattr__(self, name: str) -> object:
        raise StoreError("internal: the store was used while released (write inside "
                         "store.transaction())")


class Store:
    """A DuckDB store file. Use :meth:`open` for writing, :meth:`open_read_only` for reading.

    A writer keeps the file lock only as long as it must: :meth:`released` gives it up for a
    block (an LLM generating, a model training) in which each :meth:`transaction` connects,
    writes and lets go again.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, timeout_s: float | None = None) -> Store:
        """Open (or create) the store for writing and bring its schema up to date, waiting
        up to ``timeout_s`` (None: as long as it takes) for another writer."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store's folder {path.parent}: "
                             f"{exc.strerror}") from exc
        con = locking.connect(path, read_only=False, timeout_s=timeout_s)
        try:
            apply_migrations(con)
        except duckdb.Error as exc:
            con.close()
            raise StoreError(f"cannot read the store {path}: {str(exc).splitlines()[0]}. If "
                             "the file is damaged, move it aside and ingest again") from exc
        return cls(con, path, read_only=False)

    @contextmanager
    def released(self) -> Iterator[None]:
        """Give the file lock up for the length of the block (an LLM generating, a model
        training): others may read and write meanwhile; each :meth:`transaction` inside takes
        the lock for its own length. Afterwards the store holds it again (waiting for it)."""
        if isinstance(self.con, _Released):
            yield
            return
        self.con.close()
        self.con = _Released()  # type: ignore[assignment]
        try:
            yield
        finally:
            self.con = locking.connect(self.path, read_only=self.read_only, timeout_s=None)

    @classmethod
    def open_read_only(cls, path: str | Path, timeout_s: float | None = 5.0,
                       upgrade: bool = True) -> Store:
        """Open an existing store read-only, waiting up to ``timeout_s`` (None: as long as it
        takes) while a writer holds the lock. A store of an older schema is upgraded first,
        unless ``upgrade`` is False (then an error)."""
        path = Path(path)
        if not path.exists():
            raise StoreError(f"no store at {path}: run `workbench ingest` first")
        con = locking.connect(path, read_only=True, timeout_s=timeout_s)
        try:
            pending = pending_migrations(con)
        except duckdb.Error as exc:
            con.close()
            raise StoreError(f"cannot read the store {path}: {str(exc).splitlines()[0]}. If "
                             "the file is damaged, move it aside and ingest again") from exc
        if pending:  # a store written by an older workbench: upgrade it once
            con.close()
            if not upgrade:
                raise StoreError(f"the store at {path} was written by an older workbench: "
                                 "any `workbench` command (e.g. `workbench datasets`) "
                                 "upgrades it")
            try:
                cls.open(path, timeout_s=timeout_s).close()
            except StoreBusyError as exc:
                raise StoreError(f"the store at {path} needs a schema upgrade and another "
                                 "process is writing it; try again when it is done") from exc
            con = locking.connect(path, read_only=True, timeout_s=timeout_s)
        return cls(con, path, read_only=True)

    def close(self) -> None:
        if not isinstance(self.con, _Released):
            self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: commits at the end of the block, rolls back on any exception. A
        failed write (disk full, file too large) becomes a :class:`StoreError` saying so.
        In a :meth:`released` block it takes the lock for its own length only."""
        if isinstance(self.con, _Released):
            self.con = locking.connect(self.path, read_only=self.read_only, timeout_s=None)
            try:
                with self.transaction() as con:
                    yield con
            finally:
                self.con.close()
                self.con = _Released()  # type: ignore[assignment]
            return
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


def live_status(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of runs or jobs with ``status``, ``pid`` and ``host`` (and, where present,
    ``pid_started`` and ``updated_at``): a ``running`` row whose process is gone (killed,
    crashed machine, PID reused, another host silent too long) reads ``interrupted``; the
    owner columns are dropped."""
    n = frame.height
    started = frame["pid_started"] if "pid_started" in frame.columns else [None] * n
    updated = frame["updated_at"] if "updated_at" in frame.columns else [None] * n
    status = ["interrupted" if s == "running" and not processes.alive(p, h, st, u) else s
              for s, p, h, st, u in zip(frame["status"], frame["pid"], frame["host"], started,
                                        updated)]
    return frame.with_columns(pl.Series("status", status, dtype=pl.String)).drop(
        [c for c in ("pid", "host", "pid_started") if c in frame.columns])
