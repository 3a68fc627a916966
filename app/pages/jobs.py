import streamlit as st

from workbench.app.state import dataset, reader

ds = dataset()
r = reader()
st.title("Jobs")
jobs = r.jobs(ds["dataset_id"])
st.dataframe(jobs, hide_index=True)
if jobs.height == 0:
    st.info("No enrichment job yet: `workbench augment item-attributes`.")
    st.stop()
job_id = st.selectbox("Job", jobs["job_id"].to_list(), key="job_pick")
st.subheader("Manifest")
st.json(r.job_manifest(job_id), expanded=False)
st.subheader("Rejected outputs (raw text and reason)")
page = st.number_input("Page", min_value=0, value=0, step=1, key="rejected_page")
st.dataframe(r.rejected(job_id, int(page)), hide_index=True)
