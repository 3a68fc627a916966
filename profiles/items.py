"""RLMRec-style item profiles: what kind of user would enjoy the item, and why."""

from __future__ import annotations

import json

import polars as pl
from pydantic import BaseModel

from workbench.augment.attributes import item_records, latest_attributes
from workbench.augment.jobs import WorkItem
from workbench.augment.prompts import load_template
from workbench.augment.registry import JobKindSpec, register_job_kind
from workbench.augment.schemas import ItemProfile
from workbench.store import DatasetInfo, Store
from workbench.profiles.users import profile_rows


class ItemProfilesJob:
    kind = "item-profiles"
    entity = "item"
    output_table = "profiles"
    key_column = "entity_idx"
    schema: type[BaseModel] = ItemProfile
    max_tokens = 320  # two texts of up to 400 chars; at 256, 174 answers (attempts) for the
    # first 251 Amazon-Beauty items ended mid-JSON

    def __init__(self, version: str = "v1") -> None:
        self.template = load_template("item_profiles", version)
        self.dataset_id = -1

    def work_items(self, store: Store, dataset: DatasetInfo) -> list[WorkItem]:
        self.dataset_id = dataset.dataset_id
        attrs = latest_attributes(store, dataset.dataset_id)
        records = item_records(store, dataset.dataset_id)
        items = []
        for idx, record in zip(records["item_idx"], records["record"]):
            if idx in attrs:
                record = json.dumps({**json.loads(record), "attributes": attrs[idx]},
                                    ensure_ascii=False)
            items.append(WorkItem(idx, self.template.messages(item=record)))
        return items

    def output_rows(self, items: list[WorkItem], answers: list[BaseModel]) -> pl.DataFrame:
        return profile_rows(self.dataset_id, "item", items, answers)


register_job_kind(JobKindSpec(
    name="item-profiles", entity="item", output_table="profiles",
    summary="RLMRec item profiles: what kind of user would enjoy each item.",
    build=lambda o, store, info: ItemProfilesJob()))
