"""One error family. The library raises a :class:`WorkbenchError` (or a subclass) with a
message a user can act on; the CLI boundary prints it as one line and exits non-zero."""

from __future__ import annotations


class WorkbenchError(Exception):
    """A problem a user can act on: what went wrong, where, and what to do about it."""


def validation_message(exc: Exception) -> str:
    """A pydantic ValidationError as one line (``field: problem; ...``), anything else as
    its text."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    return "; ".join((f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "")
                     + e["msg"].removeprefix("Value error, ") for e in errors())


class StoreError(WorkbenchError, RuntimeError):
    """A store-level problem (locked file, unknown dataset, failed write...)."""


class StoreBusyError(StoreError):
    """Another process holds the store's write lock longer than the caller would wait."""


class ViewError(WorkbenchError, ValueError):
    """A graph view or model that cannot be built from this store (missing split or job...)."""


class IngestError(WorkbenchError, ValueError):
    """A source file that cannot be read as asked (missing column, bad row, wrong type...)."""


class ConfigError(WorkbenchError, ValueError):
    """Settings that do not fit together (unknown model, invalid value...)."""
