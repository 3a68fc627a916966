"""Tables of the graph room: experiments (and the enriched graph's nodes and edges)."""

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
