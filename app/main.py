"""The workbench dashboard: `workbench app` (or `streamlit run app/main.py`).

Reads the store of $WORKBENCH_HOME read-only. Data and generated text are shown with
st.text / st.dataframe / st.json only, never as markdown or HTML, so markup or script inside
item text or LLM output does not render.
"""

from __future__ import annotations

import streamlit as st

from workbench.app.state import reader
from workbench.store import StoreError

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
