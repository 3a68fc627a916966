import pytest
import torch

from workbench.graph.models import LightGCN, MatrixFactorization
from workbench.graph.models.propagation import SymmetricSpMM


def sym_adj(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    dense = (torch.rand(n, n, generator=g) > 0.5).float()
    dense = torch.triu(dense, 1)
    dense = dense + dense.T
    deg = dense.sum(1).clamp(min=1)
    norm = dense / deg.sqrt().unsqueeze(0) / deg.sqrt().unsqueeze(1)
    return norm, norm.to_sparse_csr()


def test_symmetric_spmm_matches_generic_gradient():
    dense, csr = sym_adj()
    x = torch.randn(6, 4, requires_grad=True)
    y = SymmetricSpMM.apply(csr, x)
    (y * torch.arange(24.0).view(6, 4)).sum().backward()
    expected = dense.T @ torch.arange(24.0).view(6, 4)
    assert torch.allclose(y, dense @ x.detach(), atol=1e-6)
    assert torch.allclose(x.grad, expected, atol=1e-5)


def test_lightgcn_is_mean_of_propagated_layers():
    dense, csr = sym_adj(n=5)
    model = LightGCN(num_users=2, num_items=3, embedding_dim=4, num_layers=2)
    e0 = model.embedding.weight.detach()
    expected = (e0 + dense @ e0 + dense @ (dense @ e0)) / 3
    users, items = model(csr)
    assert torch.allclose(torch.cat([users, items]).detach(), expected, atol=1e-5)
    assert users.shape == (2, 4) and items.shape == (3, 4)


def test_mf_has_no_propagation_and_reset_reinitialises():
    model = MatrixFactorization(3, 4, embedding_dim=8)
    users, items = model(None)
    assert torch.equal(torch.cat([users, items]), model.embedding.weight)
    before = model.embedding.weight.detach().clone()
    model.reset_parameters()
    assert not torch.equal(before, model.embedding.weight)


def test_uses_pyg_lgconv():
    from torch_geometric.nn.conv import LGConv

    model = LightGCN(2, 2, num_layers=3)
    assert len(model.convs) == 3 and all(isinstance(c, LGConv) for c in model.convs)


@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_one_node_layer_combination_matches_the_layer_loop(layers):
    """On a sparse CSR adjacency LightGCN sums its layers in one autograd node (Horner's
    rule, forward and backward); the value and the gradient are those of the LGConv loop."""
    from workbench.graph.models.propagation import fast_path

    dense, csr = sym_adj(n=9, seed=layers)
    model = LightGCN(num_users=4, num_items=5, embedding_dim=3, num_layers=layers)
    weights = torch.randn(9, 3)
    assert fast_path(csr, model.embedding.weight)
    fast = model.get_embedding(csr)
    (fast * weights).sum().backward()
    fast_grad, model.embedding.weight.grad = model.embedding.weight.grad.clone(), None
    slow = model.get_embedding(csr.to_sparse_coo())  # COO: the LGConv loop
    assert not fast_path(csr.to_sparse_coo(), model.embedding.weight)
    (slow * weights).sum().backward()
    assert torch.allclose(fast, slow, atol=1e-6)
    assert torch.allclose(fast_grad, model.embedding.weight.grad, atol=1e-6)
    expected = sum(torch.linalg.matrix_power(dense, k) for k in range(layers + 1)) / (layers + 1)
    assert torch.allclose(fast_grad, expected @ weights, atol=1e-5)  # symmetric: A^T = A


def test_no_rendered_propagate_file_is_left_in_the_temporary_folder(tmp_path):
    """torch-geometric writes each conv class's rendered `propagate` to a temporary file once
    per process; ours is removed once loaded, and the conv still propagates."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import torch
        from workbench.graph.models import LightGCN
        from workbench.graph.models.propagation import SymmetricLGConv
        model = LightGCN(num_users=2, num_items=2, embedding_dim=3, num_layers=2)
        adj = torch.tensor([[0., 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]])
        x = torch.randn(4, 3)
        out = SymmetricLGConv()(x, adj.to_sparse())  # the templated propagate, loaded
        assert torch.allclose(out, adj @ x), (out, adj @ x)
        print("ok")
    """)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".py") == []
