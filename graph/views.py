"""Graph views: what a training run sees of the store, as tensors.

A view decides which edges are in the propagation graph and which (user, pos, neg) triples
enter BPR beside the sampled ones. The ``base`` view is the training interactions only;
augmented views (synthetic edges, generated features) are added by the enrichment issues and
keep this shape: they only add ``extra_triples`` / ``extra_edges`` / node features.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from workbench.errors import ViewError
from workbench.registry import Registry
from workbench.augment.outputs import find_job, job_rows
from workbench.store import DatasetInfo, Store, to_matrix




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
    """Everything a run needs: sizes, the training pairs, the held-out splits, the graph.

    Node order: users ``0..U-1``, items ``U..U+I-1``, then any extra nodes (attribute or
    semantic-ID code nodes) ``U+I..U+I+X-1``.
    """

    dataset: DatasetInfo
    view: str
    num_users: int
    num_items: int
    train: Tensor  # (2, E) user, item of the training interactions
    valid: HeldOut
    test: HeldOut
    train_csr: HeldOut  # the training items per user (to exclude from ranking)
    # synthetic (user, pos, neg) triples added to BPR (LLMRec views)
    extra_triples: Tensor = field(default_factory=lambda: torch.empty(3, 0, dtype=torch.long))
    # extra (user, item) propagation edges (views that also propagate over synthetic edges)
    extra_edges: Tensor = field(default_factory=lambda: torch.empty(2, 0, dtype=torch.long))
    # generated node features, one row per node (users, then items), and which nodes have one
    features: Tensor | None = None
    feature_mask: Tensor | None = None
    # extra nodes (attribute values, semantic-ID codes) and their (item, node) edges, node
    # indices 0..num_extra_nodes-1 (offset by U+I in the adjacency); names for display
    num_extra_nodes: int = 0
    item_node_edges: Tensor = field(default_factory=lambda: torch.empty(2, 0, dtype=torch.long))
    extra_node_names: list[str] = field(default_factory=list)
    extra_node_types: list[str] = field(default_factory=list)
    # a text embedding of every item (language-initialized item representations)
    item_text: Tensor | None = None
    # which enrichment jobs fed this view: {"edges": job_id, ...} (the run's provenance)
    sources: dict[str, str] = field(default_factory=dict)
    # job ids the user pinned, by source name (losses that read jobs honour them too)
    pins: dict[str, str] = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items + self.num_extra_nodes

    def parts(self) -> set[str]:
        """The optional parts this view offers a model (a model must be able to use each)."""
        offered = set()
        if self.features is not None:
            offered.add("features")
        if self.num_extra_nodes:
            offered.add("extra nodes")
        if self.item_text is not None:
            offered.add("item text")
        return offered

    def edge_index(self) -> Tensor:
        """Propagation edges, both directions: user-item (items offset by ``num_users``) and
        item-extra-node (extra nodes offset by ``num_users + num_items``)."""
        pairs = self.train
        if self.extra_edges.size(1):
            pairs = torch.cat([pairs, self.extra_edges], dim=1).unique(dim=1)
        src = [pairs[0], pairs[1] + self.num_users]
        if self.item_node_edges.size(1):
            src = [torch.cat([src[0], self.item_node_edges[0] + self.num_users]),
                   torch.cat([src[1], self.item_node_edges[1] + self.num_users
                              + self.num_items])]
        u, i = src
        return torch.stack([torch.cat([u, i]), torch.cat([i, u])])

    def normalized_adjacency(self, node_edge_weight: float = 1.0) -> Tensor:
        r"""The symmetric-normalized adjacency :math:`D^{-1/2} A D^{-1/2}` as sparse CSR;
        edges to extra nodes weigh ``node_edge_weight`` in :math:`A` (others 1)."""
        edge_index = self.edge_index()
        boundary = self.num_users + self.num_items
        a = torch.where((edge_index[0] >= boundary) | (edge_index[1] >= boundary),
                        node_edge_weight, 1.0)
        deg = torch.zeros(self.num_nodes).index_add_(0, edge_index[0], a)
        inv_sqrt = deg.pow(-0.5)
        inv_sqrt[torch.isinf(inv_sqrt)] = 0.0
        weight = a * inv_sqrt[edge_index[0]] * inv_sqrt[edge_index[1]]
        adj = torch.sparse_coo_tensor(edge_index, weight, (self.num_nodes, self.num_nodes),
                                      check_invariants=False)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": we rely on mm only
            warnings.simplefilter("ignore", UserWarning)
            csr = adj.coalesce().to_sparse_csr()
            if csr._nnz() >= 2**31 - 1:
                return csr
            # 32-bit indices: MKL's sparse product takes them as they are (64-bit ones are
            # converted at each product)
            return torch.sparse_csr_tensor(csr.crow_indices().int(), csr.col_indices().int(),
                                           csr.values(), csr.shape)


@dataclass(frozen=True)
class ViewSpec:
    """A registered graph view: what it adds to the base view (training interactions)."""

    name: str
    summary: str
    # adds the view's parts to the base data (reads what it needs through the enrichment
    # side's functions, honouring ``data.pins``, and records the jobs in ``data.sources``)
    extend: Callable[[Store, GraphData], None] | None = None


def _load_enriched() -> None:
    import workbench.graph.enriched  # noqa: F401  (registers the enriched-graph views)


VIEWS: Registry[ViewSpec] = Registry("graph view", _load_enriched, ViewError)


def register_view(spec: ViewSpec) -> ViewSpec:
    return VIEWS.register(spec.name, spec)


def views() -> dict[str, ViewSpec]:
    return VIEWS.all()


def _pairs(store: Store, dataset_id: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    got = store.con.execute(
        "SELECT user_idx, item_idx FROM interactions WHERE dataset_id = ? AND split = ?",
        [dataset_id, split]).fetchnumpy()
    return got["user_idx"].astype(np.int64), got["item_idx"].astype(np.int64)


def load_graph(store: Store, dataset: str | None = None, view: str = "base",
               require_valid: bool = True, pins: dict[str, str] | None = None) -> GraphData:
    """Build the tensors of ``view`` for a dataset; fails clearly before any training.
    ``pins`` fixes the enrichment job a view reads per source (e.g. ``{"edges": JOB}``)
    instead of the most recent one."""
    spec = VIEWS.get(view)
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
    data = GraphData(
        dataset=info, view=view, num_users=n_u, num_items=n_i,
        train=torch.from_numpy(np.stack([tu, ti])),
        valid=HeldOut.from_pairs(vu, vi, n_u), test=HeldOut.from_pairs(su, si, n_u),
        train_csr=HeldOut.from_pairs(tu, ti, n_u), pins=dict(pins or {}),
    )
    if spec.extend is not None:
        spec.extend(store, data)
    return data


def pin(store: Store, dataset: str | None = None, edges_job: str | None = None,
        features_jobs: Sequence[str] = ()) -> dict[str, str]:
    """Pins for :func:`load_graph` from job ids: the edges job, and embedding jobs (each
    filed under the source it embeds: ``embed:user-profiles``, ``embed:item-text``...).
    Unknown jobs, jobs of another dataset or kind, and two jobs of one source are errors."""
    info = store.dataset(dataset)
    pins: dict[str, str] = {}
    if edges_job:
        pins["edges"] = find_job(store, info.dataset_id, "edges", job_id=edges_job)
    for job_id in features_jobs:
        row = store.con.execute("SELECT kind, json_extract_string(manifest, '$.source_kind') "
                                "FROM jobs WHERE job_id = ?", [job_id]).fetchone()
        if row is None or row[0] != "embed":
            find_job(store, info.dataset_id, "embed", job_id=job_id)  # the precise error
        key = f"embed:{row[1]}"
        if key in pins:
            raise ViewError(f"two embedding jobs of {row[1]} pinned ({pins[key]}, {job_id}): "
                            "pin one")
        pins[key] = find_job(store, info.dataset_id, "embed", job_id=job_id)
    return pins


def synthetic_triples(store: Store, info: DatasetInfo, job_id: str | None = None
                      ) -> tuple[str, Tensor]:
    """The edges job (pinned, or the most recent with output) and its (3, n) user, pos, neg."""
    job_id = find_job(store, info.dataset_id, "edges", job_id=job_id)
    if job_id is None:
        raise ViewError(f"view needs synthetic edges, and dataset {info.name!r} has none: run "
                        "`workbench augment edges --run RUN_ID` first")
    got = job_rows(store, job_id, "user_idx, pos_item_idx, neg_item_idx")
    return job_id, torch.from_numpy(np.stack([got.column(c).to_numpy() for c in (
        "user_idx", "pos_item_idx", "neg_item_idx")]).astype(np.int64))


def latest_embeddings(store: Store, info: DatasetInfo, source_kind: str, size: int,
                      job_id: str | None = None, sources: dict | None = None
                      ) -> tuple[Tensor, Tensor] | None:
    """An embed job's vectors of ``source_kind`` (e.g. ``user-profiles``; the pinned job, or
    the most recent) as a ``(size, dim)`` matrix with zero rows where missing, and the presence
    mask; None if the dataset has no such job. The job id goes into ``sources``."""
    job = find_job(store, info.dataset_id, "embed", source_kind=source_kind, job_id=job_id)
    if job is None:
        return None
    if sources is not None:
        sources[f"embed:{source_kind}"] = job
    table = job_rows(store, job, "entity_idx, vector")
    idx = torch.from_numpy(table.column("entity_idx").to_numpy().astype(np.int64))
    vectors = torch.from_numpy(to_matrix(table.column("vector")))
    matrix = torch.zeros(size, vectors.size(1) if len(idx) else 0)
    mask = torch.zeros(size, dtype=torch.bool)
    if len(idx):
        matrix[idx] = vectors
        mask[idx] = True
    return matrix, mask


def _missing(info: DatasetInfo, source_kind: str) -> ViewError:
    return ViewError(f"no embedded {source_kind} for dataset {info.name!r}: run "
                     f"`workbench augment {source_kind}` and "
                     f"`workbench augment embed --source {source_kind}`")


def load_profile_embeddings(store: Store, info: DatasetInfo, pins: dict | None = None,
                            sources: dict | None = None) -> tuple[Tensor, Tensor, Tensor,
                                                                  Tensor]:
    """Profile embeddings of users and items (pinned or latest embed job of each) and
    presence masks. Missing profiles are zero rows with mask False: alignment losses skip
    them."""
    out = []
    pins = pins or {}
    for source, size in (("user-profiles", info.n_users), ("item-profiles", info.n_items)):
        got = latest_embeddings(store, info, source, size, pins.get(f"embed:{source}"),
                                sources)
        if got is None:
            raise _missing(info, source)
        out += got
    return out[0], out[1], out[2], out[3]


def node_features(store: Store, info: DatasetInfo, pins: dict | None = None,
                  sources: dict | None = None) -> tuple[Tensor, Tensor]:
    """LLMRec's generated features, one row per node: embedded user profiles for users
    (optional: users without one have none), embedded item attributes for items (required).
    Nodes without a feature are zero rows with mask False."""
    pins = pins or {}
    items = latest_embeddings(store, info, "item-attributes", info.n_items,
                              pins.get("embed:item-attributes"), sources)
    if items is None:
        raise _missing(info, "item-attributes")
    users = latest_embeddings(store, info, "user-profiles", info.n_users,
                              pins.get("embed:user-profiles"), sources)
    if users is None:
        users = (torch.zeros(info.n_users, items[0].size(1)),
                 torch.zeros(info.n_users, dtype=torch.bool))
    if users[0].size(1) != items[0].size(1):
        raise ViewError(f"user profile and item attribute embeddings differ in size "
                        f"({users[0].size(1)} vs {items[0].size(1)}): embed both with one "
                        "encoder")
    return torch.cat([users[0], items[0]]), torch.cat([users[1], items[1]])


# -- the built-in views --------------------------------------------------------------------
def _with_triples(store: Store, data: GraphData) -> None:
    data.sources["edges"], data.extra_triples = synthetic_triples(store, data.dataset,
                                                                  data.pins.get("edges"))


def _with_propagated_triples(store: Store, data: GraphData) -> None:
    _with_triples(store, data)
    data.extra_edges = data.extra_triples[:2].clone()


def _with_features(store: Store, data: GraphData) -> None:
    data.features, data.feature_mask = node_features(store, data.dataset, data.pins,
                                                     data.sources)


def _with_triples_and_features(store: Store, data: GraphData) -> None:
    _with_triples(store, data)
    _with_features(store, data)


register_view(ViewSpec("base", "training interactions only"))
register_view(ViewSpec("llmrec", "+ an edge job's synthetic triples in BPR (LLMRec)",
                       _with_triples))
register_view(ViewSpec("llmrec-prop", "+ those triples in BPR and their (user, liked) pairs "
                                      "as propagation edges", _with_propagated_triples))
register_view(ViewSpec("features", "+ generated features for the node input (item "
                                   "attributes, user profiles; LLMRec)", _with_features))
register_view(ViewSpec("llmrec-features", "+ the synthetic triples in BPR and the generated "
                                          "features (LLMRec)", _with_triples_and_features))
