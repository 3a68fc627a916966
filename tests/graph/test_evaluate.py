"""Metrics pinned by hand-computed examples."""

import math

import numpy as np
import pytest
import torch

from workbench.graph.evaluate import blocked_topk, evaluate, ranking_metrics, top_k
from workbench.graph.views import HeldOut


def test_ranking_metrics_by_hand():
    # user 0: 3 relevant, hits at ranks 1 and 3 of top-4; user 1: 1 relevant, hit at rank 2.
    hits = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0]], dtype=torch.bool)
    n_rel = torch.tensor([3.0, 1.0])
    m = ranking_metrics(hits, n_rel, ks=[2, 4])
    log2 = math.log2
    assert m["recall@2"].tolist() == pytest.approx([1 / 3, 1.0])
    assert m["recall@4"].tolist() == pytest.approx([2 / 3, 1.0])
    assert m["precision@4"].tolist() == pytest.approx([2 / 4, 1 / 4])
    assert m["hit@2"].tolist() == [1.0, 1.0]
    # user 0 @4: DCG = 1/log2(2) + 1/log2(4); IDCG over min(3, 4) = 3 relevant items
    dcg0 = 1 + 1 / log2(4)
    idcg0 = 1 + 1 / log2(3) + 1 / log2(4)
    # user 1 @4: DCG = 1/log2(3); IDCG = 1 (one relevant item, not the retrieved count)
    assert m["ndcg@4"].tolist() == pytest.approx([dcg0 / idcg0, 1 / log2(3)])
    # @2 for user 0: IDCG over min(3, 2) = 2 items
    assert m["ndcg@2"][0].item() == pytest.approx(1 / (1 + 1 / log2(3)))


def test_ndcg_ideal_uses_held_out_count_not_hits():
    # One hit at rank 1 among 2 held-out items: NDCG@2 must be < 1 (ideal has 2 hits).
    m = ranking_metrics(torch.tensor([[True, False]]), torch.tensor([2.0]), ks=[2])
    assert m["ndcg@2"].item() == pytest.approx(1 / (1 + 1 / math.log2(3)))


def held(pairs, n_users):
    u = np.array([p[0] for p in pairs], dtype=np.int64)
    i = np.array([p[1] for p in pairs], dtype=np.int64)
    return HeldOut.from_pairs(u, i, n_users)


def test_top_k_excludes_known_items():
    user_emb = torch.tensor([[1.0], [1.0]])
    item_emb = torch.tensor([[4.0], [3.0], [2.0], [1.0]])
    train = held([(0, 0), (1, 1)], 2)
    ranked = top_k(user_emb, item_emb, np.array([0, 1]), 2, [train])
    assert ranked.tolist() == [[1, 2], [0, 2]]


def test_full_ranking_evaluation_end_to_end():
    # items scored 4 > 3 > 2 > 1 for both users
    user_emb = torch.tensor([[1.0], [1.0], [1.0]])
    item_emb = torch.tensor([[4.0], [3.0], [2.0], [1.0]])
    train = held([(0, 0), (1, 0)], 3)
    truth = held([(0, 1), (0, 3), (1, 3)], 3)  # user 2 has nothing held out: not averaged
    m = evaluate(user_emb, item_emb, truth, [train], ks=[2], batch_size=1)
    # user 0 ranks [1, 2]: recall 1/2; user 1 ranks [1, 2]: recall 0
    assert m["recall@2"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["hit@2"] == pytest.approx(0.5)
    assert m["ndcg@2"] == pytest.approx((1 / (1 + 1 / math.log2(3))) / 2)


def test_evaluation_is_the_same_in_any_batch_size():
    g = torch.Generator().manual_seed(0)
    user_emb, item_emb = torch.randn(50, 8, generator=g), torch.randn(30, 8, generator=g)
    rng = np.random.default_rng(0)
    pairs = {(int(u), int(i)) for u, i in zip(rng.integers(0, 50, 400), rng.integers(0, 30, 400))}
    pairs = sorted(pairs)
    train, truth = held(pairs[::2], 50), held(pairs[1::2], 50)
    a = evaluate(user_emb, item_emb, truth, [train], ks=[5, 10], batch_size=7)
    b = evaluate(user_emb, item_emb, truth, [train], ks=[5, 10], batch_size=1000)
    assert a == pytest.approx(b)


def brute_force_metrics(user_emb, item_emb, truth_pairs, known_pairs, k):
    """Recall@k and NDCG@k the slow way: a full sort of each user's scores."""
    scores = user_emb @ item_emb.T
    for u, i in known_pairs:
        scores[u, i] = -torch.inf
    truth: dict[int, set] = {}
    for u, i in truth_pairs:
        truth.setdefault(u, set()).add(i)
    recall, ndcg = [], []
    for u, items in sorted(truth.items()):
        ranked = torch.sort(scores[u], descending=True, stable=True).indices[:k].tolist()
        hits = [r in items for r in ranked]
        recall.append(sum(hits) / len(items))
        dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(hits) if h)
        ndcg.append(dcg / sum(1 / math.log2(r + 2) for r in range(min(k, len(items)))))
    return float(np.mean(recall)), float(np.mean(ndcg))


def test_many_items_take_the_blocked_top_k_and_match_a_full_sort():
    """With thousands of items the ranking searches blocks of scores (evaluate.BLOCK); the
    metrics equal a full sort's, also for a user left with fewer than k items to rank."""
    g = torch.Generator().manual_seed(1)
    n_users, n_items, k = 40, 12_000, 20
    user_emb, item_emb = torch.randn(n_users, 16, generator=g), torch.randn(n_items, 16, generator=g)
    rng = np.random.default_rng(1)
    known = {(int(u), int(i)) for u, i in zip(rng.integers(0, n_users, 3000),
                                               rng.integers(0, n_items, 3000))}
    known |= {(0, i) for i in range(n_items - 5)}  # user 0: five items left to rank
    truth = {(int(u), int(i)) for u, i in zip(rng.integers(0, n_users, 400),
                                               rng.integers(0, n_items, 400))} - known
    truth |= {(0, n_items - 1)}
    m = evaluate(user_emb, item_emb, held(sorted(truth), n_users), [held(sorted(known), n_users)],
                 ks=[k], batch_size=16)
    recall, ndcg = brute_force_metrics(user_emb, item_emb, truth, known, k)
    assert m["recall@20"] == pytest.approx(recall)
    assert m["ndcg@20"] == pytest.approx(ndcg)


def test_blocked_top_k_is_torch_top_k():
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(30, 64 * 400, generator=g)
    scores[:, ::3] = -torch.inf
    assert torch.equal(blocked_topk(scores, 20), scores.topk(20, dim=1).indices)
