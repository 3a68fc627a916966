"""Ordered schema migrations of the DuckDB store, recorded in ``_migrations``.

Each migration is a function taking a connection; they run in list order, once each, inside
one transaction per migration. Never edit an applied migration: add a new one at the end.

Every generated row (attributes, profiles, synthetic edges, embeddings) carries its provenance:
the job that wrote it, and through ``jobs`` the model, prompt version/hash, sampling
parameters and manifest. Training runs record config, graph view, seed and metrics.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def m001_core(con: duckdb.DuckDBPyConnection) -> None:
    """Datasets, users, items, interactions (with their split)."""
    con.execute("""
        CREATE TABLE datasets (
            dataset_id   INTEGER PRIMARY KEY,
            name         VARCHAR NOT NULL UNIQUE,
            source_format VARCHAR NOT NULL,
            source_path  VARCHAR,
            source_hash  VARCHAR NOT NULL,   -- sha256 over the source files' bytes
            options      JSON NOT NULL,      -- ingest options (split, seed, implicit, k-core...)
            n_users      INTEGER NOT NULL,
            n_items      INTEGER NOT NULL,
            n_interactions BIGINT NOT NULL,
            created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
        )""")
    con.execute("""
        CREATE TABLE users (
            dataset_id INTEGER NOT NULL,
            user_idx   INTEGER NOT NULL,     -- dense 0..n_users-1, the row of the embedding
            user_key   VARCHAR NOT NULL,     -- the id in the source data
            attrs      JSON,                 -- source side information (age, gender, ...)
            PRIMARY KEY (dataset_id, user_idx),
            UNIQUE (dataset_id, user_key)
        )""")
    con.execute("""
        CREATE TABLE items (
            dataset_id INTEGER NOT NULL,
            item_idx   INTEGER NOT NULL,     -- dense 0..n_items-1
            item_key   VARCHAR NOT NULL,
            title      VARCHAR,
            text       JSON,                 -- every other text field of the source (genres, brand...)
            PRIMARY KEY (dataset_id, item_idx),
            UNIQUE (dataset_id, item_key)
        )""")
    con.execute("""
        CREATE TABLE interactions (
            dataset_id INTEGER NOT NULL,
            user_idx   INTEGER NOT NULL,
            item_idx   INTEGER NOT NULL,
            rating     DOUBLE,
            ts         DOUBLE,               -- source timestamp, or position in a sequence
            split      VARCHAR NOT NULL CHECK (split IN ('train', 'valid', 'test'))
            -- (user, item) is unique per dataset: ingest checks it before writing. No PRIMARY
            -- KEY: its index made bulk ingest 35x slower (bench/bench_ingest.py).
        )""")


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


def m003_runs(con: duckdb.DuckDBPyConnection) -> None:
    """Training runs, their per-epoch history and trained embeddings."""
    con.execute("""
        CREATE TABLE runs (
            run_id      VARCHAR PRIMARY KEY,
            dataset_id  INTEGER NOT NULL,
            model       VARCHAR NOT NULL,
            view        VARCHAR NOT NULL,
            config      JSON NOT NULL,
            seed        INTEGER NOT NULL,
            status      VARCHAR NOT NULL,     -- running, done, failed
            best_epoch  INTEGER,
            valid_metrics JSON,
            test_metrics  JSON,
            wall_s      DOUBLE,
            error       VARCHAR,
            pid         INTEGER,              -- the training process, to tell a killed run
            host        VARCHAR,
            started_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
            finished_at TIMESTAMP
        )""")
    con.execute("""
        CREATE TABLE run_epochs (
            run_id   VARCHAR NOT NULL,
            epoch    INTEGER NOT NULL,
            loss     DOUBLE NOT NULL,
            train_s  DOUBLE NOT NULL,
            eval_s   DOUBLE,
            valid_metrics JSON,               -- null on epochs without evaluation
            PRIMARY KEY (run_id, epoch)
        )""")
    con.execute("""
        CREATE TABLE run_embeddings (
            run_id     VARCHAR NOT NULL,
            entity     VARCHAR NOT NULL CHECK (entity IN ('user', 'item')),
            entity_idx INTEGER NOT NULL,
            vector     FLOAT[] NOT NULL,
            PRIMARY KEY (run_id, entity, entity_idx)
        )""")


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


def m005_run_objectives(con: duckdb.DuckDBPyConnection) -> None:
    """The loss terms of each run (e.g. ``bpr+con+gen``); NULL for runs recorded before."""
    con.execute("ALTER TABLE runs ADD COLUMN objectives VARCHAR")


MIGRATIONS: list[Migration] = [m001_core, m002_generated, m003_runs, m004_experiments,
                               m005_run_objectives]


def pending_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the migrations this store has not had yet (all of them for an empty file)."""
    has_table = con.execute("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_name = '_migrations'").fetchone()[0]
    done = ({row[0] for row in con.execute("SELECT name FROM _migrations").fetchall()}
            if has_table else set())
    return [m.__name__ for m in MIGRATIONS if m.__name__ not in done]


def apply_migrations(con: duckdb.DuckDBPyConnection,
                     migrations: list[Migration] | None = None) -> list[str]:
    """Apply the migrations not yet recorded; returns the names applied now. (``migrations``:
    a prefix of :data:`MIGRATIONS`, for tests of upgrades.)"""
    con.execute(
        "CREATE TABLE IF NOT EXISTS _migrations ("
        "name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    done = {row[0] for row in con.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for migration in MIGRATIONS if migrations is None else migrations:
        name = migration.__name__
        if name in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            migration(con)
            con.execute("INSERT INTO _migrations (name) VALUES (?)", [name])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
