import altair as alt
import streamlit as st

from workbench.app.state import dataset, reader

ds = dataset()
st.title("Overview")
st.text(f"Dataset {ds['name']} ({ds['source_format']}): {ds['n_users']:,} users, "
        f"{ds['n_items']:,} items, {ds['n_interactions']:,} interactions")
r = reader()
st.subheader("Interactions per split")
st.dataframe(r.split_counts(ds["dataset_id"]), hide_index=True)

left, right = st.columns(2)
for column, entity in ((left, "user"), (right, "item")):
    hist = r.degree_histogram(ds["dataset_id"], entity)
    column.subheader(f"{entity.title()} training degree")
    column.altair_chart(alt.Chart(alt.Data(values=hist.to_dicts())).mark_bar().encode(
        x=alt.X("bucket:O", sort=hist["bucket"].to_list(), title="training degree (log2 buckets)"),
        y=alt.Y("n:Q", title=f"{entity}s")), width="stretch")

st.subheader("Enrichment coverage")
cov = r.coverage(ds["dataset_id"])
cols = st.columns(5)
cols[0].metric("Items with attributes", f"{cov['items_with_attributes']:,} / {ds['n_items']:,}")
cols[1].metric("Users with profiles", f"{cov['users_with_profiles']:,} / {ds['n_users']:,}")
cols[2].metric("Items with profiles", f"{cov['items_with_profiles']:,} / {ds['n_items']:,}")
cols[3].metric("Embeddings", f"{cov['embeddings']:,}")
cols[4].metric("Synthetic edges", f"{cov['synthetic_edges']:,}")

st.subheader("Enriched graph")
nodes = r.graph_node_counts(ds["dataset_id"])
if nodes.height == 0:
    st.text("No enriched graph yet: `workbench graph build`.")
else:
    st.dataframe(nodes, hide_index=True)
