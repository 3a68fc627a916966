"""A dataset and everything made from it, out as Parquet and back in.

``workbench export DATASET OUT/`` writes one Parquet file per table that holds rows of the
dataset (found from the store's catalog: tables with a ``dataset_id``, and those keyed by the
dataset's jobs or runs, so a plug-in job kind's table travels too) and ``manifest.json``
(format, the workbench version and store migrations it was written with, each table's file,
rows and columns). Plain Parquet: DuckDB (``read_parquet('OUT/*.parquet')``), polars, Spark
and a DuckLake catalog (``ducklake_add_data_files``) read it as it is. Interactions, users and
items are stored by index; join ``interactions`` to ``users``/``items`` on ``user_idx``/
``item_idx`` for the source ids.

``workbench ingest OUT/`` reads an export back under a new dataset id, in one transaction.
The export is written to a temporary folder beside ``OUT`` and renamed when complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from workbench import __version__
from workbench.errors import ConfigError, IngestError, StoreError
from workbench.migrations import all_migrations
from workbench.store import DatasetInfo, Store

FORMAT = "enrichment-workbench-export"
MANIFEST = "manifest.json"


def _tables(store: Store) -> dict[str, list[str]]:
    rows = store.con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE "
        "table_schema = 'main' AND table_name NOT LIKE '\\_%' ESCAPE '\\' "
        "ORDER BY table_name, ordinal_position").fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def _rows_of(table: str, columns: list[str]) -> str | None:
    """The WHERE clause selecting a table's rows of dataset ``$1`` (None: not the dataset's)."""
    if table == "datasets":
        return "dataset_id = $1"
    if "dataset_id" in columns:
        return "dataset_id = $1"
    if "job_id" in columns:
        return "job_id IN (SELECT job_id FROM jobs WHERE dataset_id = $1)"
    if "run_id" in columns:
        return "run_id IN (SELECT run_id FROM runs WHERE dataset_id = $1)"
    return None


def export_dataset(store: Store, dataset: str | None, out: Path) -> dict:
    """Write the dataset's tables as Parquet into ``out`` (absent or empty); the manifest."""
    info = store.dataset(dataset)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty folder: name a new one")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)
    try:
        tables = {}
        for table, columns in _tables(store).items():
            where = _rows_of(table, columns)
            if where is None:
                continue
            path = staging / f"{table}.parquet"
            query = f"SELECT * FROM {table} WHERE {where.replace('$1', str(info.dataset_id))}"
            store.con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet)")
            tables[table] = {"file": path.name, "columns": columns,
                             "rows": pq.ParquetFile(path).metadata.num_rows}
        manifest = {
            "format": FORMAT, "workbench_version": __version__, "dataset": info.name,
            "migrations": [m[0] for m in store.con.execute(
                "SELECT name FROM _migrations ORDER BY applied_at, name").fetchall()],
            "exported_at": datetime.now(timezone.utc).isoformat(), "tables": tables}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if out.exists():
            out.rmdir()
        staging.rename(out)  # complete, or not there at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def is_export(path: Path | None) -> bool:
    return path is not None and Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise IngestError(f"{path / MANIFEST}: not a readable manifest ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise IngestError(f"{path / MANIFEST}: not a workbench export")
    known = {m.__name__ for m in all_migrations()}
    newer = [m for m in manifest.get("migrations", []) if m not in known]
    if newer:
        raise IngestError(f"{path} was written by a newer workbench "
                          f"({manifest.get('workbench_version')}, schema {', '.join(newer)}): "
                          "upgrade the workbench to read it")
    return manifest


def import_export(store: Store, path: Path, name: str | None = None) -> DatasetInfo:
    """Read an export back as a new dataset (all its tables in one transaction)."""
    path = Path(path)
    manifest = read_manifest(path)
    name = name or manifest["dataset"]
    if any(d.name == name for d in store.datasets()):
        raise IngestError(f"{path}: the store already holds a dataset {name!r}; ingest it "
                          "with --name NEW_NAME")
    tables = _tables(store)
    for table, spec in manifest["tables"].items():
        extra = set(spec["columns"]) - set(tables.get(table, []))
        if table not in tables or extra:
            raise IngestError(f"{path}: table {table} ({', '.join(sorted(extra)) or 'all'}) "
                              "is unknown to this workbench: it was written by a newer one")
    order = ["datasets"] + [t for t in manifest["tables"] if t != "datasets"]
    try:
        with store.transaction() as con:
            new_id = con.execute("SELECT coalesce(max(dataset_id), 0) + 1 FROM datasets"
                                 ).fetchone()[0]
            for table in order:
                spec = manifest["tables"][table]
                cols = spec["columns"]
                select = ", ".join(
                    "$id AS dataset_id" if c == "dataset_id" else
                    "$name AS name" if (table, c) == ("datasets", "name") else c
                    for c in cols)
                con.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM "
                            f"read_parquet('{path / spec['file']}')",
                            {"id": new_id, "name": name} if table == "datasets" else
                            {"id": new_id} if "dataset_id" in cols else {})
    except duckdb.ConstraintException as exc:
        raise StoreError(f"{path}: the store already holds rows of this export "
                         f"({str(exc).splitlines()[0]}); read it into another store "
                         "(WORKBENCH_HOME)") from None
    except duckdb.IOException as exc:
        raise IngestError(f"{path}: a file of the export cannot be read "
                          f"({str(exc).splitlines()[0]})") from None
    return store.dataset(name)
