"""Ingest formats (one module each, all producing :class:`SourceData`) and the pipeline."""

# The built-in formats register themselves (auto-detection asks them in this order).
from workbench.graph.ingest import recbole, lightgcn, amazon, table  # noqa: F401, I001
from workbench.graph.ingest.pipeline import IngestOptions, ingest
from workbench.graph.ingest.source import IngestError
from workbench.graph.ingest.table import ColumnMap

__all__ = ["ColumnMap", "IngestError", "IngestOptions", "ingest"]
