"""A graph view as a torch-geometric ``HeteroData``, for users who bring their own PyG model.

Node types: ``user`` and ``item`` (``x``: the view's generated features or item text
embeddings where it has them; ``num_nodes`` always), and one type per enriched-graph node type
(``genre``, ``code:1``...) with ``name``. Edge types:

- ``(user, rates, item)``: training interactions (``edge_index``), with the held-out pairs as
  ``valid_edge_index`` and ``test_edge_index`` (for link-prediction evaluation);
- ``(user, synthetic, item)``: an edge job's LLM-chosen (user, liked) pairs, with the disliked
  item as ``neg_item`` (views ``llmrec*``);
- ``(item, has, TYPE)``: item to attribute or code node (enriched views).

Only forward edges are stored; ``torch_geometric.transforms.ToUndirected()`` adds reverse ones.
``data.sources`` names the enrichment jobs it was built from (a run's provenance).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from workbench.graph.views import GraphData, HeldOut


def _pairs(held: HeldOut) -> Tensor:
    users = np.repeat(np.arange(len(held.indptr) - 1), np.diff(held.indptr))
    return torch.from_numpy(np.stack([users, held.items]).astype(np.int64))


def to_hetero_data(data: GraphData) -> HeteroData:
    """``data`` (from :func:`~workbench.graph.views.load_graph`) as ``HeteroData``."""
    out = HeteroData()
    out["user"].num_nodes = data.num_users
    out["item"].num_nodes = data.num_items
    if data.features is not None:
        out["user"].x = data.features[:data.num_users]
        out["item"].x = data.features[data.num_users:data.num_users + data.num_items]
    if data.item_text is not None:
        out["item"].x = data.item_text  # language-initialized items (the text views)
    rates = out["user", "rates", "item"]
    rates.edge_index = data.train.clone()
    rates.valid_edge_index = _pairs(data.valid)
    rates.test_edge_index = _pairs(data.test)
    if data.extra_triples.size(1):
        out["user", "synthetic", "item"].edge_index = data.extra_triples[:2].clone()
        out["user", "synthetic", "item"].neg_item = data.extra_triples[2].clone()
    if data.num_extra_nodes:
        types = np.array(data.extra_node_types)
        local = np.zeros(len(types), dtype=np.int64)  # each node's index within its type
        for node_type in dict.fromkeys(data.extra_node_types):
            mask = types == node_type
            local[mask] = np.arange(mask.sum())
            out[node_type].num_nodes = int(mask.sum())
            out[node_type].name = [n for n, m in zip(data.extra_node_names, mask) if m]
        item, node = data.item_node_edges
        for node_type in dict.fromkeys(data.extra_node_types):
            keep = torch.from_numpy(types[node.numpy()] == node_type)
            out["item", "has", node_type].edge_index = torch.stack(
                [item[keep], torch.from_numpy(local)[node[keep]]])
    out.sources = dict(data.sources)
    return out
