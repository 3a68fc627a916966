import polars as pl
import streamlit as st

from app.state import dataset, reader

ds = dataset()
r = reader()
st.title("Training runs")
runs = r.runs(ds["dataset_id"])
st.dataframe(runs, hide_index=True)
if runs.height == 0:
    st.info("No training run yet: `workbench train`.")
    st.stop()
run_id = st.selectbox("Run", runs["run_id"].to_list(), key="run_pick")
curve = r.run_curve(run_id)
left, right = st.columns(2)
left.subheader("Training loss")
left.line_chart(curve, x="epoch", y="loss")
right.subheader("Validation Recall@20")
right.line_chart(curve.filter(pl.col("valid_recall20").is_not_null()), x="epoch",
                 y="valid_recall20")
metrics = r.run_metrics(run_id)
st.subheader("Final metrics (validation at the best epoch; test once)")
names = sorted(set(metrics["valid_metrics"]) | set(metrics["test_metrics"]))
st.dataframe(pl.DataFrame({
    "metric": names,
    "valid": [metrics["valid_metrics"].get(n) for n in names],
    "test": [metrics["test_metrics"].get(n) for n in names],
}), hide_index=True)
