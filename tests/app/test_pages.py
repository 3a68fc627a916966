"""Every page of the dashboard, with streamlit's AppTest, on a small store built here."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import EVIL

MAIN = str(Path(__file__).parents[2] / "app" / "main.py")


def open_app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return "\n".join(t.value for t in at.text)


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_overview(app_store):
    at = open_app()
    assert "Dataset toy (recbole): 30 users, 24 items, 318 interactions" in texts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Items with attributes"] == "24 / 24"
    assert metrics["Users with profiles"] == "30 / 30"
    assert len(at.dataframe) >= 1


def test_items_page_shows_attributes_with_provenance_as_text(app_store):
    at = open_app()
    at.switch_page("pages/items.py").run()
    assert not at.exception
    at.selectbox(key="item_pick").set_value(0).run()
    shown = texts(at)
    assert "model fake-model | prompt item_attributes.movie.v1" in shown
    assert EVIL in shown  # the malicious title is shown verbatim, as text
    assert "<script>" not in markdown(at) and "**bold**" not in markdown(at)
    at.text_input(key="item_query").input("Golden").run()
    titles = at.dataframe[0].value["title"].tolist()
    assert titles and all("Golden" in t for t in titles)


def test_users_page_with_profile_and_two_runs(app_store):
    at = open_app()
    at.switch_page("pages/users.py").run()
    at.text_input(key="user_key").input("3").run()
    assert not at.exception, at.exception
    assert f"Likes dramas {EVIL}" in texts(at)
    assert "<script>" not in markdown(at)
    # two runs side by side, each a top-10 list with held-out items marked
    tables = [df.value for df in at.dataframe if "held_out" in df.value.columns]
    assert len(tables) == 2 and all(len(t) == 10 for t in tables)


def test_users_page_unknown_user(app_store):
    at = open_app()
    at.switch_page("pages/users.py").run()
    at.text_input(key="user_key").input("nobody").run()
    assert "No user 'nobody'" in at.error[0].value


def test_jobs_page_shows_rejected_outputs(app_store):
    at = open_app()
    at.switch_page("pages/jobs.py").run()
    assert not at.exception
    jobs = at.dataframe[0].value
    assert set(jobs["kind"]) == {"item-attributes", "user-profiles"}
    at.selectbox(key="job_pick").set_value(
        jobs.loc[jobs["kind"] == "item-attributes", "job_id"].iloc[0]).run()
    rejected = at.dataframe[1].value
    assert len(rejected) == 24 and set(rejected["raw_text"]) == {"not json"}


def test_runs_page_curves_and_metrics(app_store):
    at = open_app()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    runs = at.dataframe[0].value
    assert set(runs["model"]) == {"lightgcn", "pop"}
    at.selectbox(key="run_pick").set_value(
        runs.loc[runs["model"] == "lightgcn", "run_id"].iloc[0]).run()
    metrics = at.dataframe[1].value
    assert "recall@20" in set(metrics["metric"])


def test_missing_store_is_a_clear_message(workbench_home):
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    assert "run `workbench ingest` first" in at.error[0].value


def test_runs_page_shows_the_ablation_with_error_bars(app_store):
    import json

    from workbench.store import Store

    results = [{"variant": v, "seed": s, "run_id": f"r{v}{s}", "best_epoch": 1,
                "valid": {}, "test": {"recall@20": 0.1 * s, "ndcg@20": 0.05},
                "cold_test": {"recall@20": 0.01, "ndcg@20": 0.01}, "n_cold_pairs": 3}
               for v in ("base", "+edges") for s in (1, 2)]
    for r in results:
        r["tuned"] = {"reg": 1e-4}
    # a tuning run at another grid value: not part of the variant's mean
    results.append({**results[0], "run_id": "tuning", "tuned": {"reg": 1e-2}, "tuning": True,
                    "test": {"recall@20": 9.0, "ndcg@20": 9.0}})
    ci = {"mean_diff": 0.01, "lo": -0.01, "hi": 0.03, "rel": 0.1, "rel_lo": -0.1,
          "rel_hi": 0.3, "n_users": 3}
    summary = [{"variant": "base", "tuned": {"reg": 1e-4}},
               {"variant": "+edges", "tuned": {"reg": 1e-4}, "ci recall@20": ci,
                "ci ndcg@20": ci}]
    with Store.open(app_store) as store:
        store.con.execute("INSERT INTO experiments (experiment_id, dataset_id, kind, config, "
                          "results, summary) VALUES ('ab-1', 1, 'ablation', '{}', ?, ?)",
                          [json.dumps(results), json.dumps(summary)])
    at = open_app()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    summary = [df.value for df in at.dataframe if "std" in df.value.columns][0]
    row = summary[(summary["variant"] == "base") & (summary["part"] == "test")
                  & (summary["metric"] == "recall@20")].iloc[0]
    assert row["mean"] == pytest.approx(0.15) and row["std"] == pytest.approx(0.0707, abs=1e-3)
    cis = [df.value for df in at.dataframe if "Δrecall@20" in df.value.columns][0]
    assert cis["Δrecall@20"].tolist() == ["-", "+10.0% [-10.0%, +30.0%]"]
    def types(node):
        yield getattr(node, "type", "")
        for child in getattr(node, "children", {}).values():
            yield from types(child)

    # the two run curves, plus the ablation chart
    assert sum("vega" in t for t in types(at.main)) == 3


def test_enriched_graph_on_overview_and_items(app_store):
    from workbench.graph.enriched import build_enriched_graph
    from workbench.store import Store
    from tests.graph.helpers import fake_profile_embeddings

    at = open_app()
    at.switch_page("pages/overview.py").run()
    assert "No enriched graph yet: `workbench graph build`." in texts(at)
    with Store.open(app_store) as store:
        fake_profile_embeddings(store, "item", 24, dim=8, every=1, source_kind="item-text")
        build_enriched_graph(store, columns=["class:seq"], codebook_size=4,
                             attribute_job=None, max_item_share=0.9)
    at = open_app()
    at.switch_page("pages/overview.py").run()
    assert not at.exception, at.exception
    counts = [df.value for df in at.dataframe if "node_type" in df.value.columns][0]
    assert {"class", "code:1"} <= set(counts["node_type"])
    at.switch_page("pages/items.py").run()
    at.selectbox(key="item_pick").set_value(1).run()  # "Last Signal": Drama Romance
    nodes = [df.value for df in at.dataframe if "shared_with" in df.value.columns][0]
    classes = nodes[nodes["node_type"] == "class"]
    assert set(classes["value"]) == {"drama", "romance"}
    assert all("|" in s or s for s in classes["shared_with"])  # other items share them


def test_degree_histogram_buckets_in_numeric_order(app_store):
    from workbench.app.queries import Reader

    hist = Reader(app_store).degree_histogram(1, "item")
    assert hist["degree_from"].to_list() == sorted(hist["degree_from"].to_list())
    assert hist["bucket"][0] == "1" or hist["degree_from"][0] > 1
    assert all(b == "1" or b == f"{d}-{2 * d - 1}" for d, b in hist.select("degree_from",
                                                                         "bucket").iter_rows())
    at = open_app()

    def charts(node):
        if getattr(node, "type", "") == "vega_lite_chart":
            yield node
        for child in getattr(node, "children", {}).values():
            yield from charts(child)

    spec = json.loads(next(charts(at.main)).proto.spec)
    order = spec["encoding"]["x"]["sort"]
    assert len(order) > 1
    assert [int(b.split("-")[0]) for b in order] == sorted(int(b.split("-")[0]) for b in order)


def test_users_page_opens_on_the_most_active_user(app_store):
    at = open_app()
    at.switch_page("pages/users.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="user_pick").value == 0
    assert any(t.startswith("User ") for t in (x.value for x in at.text))
    assert at.dataframe[0].value.shape[0] > 0  # the training history of that user


def test_users_page_with_one_finished_run(app_store):
    from workbench.store import Store

    with Store.open(app_store) as store:  # leave one finished run
        keep = store.con.execute("SELECT run_id FROM runs WHERE model = 'pop'").fetchone()[0]
        store.con.execute("DELETE FROM run_embeddings WHERE run_id <> ?", [keep])
        store.con.execute("DELETE FROM run_epochs WHERE run_id <> ?", [keep])
        store.con.execute("DELETE FROM runs WHERE run_id <> ?", [keep])
    at = open_app()
    at.switch_page("pages/users.py").run()
    assert not at.exception, at.exception
    tables = [df.value for df in at.dataframe if "held_out" in df.value.columns]
    assert len(tables) == 2


def test_runs_page_shows_what_a_run_read(app_store):
    from workbench.store import Store

    with Store.open(app_store) as store:
        run_id = store.con.execute("SELECT run_id FROM runs WHERE model = 'lightgcn'"
                                   ).fetchone()[0]
        store.con.execute("UPDATE runs SET sources = ? WHERE run_id = ?",
                          [json.dumps({"edges": "edges-job-1"}), run_id])
    at = open_app()
    at.switch_page("pages/runs.py").run()
    at.selectbox(key="run_pick").set_value(run_id).run()
    inputs = [df.value for df in at.dataframe if "input" in df.value.columns][0]
    assert inputs.to_dict("records") == [{"input": "edges", "job": "edges-job-1"}]


@pytest.mark.slow
def test_a_busy_store_shows_the_last_data_within_seconds(app_store):
    """A writer changes the store and keeps its lock: the page answers within a few seconds
    with a notice and the data it had, and never waits for the writer."""
    import subprocess
    import sys
    import textwrap
    import time

    at = open_app()
    script = textwrap.dedent(f"""
        import time
        from workbench.store import Store
        with Store.open({str(app_store)!r}) as store:
            store.con.execute("UPDATE datasets SET created_at = now()")  # a real write
            print("holding", flush=True)
            time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        start = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - start
    finally:
        holder.kill()
        holder.wait()
    assert not at.exception, at.exception
    assert any("store is busy" in w.value for w in at.warning)
    assert "Dataset toy (recbole)" in texts(at)  # the last data read
    assert elapsed < 10  # bounded by the one-second wait per read, not by the writer's 60 s


def test_the_dashboard_never_upgrades_the_store(tmp_path):
    from workbench.app.queries import Reader
    from workbench.errors import StoreError
    import duckdb

    from workbench.migrations import all_migrations, apply_migrations

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))  # a store written before the last migration existed
    apply_migrations(con, all_migrations()[:-1])
    con.close()
    with pytest.raises(StoreError, match="written by an older workbench"):
        Reader(path, upgrade=False).frame("SELECT 1")
