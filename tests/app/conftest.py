from __future__ import annotations

import json

import pytest

from workbench.augment.attributes import ItemAttributesJob
from workbench.augment.engine import SamplingSettings
from workbench.augment.jobs import JobRunner
from workbench.data import TOY_DIR
from workbench.graph.ingest import IngestOptions, ingest
from workbench.store import Store
from workbench.graph.train import TrainConfig, train
from workbench.profiles.users import UserProfilesJob
from tests.augment.fakes import FakeEngine

EVIL = "<script>alert('x')</script> **bold** <b>markup</b>"
ATTRS = json.dumps({"director": EVIL, "country": "USA", "language": "English",
                    "release_year": 1995, "genres": ["Drama"]})
PROFILE = json.dumps({"age_range": "25-34", "gender": "unknown", "liked_genres": ["Drama"],
                      "disliked_genres": [], "liked_directors": [], "country": "USA",
                      "language": "English", "summary": f"Likes dramas {EVIL}",
                      "reasoning": "Rated dramas highly."})


@pytest.fixture
def app_store(workbench_home, tmp_path):
    """A small store like a user's after ingest, enrichment (scripted) and two runs."""
    path = workbench_home / "workbench.duckdb"
    with Store.open(path) as store:
        ingest(store, IngestOptions(path=TOY_DIR), tmp_path)
        store.con.execute("UPDATE items SET title = ? WHERE item_idx = 0", [EVIL])
        fake = FakeEngine(lambda c, a: ATTRS if a else "not json")
        JobRunner(store, fake, SamplingSettings(), "fake-model").run(
            ItemAttributesJob(), store.dataset())
        JobRunner(store, FakeEngine(lambda c, a: PROFILE), SamplingSettings(), "fake-model").run(
            UserProfilesJob(), store.dataset())
        fast = dict(max_epochs=4, min_epochs=1, eval_every=2, batch_size=64, embedding_dim=8)
        train(store, TrainConfig(**fast, model="pop"))
        train(store, TrainConfig(**fast))
    return path
