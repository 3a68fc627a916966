import json

import polars as pl
import streamlit as st

from workbench.app.state import dataset, reader, recommend

ds = dataset()
r = reader()
st.title("Users")
pick_list = r.users_with_history(ds["dataset_id"])
if pick_list.height == 0:
    st.info("No user has training interactions in this dataset.")
    st.stop()
labels = [f"{k} ({n} training interactions)" for k, n in pick_list.iter_rows()]
left, right = st.columns(2)
picked = left.selectbox("User (most active first)", range(pick_list.height),
                        format_func=lambda i: labels[i], key="user_pick")
typed = right.text_input("Or type a user id (as in your source data)", key="user_key")
key = typed.strip() or pick_list["user_key"][picked]
user_idx = r.user_idx(ds["dataset_id"], key)
if user_idx is None:
    st.error(f"No user {key!r} in dataset {ds['name']}.")
    st.stop()
st.text(f"User {key}")

st.subheader("Training history")
st.dataframe(r.user_history(ds["dataset_id"], user_idx), hide_index=True)

st.subheader("Generated profile")
profiles = r.profiles(ds["dataset_id"], "user", user_idx)
if profiles.height == 0:
    st.text("None yet: `workbench augment user-profiles`.")
for row in profiles.iter_rows(named=True):
    st.text(f"job {row['job_id']} | model {row['model']} | prompt {row['prompt_version']}")
    st.text(row["summary"] or "")
    st.json(json.loads(row["profile"]))

st.subheader("Synthetic triples (LLM-chosen liked / disliked candidates)")
edges = r.synthetic_edges(ds["dataset_id"], user_idx)
if edges.height:
    st.dataframe(edges, hide_index=True)
else:
    st.text("None yet.")

st.subheader("Recommendations: two runs side by side")
runs = r.runs(ds["dataset_id"]).filter(pl.col("status") == "done")
if runs.height == 0:
    st.text("No finished training run yet: `workbench train`.")
    st.stop()
ids = runs["run_id"].to_list()
k = st.slider("K", 5, 50, 10, key="rec_k")
held = r.held_out(ds["dataset_id"], user_idx)
train_items = r.train_items(ds["dataset_id"], user_idx)
for column, side, default in zip(st.columns(2), ("left", "right"), (min(1, len(ids) - 1), 0)):
    run_id = column.selectbox("Run", ids, index=default, key=f"run_{side}")
    top = recommend(run_id, user_idx, train_items, k)
    order = {idx: pos for pos, idx in enumerate(top)}
    table = r.items_by_idx(ds["dataset_id"], top).with_columns(
        pl.col("item_idx").replace_strict(order).alias("rank"),
        pl.col("item_idx").is_in(list(held)).alias("held_out")).sort("rank")
    column.dataframe(table.select((pl.col("rank") + 1), "item_key", "title", "held_out"),
                     hide_index=True)
