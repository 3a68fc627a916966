"""Statistics of the enriched graph: node and edge counts per type (DuckDB), and the shape of
the item-attribute graph (networkx): its components, items left without any node, hubs."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import polars as pl

from workbench.store import DatasetInfo, Store


@dataclass
class EnrichedStats:
    by_type: pl.DataFrame  # node_type, nodes, edges, items (with >= 1 node of the type)
    n_components: int  # connected components of the item-attribute graph (items + nodes)
    largest_component_items: int
    items_without_nodes: int
    hubs: pl.DataFrame  # the nodes with the most items


def networkx_graph(store: Store, info: DatasetInfo, with_users: bool = False) -> nx.Graph:
    """The enriched graph as networkx: items ``i:KEY``, attribute/code nodes ``TYPE=VALUE``
    (and users ``u:KEY`` with their training edges when asked), typed by ``kind``."""
    graph = nx.Graph()
    items = store.frame("SELECT item_idx, item_key, title FROM items WHERE dataset_id = ?",
                        [info.dataset_id])
    names = dict(zip(items["item_idx"], items["item_key"]))
    graph.add_nodes_from((f"i:{k}", {"kind": "item", "title": t})
                         for k, t in zip(items["item_key"], items["title"]))
    nodes = store.frame("SELECT node_idx, node_type, value, source FROM graph_nodes "
                        "WHERE dataset_id = ?", [info.dataset_id])
    labels = {}
    for idx, kind, value, source in nodes.iter_rows():
        labels[idx] = f"{kind}={value}"
        graph.add_node(labels[idx], kind=kind, source=source)
    edges = store.con.execute("SELECT item_idx, node_idx FROM graph_edges WHERE dataset_id = ?",
                              [info.dataset_id]).fetchall()
    graph.add_edges_from((f"i:{names[i]}", labels[n]) for i, n in edges)
    if with_users:
        users = dict(store.con.execute("SELECT user_idx, user_key FROM users WHERE "
                                       "dataset_id = ?", [info.dataset_id]).fetchall())
        graph.add_nodes_from((f"u:{k}", {"kind": "user"}) for k in users.values())
        pairs = store.con.execute("SELECT user_idx, item_idx FROM interactions WHERE "
                                  "dataset_id = ? AND split = 'train'",
                                  [info.dataset_id]).fetchall()
        graph.add_edges_from((f"u:{users[u]}", f"i:{names[i]}") for u, i in pairs)
    return graph


def enriched_stats(store: Store, info: DatasetInfo, top: int = 5) -> EnrichedStats | None:
    """None when the dataset has no enriched graph (`workbench graph build`)."""
    built = store.con.execute("SELECT count(*) FROM graph_builds WHERE dataset_id = ?",
                              [info.dataset_id]).fetchone()[0]
    if not built:
        return None
    by_type = store.frame(
        "SELECT n.node_type, count(DISTINCT n.node_idx) AS nodes, count(*) AS edges, "
        "count(DISTINCT e.item_idx) AS items FROM graph_nodes n JOIN graph_edges e "
        "USING (dataset_id, node_idx) WHERE n.dataset_id = ? GROUP BY 1 ORDER BY 1",
        [info.dataset_id])
    hubs = store.frame("SELECT node_type, value, n_items, source FROM graph_nodes WHERE "
                       "dataset_id = ? ORDER BY n_items DESC, node_type, value LIMIT ?",
                       [info.dataset_id, top])
    graph = networkx_graph(store, info)
    components = sorted(nx.connected_components(graph), key=len, reverse=True)
    largest = sum(1 for n in components[0] if n.startswith("i:")) if components else 0
    lonely = sum(1 for n, d in graph.degree() if n.startswith("i:") and d == 0)
    return EnrichedStats(by_type, len(components), largest, lonely, hubs)
