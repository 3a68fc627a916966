"""Ingest formats (one module each, all producing :class:`SourceData`) and the pipeline."""

from workbench.graph.ingest.pipeline import IngestOptions, ingest
from workbench.graph.ingest.source import IngestError
from workbench.graph.ingest.table import ColumnMap

__all__ = ["ColumnMap", "IngestError", "IngestOptions", "ingest"]
