"""Versioned prompt templates, kept as files a user can read and edit.

A template file ``NAME.vN.txt`` holds ``[system]`` and ``[user]`` sections; ``$name``
placeholders are filled with JSON-encoded data (never raw text), so quotes and instructions
inside item text stay data. The template's SHA-256 is recorded with every job.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

PROMPTS_DIR = Path(__file__).parent


@dataclass(frozen=True)
class PromptTemplate:
    name: str  # e.g. item_attributes.movie
    version: str  # e.g. v1
    system: str
    user: str
    sha256: str

    @property
    def id(self) -> str:
        return f"{self.name}.{self.version}"

    def messages(self, **data: str) -> list[dict[str, str]]:
        """Chat messages with the (already JSON-encoded) data substituted."""
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": Template(self.user).substitute(**data)}]


def load_template(name: str, version: str = "v1", folder: Path | None = None) -> PromptTemplate:
    path = (folder or PROMPTS_DIR) / f"{name}.{version}.txt"
    if not path.exists():
        raise FileNotFoundError(f"no prompt template {path}")
    text = path.read_text(encoding="utf-8")
    parts = dict(re.findall(r"^\[(system|user)\]\n(.*?)(?=^\[(?:system|user)\]\n|\Z)", text,
                            flags=re.S | re.M))
    if set(parts) != {"system", "user"}:
        raise ValueError(f"{path}: a template needs a [system] and a [user] section")
    return PromptTemplate(name, version, parts["system"].strip(), parts["user"].strip(),
                          hashlib.sha256(text.encode()).hexdigest())
