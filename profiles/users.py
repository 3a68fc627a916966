"""User profiles (LLMRec fields + RLMRec summary) from **training** interactions only.

A profile prompt never sees validation or test interactions: they are what the models are
evaluated on, and a profile built from them would leak the answers into training (a fault
of the reference code). The history is capped at ``max_history`` items, the most recent
first when the data has time, else the highest rated.
"""

from __future__ import annotations

import json

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from workbench.augment.attributes import latest_attributes
from workbench.augment.jobs import WorkItem
from workbench.augment.prompts import load_template
from workbench.augment.registry import JobKindSpec, register_job_kind
from workbench.augment.schemas import UserProfile
from workbench.store import DatasetInfo, Store


def training_histories(store: Store, dataset_id: int, max_history: int) -> pl.DataFrame:
    """Per user: up to ``max_history`` training interactions with titles, newest first."""
    return store.frame(
        "SELECT i.user_idx, i.item_idx, coalesce(t.title, t.item_key) AS title, i.rating, i.ts "
        "FROM interactions i JOIN items t USING (dataset_id, item_idx) "
        "WHERE i.dataset_id = ? AND i.split = 'train' "
        "QUALIFY row_number() OVER (PARTITION BY i.user_idx "
        "  ORDER BY i.ts DESC NULLS LAST, i.rating DESC NULLS LAST, i.item_idx) <= ? "
        "ORDER BY i.user_idx, i.ts DESC NULLS LAST, i.rating DESC NULLS LAST, i.item_idx",
        [dataset_id, max_history])


class UserProfilesJob:
    kind = "user-profiles"
    entity = "user"
    output_table = "profiles"
    key_column = "entity_idx"
    schema: type[BaseModel] = UserProfile
    max_tokens = 384  # a profile with two 400-character texts

    def __init__(self, max_history: int = 30, version: str = "v1") -> None:
        self.max_history = max_history
        self.template = load_template("user_profiles", version)
        self.dataset_id = -1

    def work_items(self, store: Store, dataset: DatasetInfo) -> list[WorkItem]:
        self.dataset_id = dataset.dataset_id
        attrs = latest_attributes(store, dataset.dataset_id)
        history = training_histories(store, dataset.dataset_id, self.max_history)
        items = []
        for (user_idx,), group in history.group_by(["user_idx"], maintain_order=True):
            entries = []
            for item_idx, title, rating in zip(group["item_idx"], group["title"],
                                               group["rating"]):
                entry = {"title": title}
                if rating is not None:
                    entry["rating"] = rating
                if item_idx in attrs:
                    entry["attributes"] = attrs[item_idx]
                entries.append(entry)
            text = json.dumps(entries, ensure_ascii=False)
            items.append(WorkItem(int(user_idx), self.template.messages(history=text),
                                  {"history_items": group["item_idx"].to_list()}))
        return items

    def output_rows(self, items: list[WorkItem], answers: list[BaseModel]) -> pl.DataFrame:
        return profile_rows(self.dataset_id, "user", items, answers)


def profile_rows(dataset_id: int, entity: str, items: list[WorkItem],
                 answers: list[BaseModel]) -> pl.DataFrame:
    return pl.DataFrame({
        "dataset_id": [dataset_id] * len(items),
        "entity": [entity] * len(items),
        "entity_idx": [w.entity_idx for w in items],
        "profile": [a.model_dump_json() for a in answers],
        "summary": [getattr(a, "summary", None) for a in answers],
    }, schema={"dataset_id": pl.Int32, "entity": pl.String, "entity_idx": pl.Int32,
               "profile": pl.String, "summary": pl.String})


class UserProfileOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_history: int = Field(30, description="Training items shown per user.")


register_job_kind(JobKindSpec(
    name="user-profiles", entity="user", output_table="profiles", options=UserProfileOptions,
    summary="User profiles from training interactions only (LLMRec fields, RLMRec summary).",
    build=lambda o, store, info: UserProfilesJob(o.max_history)))
