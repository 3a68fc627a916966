"""Graph recommenders sharing one interface: ``forward(adj) -> (user_emb, item_emb)``."""

from workbench.graph.models.features import FeatureLightGCN, MaskedFeatureReconstruction
from workbench.graph.models.lightgcn import LightGCN, MatrixFactorization
from workbench.graph.models.popularity import Popularity

__all__ = ["FeatureLightGCN", "LightGCN", "MaskedFeatureReconstruction", "MatrixFactorization", "Popularity"]
