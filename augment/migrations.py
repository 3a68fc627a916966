"""Tables of the augment room: LLM jobs and what they generate, each row with its provenance."""

from __future__ import annotations

import duckdb

from workbench.migrations import register


def m002_generated(con: duckdb.DuckDBPyConnection) -> None:
    """LLM jobs and what they generate, each row with its provenance."""
    con.execute("""
        CREATE TABLE jobs (
            job_id      VARCHAR PRIMARY KEY,
            dataset_id  INTEGER NOT NULL,
            kind        VARCHAR NOT NULL,    -- item-attributes, user-profiles, item-profiles, edges, embed
            status      VARCHAR NOT NULL,    -- running, done, failed
            model       VARCHAR NOT NULL,
            prompt_version VARCHAR,
            prompt_hash VARCHAR,
            sampling    JSON,
            manifest    JSON NOT NULL,       -- model, engine version, template, schema, seed...
            n_total     INTEGER,
            n_done      INTEGER NOT NULL DEFAULT 0,
            n_rejected  INTEGER NOT NULL DEFAULT 0,
            n_prompt_tokens BIGINT NOT NULL DEFAULT 0,
            n_output_tokens BIGINT NOT NULL DEFAULT 0,
            llm_s       DOUBLE NOT NULL DEFAULT 0,  -- seconds spent in generation
            pid         INTEGER,              -- the process last running it
            host        VARCHAR,
            created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
            updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
        )""")
    con.execute("""
        CREATE TABLE item_attributes (
            job_id     VARCHAR NOT NULL,
            dataset_id INTEGER NOT NULL,
            item_idx   INTEGER NOT NULL,
            attributes JSON NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (job_id, item_idx)
        )""")
    con.execute("""
        CREATE TABLE profiles (
            job_id     VARCHAR NOT NULL,
            dataset_id INTEGER NOT NULL,
            entity     VARCHAR NOT NULL CHECK (entity IN ('user', 'item')),
            entity_idx INTEGER NOT NULL,
            profile    JSON NOT NULL,
            summary    VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (job_id, entity, entity_idx)
        )""")
    con.execute("""
        CREATE TABLE synthetic_edges (
            job_id       VARCHAR NOT NULL,
            dataset_id   INTEGER NOT NULL,
            user_idx     INTEGER NOT NULL,
            pos_item_idx INTEGER NOT NULL,
            neg_item_idx INTEGER NOT NULL,
            reason       VARCHAR,
            candidates   INTEGER[] NOT NULL,  -- the base model's candidate list shown to the LLM
            source_run_id VARCHAR NOT NULL,
            created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (job_id, user_idx)
        )""")
    con.execute("""
        CREATE TABLE embeddings (
            job_id     VARCHAR NOT NULL,
            dataset_id INTEGER NOT NULL,
            entity     VARCHAR NOT NULL CHECK (entity IN ('user', 'item')),
            entity_idx INTEGER NOT NULL,
            kind       VARCHAR NOT NULL,      -- what was embedded: profile, attributes...
            vector     FLOAT[] NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (job_id, entity, entity_idx, kind)
        )""")
    con.execute("""
        CREATE TABLE rejected_outputs (
            job_id     VARCHAR NOT NULL,
            entity     VARCHAR NOT NULL,
            entity_idx INTEGER NOT NULL,
            attempt    INTEGER NOT NULL,
            raw_text   VARCHAR,
            reason     VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (job_id, entity, entity_idx, attempt)
        )""")


def m010_job_owner(con: duckdb.DuckDBPyConnection) -> None:
    """The start time of the process running a job (a reused PID is not the owner)."""
    con.execute("ALTER TABLE jobs ADD COLUMN pid_started BIGINT")


register(m002_generated, m010_job_owner)
