"""Typed settings shared by every room.

All state (the DuckDB store, prepared models, run artefacts, caches) lives under one folder,
``WORKBENCH_HOME`` (default: ``./workbench-home`` in the current directory), in the way
``LLM_USER_PATH`` relocates everything of simonw's ``llm``. Nothing here imports a room.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from workbench.errors import ConfigError


class WorkbenchSettings(BaseSettings):
    """Where the workbench keeps its state. Read from ``WORKBENCH_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", extra="ignore")

    home: Path = Field(Path("workbench-home"), description=(
        "folder that holds all state; a relative path resolves against the current directory"))
    db_name: str = Field("workbench.duckdb", description="file name of the DuckDB store in home")

    @cached_property
    def home_dir(self) -> Path:
        path = self.home.expanduser().resolve()
        return _folder(path, "WORKBENCH_HOME")

    @property
    def db_path(self) -> Path:
        return self.home_dir / self.db_name

    @property
    def cache_dir(self) -> Path:
        return _folder(self.home_dir / "cache", "the cache folder")

    @property
    def models_dir(self) -> Path:
        return _folder(self.home_dir / "models", "the models folder")


def _folder(path: Path, what: str) -> Path:
    """``path`` as an existing folder, or a :class:`ConfigError` saying why it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{what} {path} is a file, not a folder: point WORKBENCH_HOME at a "
                          "folder") from None
    except OSError as exc:
        raise ConfigError(f"cannot create {what} {path}: {exc.strerror}; point WORKBENCH_HOME "
                          "at a folder you can write") from None
    return path


def get_settings() -> WorkbenchSettings:
    """Fresh settings from the environment (cheap; call it where needed, do not cache globally)."""
    return WorkbenchSettings()
