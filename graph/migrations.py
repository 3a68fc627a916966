"""Tables of the graph room: experiments and the enriched graph."""

from __future__ import annotations

import duckdb

from workbench.migrations import register


def m004_experiments(con: duckdb.DuckDBPyConnection) -> None:
    """Experiments (e.g. the ablation): their settings and result table."""
    con.execute("""
        CREATE TABLE experiments (
            experiment_id VARCHAR PRIMARY KEY,
            dataset_id  INTEGER NOT NULL,
            kind        VARCHAR NOT NULL,     -- ablation
            config      JSON NOT NULL,
            results     JSON NOT NULL,        -- one object per (variant, seed) run
            created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
        )""")


register(m004_experiments)


def m007_enriched_graph(con: duckdb.DuckDBPyConnection) -> None:
    """The enriched graph of a dataset: attribute and semantic-ID code nodes, their edges to
    items (each with its provenance), and each item's semantic ID."""
    con.execute("""
        CREATE TABLE graph_nodes (
            dataset_id INTEGER NOT NULL,
            node_idx   INTEGER NOT NULL,      -- dense 0..n-1 per dataset (after the items)
            node_type  VARCHAR NOT NULL,      -- the column or schema field: brand, genre, code:1
            value      VARCHAR NOT NULL,      -- the normalized value (a code prefix for codes)
            source     VARCHAR NOT NULL,      -- column:NAME, job:JOB_ID or codes:EMBED_JOB_ID
            n_items    INTEGER NOT NULL,
            PRIMARY KEY (dataset_id, node_idx)
        )""")
    con.execute("""
        CREATE TABLE graph_edges (
            dataset_id INTEGER NOT NULL,
            item_idx   INTEGER NOT NULL,
            node_idx   INTEGER NOT NULL,
            PRIMARY KEY (dataset_id, item_idx, node_idx)
        )""")
    con.execute("""
        CREATE TABLE semantic_ids (
            dataset_id INTEGER NOT NULL,
            item_idx   INTEGER NOT NULL,
            codes      INTEGER[] NOT NULL,    -- coarse to fine
            embed_job  VARCHAR NOT NULL,      -- the text embeddings that were quantized
            PRIMARY KEY (dataset_id, item_idx)
        )""")
    con.execute("""
        CREATE TABLE graph_builds (
            dataset_id INTEGER PRIMARY KEY,
            config     JSON NOT NULL,         -- columns, attribute job, code levels/size, seed
            built_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
        )""")


def m008_experiment_summary(con: duckdb.DuckDBPyConnection) -> None:
    """Per variant of an experiment: chosen settings, metrics per seed, paired intervals."""
    con.execute("ALTER TABLE experiments ADD COLUMN summary JSON")


register(m007_enriched_graph, m008_experiment_summary)
