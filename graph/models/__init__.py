"""Graph recommenders sharing one interface: ``forward(adj) -> (user_emb, item_emb)``.

Each module registers its models (:mod:`workbench.graph.models.registry`); importing this
package registers the built-in ones.
"""

from workbench.graph.models.features import FeatureLightGCN, MaskedFeatureReconstruction
from workbench.graph.models.lightgcn import LightGCN, MatrixFactorization
from workbench.graph.models.language import LanguageLightGCN
from workbench.graph.models.popularity import Popularity

__all__ = ["FeatureLightGCN", "LanguageLightGCN", "LightGCN", "MaskedFeatureReconstruction",
           "MatrixFactorization", "Popularity"]
