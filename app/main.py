"""The workbench dashboard: `workbench app` (or `streamlit run app/main.py`).

Reads the store of $WORKBENCH_HOME read-only. Data and generated text are shown with
st.text / st.dataframe / st.json only, never as markdown or HTML, so markup or script inside
item text or LLM output does not render.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` from a source checkout
    sys.path.insert(0, str(ROOT))

from app.state import reader  # noqa: E402
from graph.store import StoreError  # noqa: E402

st.set_page_config(page_title="Enrichment workbench", layout="wide")

try:
    datasets = reader().datasets()
except StoreError as exc:
    st.error(str(exc))
    st.stop()
if datasets.height == 0:
    st.warning("The store holds no dataset yet: run `workbench ingest`.")
    st.stop()

names = datasets["name"].to_list()
choice = st.sidebar.selectbox("Dataset", names, index=len(names) - 1, key="dataset_name")
st.session_state["dataset"] = datasets.row(names.index(choice), named=True)

pages = st.navigation([
    st.Page("pages/overview.py", title="Overview", default=True),
    st.Page("pages/items.py", title="Items"),
    st.Page("pages/users.py", title="Users"),
    st.Page("pages/jobs.py", title="Jobs"),
    st.Page("pages/runs.py", title="Runs"),
])
pages.run()
