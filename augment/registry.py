"""Job kinds by registration: one module per kind, one :func:`register_job_kind` call.

A kind contributes its prompt template, answer schema, work items and output rows (the
:class:`~workbench.augment.jobs.JobKind` protocol), the migration of its output table, and its
options as a pydantic model; ``workbench augment KIND`` is generated from the registration
(the options' field descriptions are the command's help). Nothing else needs an edit.

    register_job_kind(JobKindSpec(
        name="item-attributes", summary="LLMRec item attributes ...",
        output_table="item_attributes", options=AttributeOptions,
        build=lambda options, store, dataset: ItemAttributesJob(...)))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from workbench import migrations
from workbench.errors import ConfigError, validation_message
from workbench.registry import Registry
from workbench.store import DatasetInfo, Store


class NoOptions(BaseModel):
    """A kind without options of its own."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class JobKindSpec:
    """What the workbench needs to know of a job kind to run, list and resolve it."""

    name: str  # the job's `kind` and the CLI command: `workbench augment NAME`
    summary: str  # one line: the command's help
    output_table: str  # where the kind's rows go (each with a job_id column)
    build: Callable[[BaseModel, Store, DatasetInfo], object] | None  # options -> a JobKind
    options: type[BaseModel] = NoOptions  # the kind's own settings (CLI options)
    entity: str = "item"  # "item" or "user"
    migrations: tuple[migrations.Migration, ...] = field(default_factory=tuple)


def _load_builtin() -> None:
    # The built-in kinds register themselves on import.
    import workbench.augment.attributes  # noqa: F401
    import workbench.augment.edges  # noqa: F401
    import workbench.augment.embed  # noqa: F401
    import workbench.profiles.items  # noqa: F401
    import workbench.profiles.users  # noqa: F401


KINDS: Registry[JobKindSpec] = Registry("job kind", _load_builtin, ConfigError)


def register_job_kind(spec: JobKindSpec) -> JobKindSpec:
    """Make a kind known (and its table part of the store's schema)."""
    migrations.register(*spec.migrations)
    return KINDS.register(spec.name, spec)


def job_kinds() -> dict[str, JobKindSpec]:
    """Every registered kind, the built-in ones first."""
    return KINDS.all()


def job_kind(name: str) -> JobKindSpec:
    return KINDS.get(name)


def build_kind(name: str, store: Store, dataset: DatasetInfo, **options: object) -> object:
    """The JobKind of a registered kind with the given options (validated like the CLI's)."""
    spec = job_kind(name)
    if spec.build is None:
        raise ConfigError(f"{name} is not an LLM job kind")
    try:
        return spec.build(spec.options(**options), store, dataset)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        raise ConfigError(f"{name}: {validation_message(exc)}") from None
