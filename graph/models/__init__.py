"""Graph recommenders sharing one interface: ``forward(adj) -> (user_emb, item_emb)``."""

from graph.models.features import FeatureLightGCN, MaskedFeatureReconstruction
from graph.models.lightgcn import LightGCN, MatrixFactorization
from graph.models.popularity import Popularity

__all__ = ["FeatureLightGCN", "LightGCN", "MaskedFeatureReconstruction", "MatrixFactorization", "Popularity"]
