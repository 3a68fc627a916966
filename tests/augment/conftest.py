from __future__ import annotations

import pytest

from workbench.augment.engine import EngineSettings, LLMEngine
from tests.augment.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_model):
    """One real vLLM engine for the whole session (vLLM wants one per process)."""
    return LLMEngine(EngineSettings(model=str(tiny_model), max_model_len=2048, max_num_seqs=16),
                     str(tiny_model))
