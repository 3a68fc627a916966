"""Embeddings of generated text with the packaged all-MiniLM-L6-v2 (real encoder, no hub)."""

import json

import numpy as np
import pytest

from workbench.augment.embed import TextEncoder, embed_job, latest_job, render
from workbench.augment.engine import SamplingSettings
from workbench.augment.jobs import JobRunner
from workbench.profiles.users import UserProfilesJob
from tests.augment.fakes import FakeEngine

PROFILE = json.dumps({"age_range": "25-34", "gender": "unknown", "liked_genres": ["Drama"],
                      "disliked_genres": [], "liked_directors": [], "country": "USA",
                      "language": "English", "summary": "Enjoys quiet dramas.",
                      "reasoning": "Rated dramas highly."})


def test_render_attributes_and_profiles():
    assert render("item-attributes", '{"director": "X", "genres": ["A", "B"]}', None) == \
        "director: X\ngenres: A, B"
    assert render("user-profiles", PROFILE, "Enjoys quiet dramas.") == "Enjoys quiet dramas."


@pytest.mark.slow
def test_embed_profiles_resumes_and_is_idempotent(toy_store):
    JobRunner(toy_store, FakeEngine(lambda c, a: PROFILE), SamplingSettings(), "fake").run(
        UserProfilesJob(), toy_store.dataset())
    source = latest_job(toy_store, toy_store.dataset().dataset_id, "user-profiles")
    encoder = TextEncoder()
    job_id, written = embed_job(toy_store, encoder, source, chunk_size=7)
    assert written == 30
    again_id, again = embed_job(toy_store, encoder, source)
    assert again_id == job_id and again == 0
    rows = toy_store.frame("SELECT entity, kind, vector FROM embeddings WHERE job_id = ?",
                           [job_id])
    vectors = np.array(rows["vector"].to_list())
    assert vectors.shape == (30, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert set(rows["entity"]) == {"user"} and set(rows["kind"]) == {"profile"}
    # same text, same vector: the encoder is deterministic and really ran
    assert np.allclose(vectors[0], vectors[1], atol=1e-6)
    other = encoder.encode(["A horror fan who loves slashers."])[0]
    assert float(vectors[0] @ other) < 0.99


def test_embed_without_source_job_is_clear(toy_store):
    from workbench.store import StoreError

    with pytest.raises(StoreError, match="no user-profiles job"):
        latest_job(toy_store, toy_store.dataset().dataset_id, "user-profiles")
