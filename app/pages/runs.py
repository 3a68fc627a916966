import altair as alt
import polars as pl
import streamlit as st

from workbench.app.state import dataset, reader

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
sources = r.run_sources(run_id)
st.subheader("Inputs: the enrichment jobs this run's view read")
if sources:
    st.dataframe(pl.DataFrame({"input": list(sources), "job": list(sources.values())}),
                 hide_index=True)
else:
    st.text("None: the training interactions only.")
metrics = r.run_metrics(run_id)
st.subheader("Final metrics (validation at the best epoch; test once)")
names = sorted(set(metrics["valid_metrics"]) | set(metrics["test_metrics"]))
st.dataframe(pl.DataFrame({
    "metric": names,
    "valid": [metrics["valid_metrics"].get(n) for n in names],
    "test": [metrics["test_metrics"].get(n) for n in names],
}), hide_index=True)

ablation = r.latest_ablation(ds["dataset_id"])
if ablation is not None:
    experiment_id, results, intervals, inputs = ablation
    st.subheader("Ablation (validation-selected test metrics, mean ± std over seeds)")
    st.text(f"experiment {experiment_id}")
    if inputs:
        st.caption("Enrichment jobs read by each variant's view (the same for all its runs)")
        st.dataframe(pl.DataFrame([{"variant": v, "input": k, "job": j}
                                   for v, got in inputs.items() for k, j in got.items()]),
                     hide_index=True)
    if any("ci recall@20" in s for s in intervals):
        st.caption("Relative difference to the baseline, paired bootstrap 95% interval over "
                   "users (matched seeds); each variant at its setting chosen on validation")
        st.dataframe(pl.DataFrame([{
            "variant": s["variant"],
            "setting": ", ".join(f"{k}={v}" for k, v in s.get("tuned", {}).items()) or "-",
            **{f"Δ{m}": (f"{s[f'ci {m}']['rel']:+.1%} [{s[f'ci {m}']['rel_lo']:+.1%}, "
                         f"{s[f'ci {m}']['rel_hi']:+.1%}]" if f"ci {m}" in s else "-")
               for m in ("recall@20", "ndcg@20")}} for s in intervals]), hide_index=True)
    long = pl.DataFrame([
        {"variant": res["variant"], "seed": res["seed"], "part": part, "metric": m,
         "value": res[part][m]}
        for res in results for part in ("test", "cold_test") for m in ("recall@20", "ndcg@20")
        if m in res.get(part, {})])
    summary = long.group_by("variant", "part", "metric", maintain_order=True).agg(
        pl.col("value").mean().alias("mean"), pl.col("value").std().fill_null(0).alias("std"))
    summary = summary.with_columns((pl.col("mean") - pl.col("std")).alias("low"),
                                   (pl.col("mean") + pl.col("std")).alias("high"))
    st.dataframe(summary, hide_index=True)
    values = alt.Data(values=summary.filter(pl.col("metric") == "recall@20").to_dicts())
    bars = alt.Chart().mark_bar().encode(x=alt.X("variant:N", sort=None),
                                         y=alt.Y("mean:Q", title="Recall@20"))
    errors = alt.Chart().mark_errorbar().encode(x=alt.X("variant:N", sort=None),
                                                y=alt.Y("low:Q", title="Recall@20"), y2="high:Q")
    st.altair_chart(alt.layer(bars, errors, data=values).facet(column="part:N"))
