import json

import streamlit as st

from workbench.app.state import dataset, reader

ds = dataset()
r = reader()
st.title("Items")
query = st.text_input("Search by title or id", key="item_query")
page = st.number_input("Page", min_value=0, value=0, step=1, key="item_page")
found = r.search_items(ds["dataset_id"], query.strip(), int(page))
st.dataframe(found, hide_index=True)
if found.height == 0:
    st.info("No item matches.")
    st.stop()

labels = [f"{k} | {t}" for k, t in zip(found["item_key"], found["title"])]
pick = st.selectbox("Item", range(found.height), format_func=lambda i: labels[i], key="item_pick")
item = r.item(ds["dataset_id"], int(found["item_idx"][pick]))
st.subheader("Source text")
st.text(f"id {item['item_key']}: {item['title'] or '(no title)'}")
st.json(json.loads(item["text"] or "{}"))
st.text(f"Training interactions: {found['train_interactions'][pick]}")

st.subheader("Generated attributes")
attrs = r.item_attributes(ds["dataset_id"], item["item_idx"])
if attrs.height == 0:
    st.text("None yet: `workbench augment item-attributes`.")
for row in attrs.iter_rows(named=True):
    st.text(f"job {row['job_id']} | model {row['model']} | prompt {row['prompt_version']}")
    st.json(json.loads(row["attributes"]))

st.subheader("Generated profile")
profiles = r.profiles(ds["dataset_id"], "item", item["item_idx"])
if profiles.height == 0:
    st.text("None yet: `workbench augment item-profiles`.")
for row in profiles.iter_rows(named=True):
    st.text(f"job {row['job_id']} | model {row['model']} | prompt {row['prompt_version']}")
    st.text(row["summary"] or "")

st.subheader("Enriched graph: attribute and semantic-ID nodes")
nodes = r.item_nodes(ds["dataset_id"], item["item_idx"])
if nodes.height == 0:
    st.text("None: `workbench graph build` (after `workbench augment embed --source item-text`"
            " for semantic IDs).")
else:
    st.dataframe(nodes, hide_index=True)

st.subheader("Neighbours (co-interacted in training)")
st.dataframe(r.item_neighbours(ds["dataset_id"], item["item_idx"]), hide_index=True)
