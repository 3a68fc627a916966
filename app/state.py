"""Shared dashboard state: the reader of the configured store (cached, and patient with a busy
store), and the run embeddings cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import streamlit as st

from workbench.app.queries import Reader
from workbench.errors import StoreBusyError
from workbench.settings import get_settings

BUSY_WAIT_S = 1.0  # how long a read waits for a writer before the page shows its last data


def store_version(path: Path) -> tuple[float, ...]:
    """Changes whenever the store (or its write-ahead log) is written."""
    out = []
    for part in (path, path.with_name(path.name + ".wal")):
        try:
            stat = part.stat()
            out += [stat.st_mtime_ns, stat.st_size]
        except FileNotFoundError:
            out += [0, 0]
    return tuple(out)


@st.cache_data(max_entries=512, show_spinner=False)
def _cached_frame(path: str, sql: str, params: str, version: tuple, timeout_s: float
                  ) -> pl.DataFrame:
    """One query's result at one version of the store (a rerun that changed nothing opens
    no connection)."""
    return Reader(Path(path), timeout_s, upgrade=False).frame(sql, json.loads(params))


class DashboardReader(Reader):
    """The dashboard's reader: results cached per store version; a read that cannot get in
    within about a second shows a "store busy" notice and the last data it had (or, on the
    first read, waits with a spinner). It never upgrades the store's schema."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, timeout_s=BUSY_WAIT_S, upgrade=False)

    def frame(self, sql: str, params: list | None = None) -> pl.DataFrame:
        key = json.dumps(params or [], default=str)
        last: dict = st.session_state.setdefault("_last_frames", {})
        try:
            out = _cached_frame(str(self.path), sql, key, store_version(self.path),
                                self.timeout_s)
        except StoreBusyError:
            if (sql, key) in last:
                if not st.session_state.get("_busy_shown"):
                    st.session_state["_busy_shown"] = True
                    st.warning("The store is busy (a job or a training run is writing): "
                               "showing the last data read; it refreshes on the next rerun.")
                return last[(sql, key)]
            with st.spinner("The store is busy (a job or a training run is writing); "
                            "waiting for it..."):
                out = Reader(self.path, upgrade=False).frame(sql, params)
        last[(sql, key)] = out
        return out


def reader() -> Reader:
    st.session_state["_busy_shown"] = False  # one notice per page run
    return DashboardReader(get_settings().db_path)


def dataset() -> dict:
    return st.session_state["dataset"]


@st.cache_data(max_entries=4, show_spinner=False)
def run_embeddings(db_path: str, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    from workbench import runs
    from workbench.store import Store

    with Store.open_read_only(db_path, timeout_s=None, upgrade=False) as store:
        users, items = runs.load_embeddings(store, run_id)
    return users.numpy(), items.numpy()


def recommend(run_id: str, user_idx: int, exclude: set[int], k: int) -> list[int]:
    """Top-k item indices of a run for a user, ``exclude`` ranked last."""
    users, items = run_embeddings(str(get_settings().db_path), run_id)
    scores = items @ users[user_idx]
    if exclude:
        scores[list(exclude)] = -np.inf
    top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
    return top[np.argsort(-scores[top])].tolist()
