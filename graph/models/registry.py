"""Models by registration: one module per model, one :func:`register_model` call in it.

A model is a ``torch.nn.Module`` with ``forward(adj) -> (user_emb, item_emb)`` (the
:class:`Recommender` protocol); trainable models also expose ``ego_embedding`` (what L2
regularisation acts on). Its :class:`ModelSpec` says what it needs from the graph view and
which optional parts of a view it can use: a view offering a part the model cannot use (node
features, text embeddings, extra attribute nodes) is refused with a message, never swapped for
another model.

    register_model(ModelSpec(name="mf", summary="BPR matrix factorisation",
                             build=lambda config, data: MatrixFactorization(...),
                             propagates=False))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from torch import Tensor, nn

from workbench.errors import ConfigError, ViewError
from workbench.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from workbench.graph.train import TrainConfig
    from workbench.graph.views import GraphData


class Recommender(Protocol):
    """What the trainer and evaluation need of a model."""

    num_users: int
    num_items: int

    def __call__(self, adj: Tensor | None) -> tuple[Tensor, Tensor]: ...


@dataclass(frozen=True)
class ModelSpec:
    """A registered model."""

    name: str  # `--model NAME`, the runs table's `model`
    summary: str  # one line for `--help` and the docs
    build: Callable[[TrainConfig, GraphData], nn.Module]  # seeded by the trainer before
    uses: frozenset[str] = field(default_factory=frozenset)  # optional view parts it can use
    needs: frozenset[str] = field(default_factory=frozenset)  # view parts it cannot do without
    propagates: bool = True  # needs the normalized adjacency
    trainable: bool = True  # has parameters trained with BPR (else: scored as built)
    # extra loss terms that belong to the model (e.g. LLMRec's feature reconstruction)
    losses: Callable[[TrainConfig, GraphData], list[Any]] | None = None

    def check_view(self, data: GraphData) -> None:
        """Refuse a view whose optional parts this model cannot use, or that lacks a part
        it needs; the message names the models that can."""
        offered = data.parts()
        unusable = sorted(offered - self.uses)
        if unusable:
            able = [n for n, s in models().items() if set(unusable) <= s.uses]
            raise ViewError(f"model {self.name!r} cannot use the {', '.join(unusable)} of view "
                            f"{data.view!r}; models that can: {', '.join(able) or 'none'}")
        missing = sorted(self.needs - offered)
        if missing:
            raise ViewError(f"model {self.name!r} needs {', '.join(missing)}, which view "
                            f"{data.view!r} does not have")


def _load_builtin() -> None:
    import workbench.graph.models  # noqa: F401  (its modules register the built-in models)


MODELS: Registry[ModelSpec] = Registry("model", _load_builtin, ConfigError)


def register_model(spec: ModelSpec) -> ModelSpec:
    return MODELS.register(spec.name, spec)


def models() -> dict[str, ModelSpec]:
    """Every registered model."""
    return MODELS.all()


def model_spec(name: str) -> ModelSpec:
    return MODELS.get(name)
