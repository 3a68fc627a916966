"""Ingest formats by registration: one module per format, one :func:`register_format` call.

A format says whether a path looks like it (``detect``) and reads it into a
:class:`~workbench.graph.ingest.source.SourceData` (``read``). Auto-detection asks the formats
in registration order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.graph.ingest.source import IngestError
from workbench.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from workbench.graph.ingest.source import SourceData
    from workbench.graph.ingest.table import ColumnMap


@dataclass(frozen=True)
class FormatSpec:
    name: str  # `--format NAME`
    summary: str  # the files it reads, for --help and the docs
    detect: Callable[[Path], bool]
    read: Callable[[Path, ColumnMap], SourceData]


def _load_builtin() -> None:
    import workbench.graph.ingest  # noqa: F401  (its modules register the built-in formats)


FORMATS: Registry[FormatSpec] = Registry(
    "format", _load_builtin, lambda message: IngestError("--format", message))


def register_format(spec: FormatSpec) -> FormatSpec:
    return FORMATS.register(spec.name, spec)


def formats() -> dict[str, FormatSpec]:
    """The registered formats, in auto-detection order."""
    return FORMATS.all()


def format_spec(name: str) -> FormatSpec:
    return FORMATS.get(name)


def detect_format(path: Path) -> str:
    """The first registered format that recognises ``path``."""
    if not path.exists():
        raise IngestError(path, "no such file or folder")
    for spec in formats().values():
        if spec.detect(path):
            return spec.name
    if path.is_file():
        raise IngestError(path, "cannot tell the format of this file; pass --format")
    raise IngestError(path, "no known dataset files here (.inter, train.txt/test.txt, "
                            "user_sequence.txt); for CSV/Parquet pass the file itself")
