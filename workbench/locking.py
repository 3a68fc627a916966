"""Taking the store's file lock: DuckDB lets one process write *or* many read a file.

Every process keeps its hold short (jobs release it while the LLM generates, training while it
computes) and whoever wants it waits with backoff, for as long as it is willing (``timeout_s``;
None: as long as it takes). After a second of waiting it says once who holds the lock,
through :data:`notice` (the CLI prints it; the default logs it):

    waiting for the store (held by PID 4242: workbench train); it is free again when that
    step is written
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from workbench.errors import StoreBusyError, StoreError

log = logging.getLogger(__name__)

NOTICE_AFTER_S = 1.0
notice: Callable[[str], None] = log.warning  # the CLI points this at the terminal


def holder(message: str) -> str:
    """Who holds the lock, from DuckDB's message: ``PID n: command`` where it can tell."""
    found = re.search(r"PID (\d+)", message)
    if not found:
        return "another process"
    pid = int(found.group(1))
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return f"PID {pid}"
    args = [a for a in args if a]
    for i, arg in enumerate(args):  # `.../bin/workbench train ...` or `-m workbench train`
        if os.path.basename(arg) == "workbench":
            return f"PID {pid}: " + " ".join(["workbench", *args[i + 1:i + 3]])
    return f"PID {pid}: " + " ".join(os.path.basename(a) for a in args[:3])


def connect(path: Path, read_only: bool, timeout_s: float | None = 0.0
            ) -> duckdb.DuckDBPyConnection:
    """A connection to ``path``, waiting up to ``timeout_s`` (None: without limit) while
    another process holds the lock; :class:`StoreBusyError` when the wait runs out."""
    start = time.monotonic()
    delay, told = 0.02, False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise StoreError(f"cannot open the store {path}: {str(exc).splitlines()[0]}. "
                                 "If the file is damaged, move it aside and ingest again"
                                 ) from exc
            waited = time.monotonic() - start
            if timeout_s is not None and waited >= timeout_s:
                raise StoreBusyError(
                    f"the store {path} is locked by another process ({holder(str(exc))}): "
                    "DuckDB allows one writer at a time; wait for it or stop it") from exc
            if not told and waited >= NOTICE_AFTER_S:
                told = True
                notice(f"waiting for the store (held by {holder(str(exc))}); it is free "
                       "again when that process has written its step")
            pause = delay if timeout_s is None else min(delay, timeout_s - waited)
            time.sleep(max(pause, 0.0))
            delay = min(delay * 1.5, 0.5)
        except duckdb.Error as exc:  # a truncated or foreign file, a read-only folder...
            raise StoreError(f"cannot open the store {path}: {str(exc).splitlines()[0]}. "
                             "If the file is damaged, move it aside and ingest again") from exc
