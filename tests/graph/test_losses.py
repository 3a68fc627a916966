import math

import pytest
import torch

from workbench.graph.losses import bpr_loss, l2_reg, score_pairs


def test_bpr_by_hand():
    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0])
    expected = -(math.log(1 / (1 + math.exp(-1))) + math.log(0.5)) / 2
    assert bpr_loss(pos, neg).item() == pytest.approx(expected)


def test_l2_reg_by_hand():
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 0.0]])
    assert l2_reg(a, b, batch_size=1).item() == pytest.approx((1 + 4 + 9) / 2)


def test_score_pairs():
    u, i = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    assert score_pairs(u, i, torch.tensor([0, 0]), torch.tensor([0, 1])).tolist() == [11.0, 1.0]
