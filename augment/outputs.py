"""What the other rooms read of the enrichment side: which job, and the rows of a job.

Graph views, exports and the dashboard go through these functions instead of the job tables,
so a kind's table is known to its own module and the registry only.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from workbench.augment.registry import job_kind
from workbench.errors import StoreError
from workbench.store import Store, live_status


def find_job(store: Store, dataset_id: int, kind: str, source_kind: str | None = None,
             job_id: str | None = None) -> str | None:
    """``job_id`` if given (checked to be of ``kind`` and the dataset), else the most recently
    *created* job of ``kind`` with output (for embed jobs: of ``source_kind``); None if none.
    Created, not updated: resuming an older job never changes what a view resolves to."""
    if job_id is not None:
        row = store.con.execute("SELECT kind, dataset_id FROM jobs WHERE job_id = ?",
                                [job_id]).fetchone()
        if row is None:
            raise StoreError(f"unknown job {job_id!r}: `workbench jobs` lists them")
        if row[0] != kind or row[1] != dataset_id:
            raise StoreError(f"job {job_id!r} is a {row[0]} job of another dataset or kind, "
                             f"not a {kind} job of this dataset")
        return job_id
    rows = store.con.execute(
        "SELECT job_id FROM jobs WHERE dataset_id = ? AND kind = ? AND n_done > 0 AND "
        "(? IS NULL OR json_extract_string(manifest, '$.source_kind') = ?) "
        "ORDER BY created_at DESC LIMIT 1",
        [dataset_id, kind, source_kind, source_kind]).fetchall()
    return rows[0][0] if rows else None


def job_rows(store: Store, job_id: str, columns: str = "*") -> pa.Table:
    """The output rows of one job (from its kind's table), as Arrow."""
    row = store.con.execute("SELECT kind FROM jobs WHERE job_id = ?", [job_id]).fetchone()
    if row is None:
        raise StoreError(f"unknown job {job_id!r}: `workbench jobs` lists them")
    table = job_kind(row[0]).output_table
    return store.arrow(f"SELECT {columns} FROM {table} WHERE job_id = ?", [job_id])


def list_jobs(store: Store, dataset_id: int | None = None) -> pl.DataFrame:
    """Jobs in the order they were created, with output throughput; a ``running`` job whose
    process is gone reads ``interrupted`` (rerun it to resume)."""
    frame = store.frame(
        "SELECT j.job_id, d.name AS dataset, j.kind, j.status, j.model, j.prompt_version, "
        "j.n_done, j.n_total, j.n_rejected, j.n_prompt_tokens, j.n_output_tokens, j.llm_s, "
        "round(j.n_output_tokens / nullif(j.llm_s, 0), 1) AS tokens_per_s, "
        "j.created_at, j.updated_at, j.pid, j.host, j.pid_started FROM jobs j JOIN datasets d "
        "USING (dataset_id) WHERE ? IS NULL OR j.dataset_id = ? ORDER BY j.created_at",
        [dataset_id, dataset_id])
    return live_status(frame)
