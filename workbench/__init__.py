"""The enrichment workbench: LLM-enriched recommender data, graph recommenders, one store.

    import workbench as wb
    ws = wb.Workspace()          # the Python API (see docs/api.md); `workbench` is the CLI

The rooms install as ``workbench.graph``, ``workbench.augment``, ``workbench.profiles`` and
``workbench.app``; this package holds what every room may import (settings, store, errors)
and the front doors composing them (:mod:`workbench.api`, :mod:`workbench.cli`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import ConfigError, IngestError, StoreError, ViewError, WorkbenchError

__version__ = "0.1.0"

__all__ = ["ConfigError", "IngestError", "StoreError", "ViewError", "WorkbenchError",
           "Workspace", "__version__"]

if TYPE_CHECKING:
    from workbench.api import Workspace


def __getattr__(name: str) -> object:
    # the API imports polars and the store; `workbench --version` and `import workbench`
    # stay light until it is used
    if name == "Workspace":
        from workbench.api import Workspace

        return Workspace
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")
