r"""Full-ranking evaluation: every item is a candidate except the user's known ones.

For a user :math:`u` with held-out set :math:`T_u` and top-K list :math:`R_u`:

.. math::
    \mathrm{Recall@K} = \frac{|R_u \cap T_u|}{|T_u|}, \quad
    \mathrm{Precision@K} = \frac{|R_u \cap T_u|}{K}, \quad
    \mathrm{Hit@K} = [\,|R_u \cap T_u| > 0\,]

.. math::
    \mathrm{NDCG@K} = \frac{\sum_{r=1}^{K} [R_u^{(r)} \in T_u] / \log_2(r+1)}
                           {\sum_{r=1}^{\min(K, |T_u|)} 1 / \log_2(r+1)}

The ideal DCG counts ``min(K, |T_u|)`` relevant items: the number of held-out items, not the
number of hits in the retrieved list (the reference code's mistake). Metrics are averaged over
users with at least one held-out item. Users are scored in batches so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from workbench.graph.views import HeldOut


def ranking_metrics(hits: Tensor, n_relevant: Tensor, ks: Sequence[int]) -> dict[str, Tensor]:
    """Per-user metrics from a hit matrix.

    Args:
        hits (Tensor): ``(B, max(ks))`` booleans, whether the item at rank ``r`` is relevant.
        n_relevant (Tensor): ``(B,)`` number of held-out items per user (all > 0).
        ks (Sequence[int]): cut-offs.
    """
    hits = hits.float()
    discount = 1.0 / torch.log2(torch.arange(2, hits.size(1) + 2, dtype=torch.float))
    ideal = torch.cumsum(discount, 0)
    out = {}
    for k in ks:
        h = hits[:, :k]
        n_hit = h.sum(1)
        out[f"recall@{k}"] = n_hit / n_relevant
        out[f"precision@{k}"] = n_hit / k
        out[f"hit@{k}"] = (n_hit > 0).float()
        dcg = (h * discount[:k]).sum(1)
        out[f"ndcg@{k}"] = dcg / ideal[torch.clamp(n_relevant, max=k).long() - 1]
    return out


def _rows_cols(csr: HeldOut, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts, ends = csr.indptr[users], csr.indptr[users + 1]
    lengths = ends - starts
    rows = np.repeat(np.arange(len(users)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = csr.items[np.repeat(starts, lengths) + offsets]
    return rows, cols


@torch.no_grad()
def top_k(user_emb: Tensor, item_emb: Tensor, users: np.ndarray, k: int,
          exclude: Sequence[HeldOut] = ()) -> Tensor:
    """Top-``k`` item indices for ``users``, with each user's ``exclude`` items ranked last."""
    scores = user_emb[torch.from_numpy(users).to(user_emb.device)] @ item_emb.T
    for csr in exclude:
        rows, cols = _rows_cols(csr, users)
        scores[torch.from_numpy(rows).to(scores.device),
               torch.from_numpy(cols).to(scores.device)] = -torch.inf
    return scores.topk(min(k, scores.size(1)), dim=1).indices


@torch.no_grad()
def per_user_metrics(user_emb: Tensor, item_emb: Tensor, truth: HeldOut,
                     exclude: Sequence[HeldOut], ks: Sequence[int] = (10, 20),
                     batch_size: int = 1024, users: np.ndarray | None = None
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The evaluated users (those of ``truth``, or the given subset, with held-out items) and
    each metric per user, in that order (for paired comparisons between runs)."""
    users = truth.users_with_items() if users is None else users
    users = users[np.diff(truth.indptr)[users] > 0]
    out: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        ranked = top_k(user_emb, item_emb, batch, max(ks), exclude).cpu()
        relevant = torch.zeros(len(batch), item_emb.size(0), dtype=torch.bool)
        rows, cols = _rows_cols(truth, batch)
        relevant[torch.from_numpy(rows), torch.from_numpy(cols)] = True
        hits = relevant.gather(1, ranked)
        n_rel = torch.from_numpy(np.diff(truth.indptr)[batch]).float()
        for name, values in ranking_metrics(hits, n_rel, ks).items():
            out.setdefault(name, []).append(values.numpy())
    return users, {name: np.concatenate(parts) for name, parts in out.items()}


def evaluate(user_emb: Tensor, item_emb: Tensor, truth: HeldOut, exclude: Sequence[HeldOut],
             ks: Sequence[int] = (10, 20), batch_size: int = 1024,
             users: np.ndarray | None = None) -> dict[str, float]:
    """Mean metrics over the users of ``truth`` (or the given subset) with held-out items."""
    users, metrics = per_user_metrics(user_emb, item_emb, truth, exclude, ks, batch_size, users)
    if len(users) == 0:
        return {}
    return {name: float(values.mean()) for name, values in metrics.items()}
