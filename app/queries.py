"""The dashboard's read-only queries. Every filter is a bound parameter; large tables are
paged in DuckDB (LIMIT/OFFSET), never loaded whole.

Each call opens a short-lived read-only connection and closes it, waiting while a writer
holds the file: jobs and training hold the lock only while they write (``Store.released``),
so the dashboard keeps working while they run.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from workbench.store import Store, live_status

PAGE_SIZE = 50


class Reader:
    """Runs read-only queries against one store file."""

    def __init__(self, path: Path, timeout_s: float | None = 30.0, upgrade: bool = True
                 ) -> None:
        self.path, self.timeout_s, self.upgrade = Path(path), timeout_s, upgrade

    def frame(self, sql: str, params: list | None = None) -> pl.DataFrame:
        with Store.open_read_only(self.path, self.timeout_s, upgrade=self.upgrade) as store:
            return store.frame(sql, params)

    def value(self, sql: str, params: list | None = None):
        frame = self.frame(sql, params)
        return frame.item(0, 0) if frame.height else None

    # -- datasets ----------------------------------------------------------------------
    def datasets(self) -> pl.DataFrame:
        return self.frame("SELECT dataset_id, name, source_format, n_users, n_items, "
                          "n_interactions FROM datasets ORDER BY dataset_id")

    def split_counts(self, dataset_id: int) -> pl.DataFrame:
        return self.frame(
            "SELECT split, count(*) AS interactions, count(DISTINCT user_idx) AS users, "
            "count(DISTINCT item_idx) AS items FROM interactions WHERE dataset_id = ? "
            "GROUP BY split ORDER BY array_position(['train', 'valid', 'test'], split)",
            [dataset_id])

    def degree_histogram(self, dataset_id: int, column: str) -> pl.DataFrame:
        """Counts of users (or items) per training degree, in log2 buckets (``degree_from``
        1, 2, 4, ...; ``bucket`` its label "1", "2-3", "4-7"...), in numeric order."""
        col = {"user": "user_idx", "item": "item_idx"}[column]
        frame = self.frame(
            f"SELECT CAST(power(2, floor(log2(d))) AS INTEGER) AS degree_from, count(*) AS n "
            f"FROM (SELECT count(*) AS d FROM interactions WHERE dataset_id = ? AND "
            f"split = 'train' GROUP BY {col}) GROUP BY 1 ORDER BY 1", [dataset_id])
        return frame.with_columns(pl.when(pl.col("degree_from") == 1).then(pl.lit("1"))
                                  .otherwise(pl.format("{}-{}", "degree_from",
                                                       pl.col("degree_from") * 2 - 1))
                                  .alias("bucket"))

    def coverage(self, dataset_id: int) -> dict[str, int]:
        row = self.frame(
            "SELECT (SELECT count(DISTINCT item_idx) FROM item_attributes WHERE dataset_id = ?)"
            " AS items_with_attributes, (SELECT count(DISTINCT entity_idx) FROM profiles WHERE "
            "dataset_id = ? AND entity = 'user') AS users_with_profiles, "
            "(SELECT count(DISTINCT entity_idx) FROM profiles WHERE dataset_id = ? AND "
            "entity = 'item') AS items_with_profiles, (SELECT count(*) FROM embeddings WHERE "
            "dataset_id = ?) AS embeddings, (SELECT count(*) FROM synthetic_edges WHERE "
            "dataset_id = ?) AS synthetic_edges", [dataset_id] * 5)
        return row.row(0, named=True)

    # -- items -------------------------------------------------------------------------
    def search_items(self, dataset_id: int, text: str, page: int = 0) -> pl.DataFrame:
        pattern = f"%{text}%"
        return self.frame(
            "SELECT t.item_idx, t.item_key, t.title, (SELECT count(*) FROM interactions i WHERE "
            "i.dataset_id = t.dataset_id AND i.item_idx = t.item_idx AND split = 'train') AS "
            "train_interactions FROM items t WHERE t.dataset_id = ? AND (? = '' OR "
            "t.title ILIKE ? OR t.item_key = ?) ORDER BY t.item_idx LIMIT ? OFFSET ?",
            [dataset_id, text, pattern, text, PAGE_SIZE, page * PAGE_SIZE])

    def item(self, dataset_id: int, item_idx: int) -> dict | None:
        frame = self.frame("SELECT item_idx, item_key, title, text FROM items "
                           "WHERE dataset_id = ? AND item_idx = ?", [dataset_id, item_idx])
        return frame.row(0, named=True) if frame.height else None

    def item_attributes(self, dataset_id: int, item_idx: int) -> pl.DataFrame:
        return self.frame(
            "SELECT a.attributes, a.job_id, j.model, j.prompt_version, a.created_at FROM "
            "item_attributes a JOIN jobs j USING (job_id) WHERE a.dataset_id = ? AND "
            "a.item_idx = ? ORDER BY a.created_at DESC", [dataset_id, item_idx])

    def profiles(self, dataset_id: int, entity: str, idx: int) -> pl.DataFrame:
        return self.frame(
            "SELECT p.summary, p.profile, p.job_id, j.model, j.prompt_version, p.created_at "
            "FROM profiles p JOIN jobs j USING (job_id) WHERE p.dataset_id = ? AND "
            "p.entity = ? AND p.entity_idx = ? ORDER BY p.created_at DESC",
            [dataset_id, entity, idx])

    def item_neighbours(self, dataset_id: int, item_idx: int, k: int = 10) -> pl.DataFrame:
        """Items most often co-interacted (in training) with this one."""
        return self.frame(
            "SELECT t.item_key, t.title, count(*) AS shared_users FROM interactions a "
            "JOIN interactions b ON a.dataset_id = b.dataset_id AND a.user_idx = b.user_idx "
            "AND b.item_idx != a.item_idx AND b.split = 'train' JOIN items t ON "
            "t.dataset_id = b.dataset_id AND t.item_idx = b.item_idx WHERE a.dataset_id = ? "
            "AND a.item_idx = ? AND a.split = 'train' GROUP BY ALL "
            "ORDER BY shared_users DESC, t.item_key LIMIT ?", [dataset_id, item_idx, k])

    # -- users -------------------------------------------------------------------------
    def user_idx(self, dataset_id: int, user_key: str) -> int | None:
        return self.value("SELECT user_idx FROM users WHERE dataset_id = ? AND user_key = ?",
                          [dataset_id, user_key])

    def users_with_history(self, dataset_id: int, limit: int = 200) -> pl.DataFrame:
        """Users to pick from: those with the most training interactions first."""
        return self.frame(
            "SELECT u.user_key, count(*) AS train_interactions FROM interactions i JOIN users u "
            "USING (dataset_id, user_idx) WHERE i.dataset_id = ? AND i.split = 'train' "
            "GROUP BY u.user_key ORDER BY train_interactions DESC, u.user_key LIMIT ?",
            [dataset_id, limit])

    def train_items(self, dataset_id: int, user_idx: int) -> set[int]:
        frame = self.frame("SELECT item_idx FROM interactions WHERE dataset_id = ? AND "
                           "user_idx = ? AND split = 'train'", [dataset_id, user_idx])
        return set(frame["item_idx"].to_list())

    def items_by_idx(self, dataset_id: int, item_idx: list[int]) -> pl.DataFrame:
        return self.frame("SELECT item_idx, item_key, title FROM items WHERE dataset_id = ? "
                          "AND item_idx IN (SELECT unnest(?))", [dataset_id, item_idx])

    def user_history(self, dataset_id: int, user_idx: int, split: str = "train",
                     page: int = 0) -> pl.DataFrame:
        return self.frame(
            "SELECT t.item_key, t.title, i.rating, i.ts FROM interactions i JOIN items t "
            "USING (dataset_id, item_idx) WHERE i.dataset_id = ? AND i.user_idx = ? AND "
            "i.split = ? ORDER BY i.ts DESC NULLS LAST, t.item_key LIMIT ? OFFSET ?",
            [dataset_id, user_idx, split, PAGE_SIZE, page * PAGE_SIZE])

    def held_out(self, dataset_id: int, user_idx: int) -> set[int]:
        frame = self.frame("SELECT item_idx FROM interactions WHERE dataset_id = ? AND "
                           "user_idx = ? AND split != 'train'", [dataset_id, user_idx])
        return set(frame["item_idx"].to_list())

    def synthetic_edges(self, dataset_id: int, user_idx: int) -> pl.DataFrame:
        return self.frame(
            "SELECT p.title AS liked, n.title AS disliked, e.reason, e.candidates, e.job_id, "
            "e.source_run_id FROM synthetic_edges e JOIN items p ON p.dataset_id = e.dataset_id"
            " AND p.item_idx = e.pos_item_idx JOIN items n ON n.dataset_id = e.dataset_id AND "
            "n.item_idx = e.neg_item_idx WHERE e.dataset_id = ? AND e.user_idx = ?",
            [dataset_id, user_idx])

    # -- jobs and runs -------------------------------------------------------------------
    def jobs(self, dataset_id: int) -> pl.DataFrame:
        return live_status(self.frame(
            "SELECT job_id, kind, status, model, prompt_version, n_done, n_total, n_rejected, "
            "round(n_output_tokens / nullif(llm_s, 0)) AS tokens_per_s, created_at, updated_at, "
            "pid, host, pid_started FROM jobs WHERE dataset_id = ? ORDER BY created_at DESC",
            [dataset_id]))

    def job_manifest(self, job_id: str) -> dict:
        return json.loads(self.value("SELECT manifest FROM jobs WHERE job_id = ?", [job_id]))

    def rejected(self, job_id: str, page: int = 0) -> pl.DataFrame:
        return self.frame(
            "SELECT entity, entity_idx, attempt, reason, raw_text FROM rejected_outputs "
            "WHERE job_id = ? ORDER BY entity_idx, attempt LIMIT ? OFFSET ?",
            [job_id, PAGE_SIZE, page * PAGE_SIZE])

    def runs(self, dataset_id: int) -> pl.DataFrame:
        return live_status(self.frame(
            "SELECT run_id, model, view, objectives, seed, status, best_epoch, "
            "CAST(json_extract(valid_metrics, '$.\"recall@20\"') AS DOUBLE) AS valid_recall20, "
            "CAST(json_extract(test_metrics, '$.\"recall@20\"') AS DOUBLE) AS test_recall20, "
            "CAST(json_extract(test_metrics, '$.\"ndcg@20\"') AS DOUBLE) AS test_ndcg20, "
            "wall_s, sources, started_at, pid, host, pid_started, updated_at FROM runs "
            "WHERE dataset_id = ? ORDER BY started_at DESC", [dataset_id])).drop("updated_at")

    def run_curve(self, run_id: str) -> pl.DataFrame:
        return self.frame(
            "SELECT epoch, loss, CAST(json_extract(valid_metrics, '$.\"recall@20\"') AS DOUBLE)"
            " AS valid_recall20 FROM run_epochs WHERE run_id = ? ORDER BY epoch", [run_id])

    def latest_ablation(self, dataset_id: int
                        ) -> tuple[str, list[dict], list[dict], dict[str, dict]] | None:
        """The newest ablation: its id, the runs of each variant's chosen setting (tuning
        runs at other grid values left out), its summary (intervals; empty if older) and the
        enrichment jobs each variant's view read."""
        frame = self.frame("SELECT experiment_id, results, summary, config FROM experiments WHERE "
                           "dataset_id = ? AND kind = 'ablation' ORDER BY created_at DESC "
                           "LIMIT 1", [dataset_id])
        if frame.height == 0:
            return None
        results = json.loads(frame["results"][0])
        summary = json.loads(frame["summary"][0] or "[]")
        chosen = {s["variant"]: s.get("tuned", {}) for s in summary}
        kept = [r for r in results
                if r["variant"] not in chosen or r.get("tuned", {}) == chosen[r["variant"]]]
        inputs = json.loads(frame["config"][0] or "{}").get("sources", {})
        return frame["experiment_id"][0], kept, summary, inputs

    def graph_node_counts(self, dataset_id: int) -> pl.DataFrame:
        """The enriched graph's node and item-edge counts per node type (empty if none)."""
        return self.frame(
            "SELECT n.node_type, count(DISTINCT n.node_idx) AS nodes, count(*) AS item_edges, "
            "max(n.n_items) AS largest_node FROM graph_nodes n JOIN graph_edges e "
            "USING (dataset_id, node_idx) WHERE n.dataset_id = ? GROUP BY 1 ORDER BY 1",
            [dataset_id])

    def item_nodes(self, dataset_id: int, item_idx: int, k: int = 5) -> pl.DataFrame:
        """An item's attribute and code nodes, with up to ``k`` other items sharing each."""
        return self.frame(
            "SELECT n.node_type, n.value, n.n_items, n.source, "
            "  (SELECT string_agg(coalesce(t.title, t.item_key), ' | ') FROM ("
            "     SELECT o.item_idx FROM graph_edges o WHERE o.dataset_id = n.dataset_id "
            "     AND o.node_idx = n.node_idx AND o.item_idx <> ? ORDER BY o.item_idx LIMIT ?"
            "   ) s JOIN items t ON t.dataset_id = n.dataset_id AND t.item_idx = s.item_idx"
            "  ) AS shared_with "
            "FROM graph_edges e JOIN graph_nodes n USING (dataset_id, node_idx) "
            "WHERE e.dataset_id = ? AND e.item_idx = ? ORDER BY n.node_type, n.value",
            [item_idx, k, dataset_id, item_idx])

    def run_sources(self, run_id: str) -> dict[str, str]:
        """The enrichment jobs a run's view read, by source (its provenance)."""
        return json.loads(self.value("SELECT sources FROM runs WHERE run_id = ?", [run_id])
                          or "{}")

    def run_metrics(self, run_id: str) -> dict:
        row = self.frame("SELECT valid_metrics, test_metrics FROM runs WHERE run_id = ?",
                         [run_id]).row(0, named=True)
        return {k: json.loads(v) if v else {} for k, v in row.items()}
