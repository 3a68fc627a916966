r"""Loss terms next to the models: small functions, one formula each.

BPR (Rendle et al., UAI 2009):
.. math::
    \mathcal{L}_{BPR} = -\frac{1}{|B|}\sum_{(u,i,j)\in B} \ln\sigma(\hat y_{ui} - \hat y_{uj})

L2 on the batch's ego (layer-0) embeddings, as in LightGCN:
.. math::
    \mathcal{L}_{reg} = \frac{\lambda}{2|B|}\left(\|E^{(0)}_u\|^2 + \|E^{(0)}_i\|^2 + \|E^{(0)}_j\|^2\right)
"""

from __future__ import annotations

import torch

import torch.nn.functional as F
from torch import Tensor


def bpr_loss(pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
    """Mean BPR loss over the batch."""
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def bpr_loss_per_triple(pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
    """BPR loss of each triple (for denoising: pruning the largest)."""
    return -F.logsigmoid(pos_scores - neg_scores)


def prune_largest(losses: Tensor, drop_rate: float) -> Tensor:
    """Mean loss after dropping the ``drop_rate`` fraction with the **largest** loss.

    LLMRec's denoising of augmented triples: the pairs the model disagrees with most are the
    likeliest noise. (The reference code's sort keeps those instead; this drops them.)
    """
    n_drop = int(drop_rate * len(losses))
    if n_drop <= 0:
        return losses.mean()
    return torch.topk(losses, len(losses) - n_drop, largest=False).values.mean()


def l2_reg(*ego: Tensor, batch_size: int) -> Tensor:
    """Half the squared L2 norm of the given ego embeddings, per batch row."""
    return sum(e.pow(2).sum() for e in ego) / (2 * batch_size)


def score_pairs(user_emb: Tensor, item_emb: Tensor, users: Tensor, items: Tensor) -> Tensor:
    """Inner-product scores of (user, item) pairs."""
    return (user_emb[users] * item_emb[items]).sum(dim=-1)


__all__ = ["bpr_loss", "bpr_loss_per_triple", "l2_reg", "prune_largest", "score_pairs"]


def eligible_nodes(nodes: Tensor, eligible: Tensor) -> Tensor:
    """The distinct ``nodes`` with ``eligible[node]`` True (e.g. those with a profile)."""
    nodes = torch.unique(nodes)
    return nodes[eligible[nodes]]


def sample_nodes(nodes: Tensor, eligible: Tensor, ratio: float,
                 generator: torch.Generator | None = None) -> Tensor:
    """A random ``ratio`` share of :func:`eligible_nodes` (the nodes a masking loss masks:
    those with a profile or feature to reconstruct)."""
    nodes = eligible_nodes(nodes, eligible)
    n = int(round(ratio * len(nodes)))
    return nodes[torch.randperm(len(nodes), generator=generator)[:n]]
