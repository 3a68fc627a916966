"""Graph recommenders sharing one interface: ``forward(adj) -> (user_emb, item_emb)``."""

from graph.models.lightgcn import LightGCN, MatrixFactorization
from graph.models.popularity import Popularity

__all__ = ["LightGCN", "MatrixFactorization", "Popularity"]
