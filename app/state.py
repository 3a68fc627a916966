"""Shared dashboard state: the reader of the configured store, and run embeddings cache."""

from __future__ import annotations

import numpy as np
import streamlit as st

from workbench.app.queries import Reader
from workbench.settings import get_settings


def reader() -> Reader:
    return Reader(get_settings().db_path)


def dataset() -> dict:
    return st.session_state["dataset"]


@st.cache_data(max_entries=4, show_spinner=False)
def run_embeddings(db_path: str, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    from workbench import runs
    from workbench.store import Store

    with Store.open_read_only(db_path, retries=120) as store:
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
