"""Ingest formats (one module each, all producing :class:`SourceData`) and the pipeline."""

from graph.ingest.pipeline import IngestOptions, ingest
from graph.ingest.source import IngestError
from graph.ingest.table import ColumnMap

__all__ = ["ColumnMap", "IngestError", "IngestOptions", "ingest"]
