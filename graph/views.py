"""Graph views: what a training run sees of the store, as tensors.

A view decides which edges are in the propagation graph and which (user, pos, neg) triples
enter BPR beside the sampled ones. The ``base`` view is the training interactions only;
augmented views (synthetic edges, generated features) are added by the enrichment issues and
keep this shape: they only add ``extra_triples`` / ``extra_edges`` / node features.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from graph.store import DatasetInfo, Store


class ViewError(ValueError):
    """A view that cannot be built from this store (missing split, unknown view...)."""


@dataclass
class HeldOut:
    """Held-out items per user in CSR form: items of user u are ``items[indptr[u]:indptr[u+1]]``."""

    indptr: np.ndarray
    items: np.ndarray

    @classmethod
    def from_pairs(cls, users: np.ndarray, items: np.ndarray, num_users: int) -> HeldOut:
        order = np.lexsort((items, users))
        counts = np.bincount(users, minlength=num_users)
        return cls(np.concatenate([[0], np.cumsum(counts)]), items[order].astype(np.int64))

    def users_with_items(self) -> np.ndarray:
        return np.flatnonzero(np.diff(self.indptr) > 0)

    def __len__(self) -> int:
        return int(self.items.shape[0])


@dataclass
class GraphData:
    """Everything a run needs: sizes, the training pairs, the held-out splits, the graph."""

    dataset: DatasetInfo
    view: str
    num_users: int
    num_items: int
    train: Tensor  # (2, E) user, item of the training interactions
    valid: HeldOut
    test: HeldOut
    train_csr: HeldOut  # the training items per user (to exclude from ranking)
    extra_triples: Tensor = field(default_factory=lambda: torch.empty(3, 0, dtype=torch.long))

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items

    def edge_index(self) -> Tensor:
        """Bipartite propagation edges, both directions; items are offset by ``num_users``."""
        u, i = self.train[0], self.train[1] + self.num_users
        return torch.stack([torch.cat([u, i]), torch.cat([i, u])])

    def normalized_adjacency(self) -> Tensor:
        r"""The symmetric-normalized adjacency :math:`D^{-1/2} A D^{-1/2}` as sparse CSR."""
        edge_index = self.edge_index()
        deg = torch.bincount(edge_index[0], minlength=self.num_nodes).float()
        inv_sqrt = deg.pow(-0.5)
        inv_sqrt[torch.isinf(inv_sqrt)] = 0.0
        weight = inv_sqrt[edge_index[0]] * inv_sqrt[edge_index[1]]
        adj = torch.sparse_coo_tensor(edge_index, weight, (self.num_nodes, self.num_nodes),
                                      check_invariants=False)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": we rely on mm only
            warnings.simplefilter("ignore", UserWarning)
            return adj.coalesce().to_sparse_csr()


VIEWS = ("base",)


def _pairs(store: Store, dataset_id: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    got = store.con.execute(
        "SELECT user_idx, item_idx FROM interactions WHERE dataset_id = ? AND split = ?",
        [dataset_id, split]).fetchnumpy()
    return got["user_idx"].astype(np.int64), got["item_idx"].astype(np.int64)


def load_graph(store: Store, dataset: str | None = None, view: str = "base",
               require_valid: bool = True) -> GraphData:
    """Build the tensors of ``view`` for a dataset; fails clearly before any training."""
    if view not in VIEWS:
        raise ViewError(f"unknown graph view {view!r}; known views: {', '.join(VIEWS)}")
    info = store.dataset(dataset)
    tu, ti = _pairs(store, info.dataset_id, "train")
    vu, vi = _pairs(store, info.dataset_id, "valid")
    su, si = _pairs(store, info.dataset_id, "test")
    if len(tu) == 0:
        raise ViewError(f"dataset {info.name!r} has no training interactions")
    if require_valid and len(vu) == 0:
        raise ViewError(f"dataset {info.name!r} has no validation interactions, and model "
                        "selection must not use the test split. Re-ingest with --split random "
                        "or loo, or with --valid-from-train 0.1 for a given split")
    if len(su) == 0:
        raise ViewError(f"dataset {info.name!r} has no test interactions")
    n_u, n_i = info.n_users, info.n_items
    return GraphData(
        dataset=info, view=view, num_users=n_u, num_items=n_i,
        train=torch.from_numpy(np.stack([tu, ti])),
        valid=HeldOut.from_pairs(vu, vi, n_u), test=HeldOut.from_pairs(su, si, n_u),
        train_csr=HeldOut.from_pairs(tu, ti, n_u),
    )
