"""LLMRec's implicit-feedback augmentation: the LLM picks, among a trained base model's top-K
candidates for a user, the one the user would like most and the one they would like least.

Each answer becomes a synthetic (user, positive, negative) triple, stored with the reason and
the candidate list it came from; training views add these triples to BPR
(``graph.views``). Candidates exclude the user's training items; the prompt shows only
training interactions, like every profile prompt.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from workbench.augment.attributes import latest_attributes
from workbench.augment.jobs import WorkItem
from workbench.augment.prompts import load_template
from workbench.augment.registry import JobKindSpec, register_job_kind
from workbench.store import DatasetInfo, Store, StoreError
from workbench.profiles.users import training_histories


class _ChoiceBase(BaseModel):
    @model_validator(mode="after")
    def _different(self):
        if self.liked == self.disliked:
            raise ValueError("liked and disliked must be different candidates")
        return self


def choice_schema(n_candidates: int) -> type[BaseModel]:
    """The answer schema: two different candidate numbers in 1..n and a short reason."""
    number = (int, Field(ge=1, le=n_candidates))
    return create_model("EdgeChoice", __base__=_ChoiceBase, liked=number, disliked=number,
                        reason=(str, Field(max_length=200)))


class EdgesJob:
    kind = "edges"
    entity = "user"
    output_table = "synthetic_edges"
    key_column = "user_idx"
    max_tokens = 128  # two numbers and a reason of up to 200 characters

    def __init__(self, run_id: str, k: int = 10, max_history: int = 20,
                 version: str = "v1") -> None:
        if k < 2:
            raise ValueError("edges need at least 2 candidates per user")
        self.run_id, self.k, self.max_history = run_id, k, max_history
        self.schema = choice_schema(k)
        self.template = load_template("edges", version)
        self.dataset_id = -1

    @property
    def identity(self) -> str:
        """What besides prompt and model decides the output: part of the job id."""
        return f"run={self.run_id};k={self.k};history={self.max_history}"

    def candidates(self, store: Store, dataset: DatasetInfo) -> dict[int, list[int]]:
        """Top-k items of the run per user, training items excluded."""
        from workbench import runs  # torch: imported by the one job kind that ranks
        from workbench.graph.evaluate import top_k
        from workbench.graph.views import load_graph

        run = runs.get_run(store, self.run_id)
        if run["dataset_id"] != dataset.dataset_id:
            raise StoreError(f"run {self.run_id!r} was trained on another dataset")
        user_emb, item_emb = runs.load_embeddings(store, run["run_id"])
        self.run_id = run["run_id"]  # resolve "latest"
        data = load_graph(store, dataset.name, require_valid=False)
        users = np.arange(data.num_users)
        out = {}
        for start in range(0, len(users), 1024):
            batch = users[start:start + 1024]
            ranked = top_k(user_emb, item_emb, batch, self.k, [data.train_csr])
            out.update({int(u): row.tolist() for u, row in zip(batch, ranked)})
        return out

    def work_items(self, store: Store, dataset: DatasetInfo) -> list[WorkItem]:
        self.dataset_id = dataset.dataset_id
        candidates = self.candidates(store, dataset)
        titles = dict(store.con.execute(
            "SELECT item_idx, coalesce(title, item_key) FROM items WHERE dataset_id = ?",
            [dataset.dataset_id]).fetchall())
        attrs = latest_attributes(store, dataset.dataset_id)
        history = training_histories(store, dataset.dataset_id, self.max_history)
        items = []
        for (user_idx,), group in history.group_by(["user_idx"], maintain_order=True):
            cands = candidates[int(user_idx)]
            shown = [{"number": n, "title": titles[i], **({"attributes": attrs[i]}
                                                           if i in attrs else {})}
                     for n, i in enumerate(cands, start=1)]
            past = [{"title": t, **({"rating": r} if r is not None else {})}
                    for t, r in zip(group["title"], group["rating"])]
            messages = self.template.messages(history=json.dumps(past, ensure_ascii=False),
                                              candidates=json.dumps(shown, ensure_ascii=False))
            items.append(WorkItem(int(user_idx), messages, {"candidates": cands}))
        return items

    def output_rows(self, items: list[WorkItem], answers: list[BaseModel]) -> pl.DataFrame:
        cands = [w.extra["candidates"] for w in items]
        return pl.DataFrame({
            "dataset_id": [self.dataset_id] * len(items),
            "user_idx": [w.entity_idx for w in items],
            "pos_item_idx": [c[a.liked - 1] for c, a in zip(cands, answers)],
            "neg_item_idx": [c[a.disliked - 1] for c, a in zip(cands, answers)],
            "reason": [a.reason for a in answers],
            "candidates": cands,
            "source_run_id": [self.run_id] * len(items),
        }, schema={"dataset_id": pl.Int32, "user_idx": pl.Int32, "pos_item_idx": pl.Int32,
                   "neg_item_idx": pl.Int32, "reason": pl.String,
                   "candidates": pl.List(pl.Int32), "source_run_id": pl.String})


class EdgeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str = Field(description="Base run whose top-K are the candidates (a run id, or "
                                 "`latest`).")
    k: int = Field(10, description="Candidates shown per user.",
                   json_schema_extra={"flags": ["-k"]})
    max_history: int = Field(20, description="Training items shown per user.")


register_job_kind(JobKindSpec(
    name="edges", entity="user", output_table="synthetic_edges", options=EdgeOptions,
    summary="LLMRec synthetic edges: the LLM picks liked/disliked among a run's top-K "
            "candidates.",
    build=lambda o, store, info: EdgesJob(o.run, o.k, o.max_history)))
