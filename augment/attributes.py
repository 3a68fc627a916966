"""LLMRec's item attribute generation: per item, attributes under a domain schema."""

from __future__ import annotations

import json

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from workbench.augment.jobs import WorkItem
from workbench.augment.outputs import find_job
from workbench.augment.prompts import load_template
from workbench.augment.registry import JobKindSpec, register_job_kind
from workbench.augment.schemas import ATTRIBUTE_SCHEMAS
from workbench.store import DatasetInfo, Store


def item_records(store: Store, dataset_id: int) -> pl.DataFrame:
    """item_idx and the item's source text as one JSON object string (title + text fields)."""
    frame = store.frame("SELECT item_idx, item_key, title, text FROM items "
                        "WHERE dataset_id = ? ORDER BY item_idx", [dataset_id])
    records = [json.dumps({"title": title or key, **json.loads(text or "{}")},
                          ensure_ascii=False)
               for key, title, text in zip(frame["item_key"], frame["title"], frame["text"])]
    return frame.select("item_idx").with_columns(pl.Series("record", records))


def default_domain(dataset: DatasetInfo) -> str:
    return "product" if dataset.source_format == "amazon" else "movie"


class ItemAttributesJob:
    """Writes ``item_attributes`` rows: one validated JSON object per item."""

    kind = "item-attributes"
    entity = "item"
    output_table = "item_attributes"
    key_column = "item_idx"
    max_tokens = 128  # enough for the schema's bounded fields

    def __init__(self, domain: str = "movie", version: str = "v1") -> None:
        if domain not in ATTRIBUTE_SCHEMAS:
            raise ValueError(f"unknown attribute schema {domain!r}; known: "
                             f"{', '.join(ATTRIBUTE_SCHEMAS)}")
        self.domain = domain
        self.schema: type[BaseModel] = ATTRIBUTE_SCHEMAS[domain]
        self.template = load_template(f"item_attributes.{domain}", version)
        self.dataset_id = -1

    def work_items(self, store: Store, dataset: DatasetInfo) -> list[WorkItem]:
        self.dataset_id = dataset.dataset_id
        records = item_records(store, dataset.dataset_id)
        return [WorkItem(idx, self.template.messages(item=record))
                for idx, record in zip(records["item_idx"], records["record"])]

    def output_rows(self, items: list[WorkItem], answers: list[BaseModel]) -> pl.DataFrame:
        return pl.DataFrame({
            "dataset_id": [self.dataset_id] * len(items),
            "item_idx": [w.entity_idx for w in items],
            "attributes": [a.model_dump_json() for a in answers],
        }, schema={"dataset_id": pl.Int32, "item_idx": pl.Int32, "attributes": pl.String})


def latest_attributes(store: Store, dataset_id: int) -> dict[int, dict]:
    """Item attributes of the newest item-attributes job of a dataset with output (may be
    empty)."""
    job_id = find_job(store, dataset_id, "item-attributes")
    if job_id is None:
        return {}
    rows = store.con.execute("SELECT item_idx, attributes FROM item_attributes WHERE job_id = ?",
                             [job_id]).fetchall()
    return {idx: json.loads(attrs) for idx, attrs in rows}


class AttributeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_name: str | None = Field(None, alias="schema", description=(
        "Attribute schema: " + ", ".join(ATTRIBUTE_SCHEMAS) + " (default: by dataset)."))


register_job_kind(JobKindSpec(
    name="item-attributes", entity="item", output_table="item_attributes",
    summary="LLMRec item attributes for every item, under a JSON schema (structured outputs).",
    options=AttributeOptions,
    build=lambda o, store, info: ItemAttributesJob(o.schema_name or default_domain(info))))
