"""Ordered schema migrations of the DuckDB store, recorded in ``_migrations``.

Each room owns the migrations of its own tables: the core (this module) the datasets and the
run bookkeeping, ``workbench.augment.migrations`` the jobs and what they generate,
``workbench.graph.migrations`` the experiments and the enriched graph. A migration is a
function taking a connection, registered with :func:`register`; they run in registration
order, once each (recorded by name), inside one transaction per migration. Never edit an
applied migration: register a new one. A job kind or plug-in registers the migration of its
own table the same way.

Every generated row (attributes, profiles, synthetic edges, embeddings) carries its provenance:
the job that wrote it, and through ``jobs`` the model, prompt version/hash, sampling
parameters and manifest. Training runs record config, graph view, seed and metrics.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]

_REGISTERED: list[Migration] = []


def register(*migrations: Migration) -> None:
    """Add migrations (in order) to the store's schema; one already registered is skipped."""
    names = {m.__name__ for m in _REGISTERED}
    for migration in migrations:
        if migration.__name__ not in names:
            _REGISTERED.append(migration)
            names.add(migration.__name__)


def all_migrations() -> list[Migration]:
    """Every registered migration in order: the core's, then each room's (imported here)."""
    import workbench.augment.migrations  # noqa: F401  (registers the rooms' tables)
    import workbench.graph.migrations  # noqa: F401

    return list(_REGISTERED)


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


def m005_run_objectives(con: duckdb.DuckDBPyConnection) -> None:
    """The loss terms of each run (e.g. ``bpr+con+gen``); NULL for runs recorded before."""
    con.execute("ALTER TABLE runs ADD COLUMN objectives VARCHAR")


def m006_run_sources(con: duckdb.DuckDBPyConnection) -> None:
    """The enrichment jobs each run's view read (``{"edges": job_id, ...}``); NULL before."""
    con.execute("ALTER TABLE runs ADD COLUMN sources JSON")


def m009_run_owner(con: duckdb.DuckDBPyConnection) -> None:
    """A run's owner process start time (a reused PID is not the owner) and its last write
    (another host's silent run reads interrupted after a while)."""
    con.execute("ALTER TABLE runs ADD COLUMN pid_started BIGINT")
    con.execute("ALTER TABLE runs ADD COLUMN updated_at TIMESTAMP")


register(m001_core, m003_runs, m005_run_objectives, m006_run_sources, m009_run_owner)


def pending_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the migrations this store has not had yet (all of them for an empty file)."""
    has_table = con.execute("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_name = '_migrations'").fetchone()[0]
    done = ({row[0] for row in con.execute("SELECT name FROM _migrations").fetchall()}
            if has_table else set())
    return [m.__name__ for m in all_migrations() if m.__name__ not in done]


def apply_migrations(con: duckdb.DuckDBPyConnection,
                     migrations: list[Migration] | None = None) -> list[str]:
    """Apply the migrations not yet recorded; returns the names applied now. (``migrations``:
    a prefix of :func:`all_migrations`, for tests of upgrades.)"""
    con.execute(
        "CREATE TABLE IF NOT EXISTS _migrations ("
        "name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    done = {row[0] for row in con.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for migration in all_migrations() if migrations is None else migrations:
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
