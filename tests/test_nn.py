"""Model layers against torch_geometric's own GCNConv and against the literal formulas."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.nn import GCNConv

from scrcl.graphs import normalized_adjacency, smooth
from scrcl.nn import GCNView, MLPView, Refinement, ScrclModule, ViewInput
from scrcl.nn.gcn import GCNLayer
from scrcl.training.train import _to_tensor

# a 4-node graph: 0-1, 1-2, 2-3, 1-3
EDGES = np.array([[0, 1], [1, 2], [2, 3], [1, 3]])


def _adj4():
    a = sp.coo_matrix((np.ones(4), (EDGES[:, 0], EDGES[:, 1])), shape=(4, 4))
    return (a + a.T).tocsr()


def test_gcn_layer_equals_torch_geometric_gcnconv():
    torch.manual_seed(0)
    ours = GCNLayer(5, 3)
    ref = GCNConv(5, 3)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(4, 5)
    ei = torch.tensor(np.r_[EDGES, EDGES[:, ::-1]].T.copy())
    adj = _to_tensor(normalized_adjacency(_adj4()), torch.device("cpu"))
    assert torch.allclose(ours(x, adj), ref(x, ei), atol=1e-6)


def test_gcn_layer_by_hand():
    layer = GCNLayer(1, 1)
    with torch.no_grad():
        layer.lin.weight.fill_(1.0)
        layer.bias.fill_(0.0)
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    adj = _to_tensor(normalized_adjacency(_adj4()), torch.device("cpu"))
    deg = np.array([2, 4, 3, 3])  # degrees of A + I
    want_0 = 1 / 2 * 1 + 2 / np.sqrt(2 * 4)  # node 0: itself and node 1
    assert layer(x, adj)[0, 0].item() == np.float32(want_0)


@pytest.mark.parametrize("steps", [0, 2])
def test_sparse_inputs_give_the_dense_values_and_gradients(steps):
    """Sparse X with the smoothing folded in after the linear map == dense S^t X."""
    x = sp.random(30, 12, density=0.3, random_state=1, format="csr", dtype=np.float32)
    a = sp.random(30, 30, density=0.1, random_state=2)
    a = ((a + a.T) > 0).astype(np.float32)
    a.setdiag(0)
    cpu = torch.device("cpu")
    adj = _to_tensor(normalized_adjacency(a), cpu)
    dense = torch.tensor(smooth(x, a, steps) if steps else x.toarray())
    xs, xs_t = _to_tensor(x, cpu), _to_tensor(x.T.tocsr(), cpu)
    for module, call in [
            (MLPView(12, 8), lambda m, x_, t, k: m(x_, t, adj, k)),
            (GCNView(12, 8, 0.0), lambda m, x_, t, k: m(x_, adj, t, 1 + k))]:
        out_d = call(module, dense, None, 0)
        grads_d = torch.autograd.grad(out_d.square().sum(), list(module.parameters()))
        out_s = call(module, xs, xs_t, steps)
        grads_s = torch.autograd.grad(out_s.square().sum(), list(module.parameters()))
        assert torch.allclose(out_d, out_s, atol=1e-5)
        for gd, gs in zip(grads_d, grads_s):
            assert torch.allclose(gd, gs, rtol=1e-4, atol=1e-5)


def test_fused_refinement_equals_projecting_to_gene_space():
    torch.manual_seed(1)
    n, g, h, c = 20, 15, 10, 4
    ref = Refinement(h, g, n, c, dropout=0.0)
    h1, h2 = torch.randn(n, h), torch.randn(n, h)
    xt = torch.rand(g, n)
    b = sp.random(g, g, density=0.2, random_state=0)
    b = ((b + b.T) > 0).astype(np.float32)
    b.setdiag(0)
    gene_adj = _to_tensor(normalized_adjacency(b), torch.device("cpu"))
    fused = ref(h1, h2, xt, gene_adj, fused=True)
    literal = ref(h1, h2, xt, gene_adj, fused=False)
    for f, l in zip(fused, literal):
        assert torch.allclose(f, l, atol=1e-5)
        assert torch.allclose(f.norm(dim=1), torch.ones(n), atol=1e-5)


def test_module_output_shapes():
    n, g = 25, 12
    model = ScrclModule(n, g, hid_dim=16, out_dim=3, dropout=0.1)
    x = torch.rand(n, g)
    a = sp.random(n, n, density=0.2, random_state=0)
    a = ((a + a.T) > 0).astype(np.float32)
    a.setdiag(0)
    adj = _to_tensor(normalized_adjacency(a), torch.device("cpu"))
    gadj = _to_tensor(normalized_adjacency(sp.identity(g) * 0), torch.device("cpu"))
    out = model(ViewInput(x), ViewInput(x), adj, x.T.contiguous(), gadj)
    assert out["e1"].shape == (n, 16) and out["z2"].shape == (n, 3)
    assert torch.allclose(out["e2"].norm(dim=1), torch.ones(n), atol=1e-5)


def test_gcn_view_precomputed_first_hop_gives_the_same_values_and_gradients():
    """(S^(t+1) X) W computed from a precomputed constant == S^(t+1) (X W) in the layer."""
    x = np.random.default_rng(3).random((30, 12)).astype(np.float32)
    a = sp.random(30, 30, density=0.1, random_state=2)
    a = ((a + a.T) > 0).astype(np.float32)
    a.setdiag(0)
    adj = _to_tensor(normalized_adjacency(a), torch.device("cpu"))
    torch.manual_seed(0)
    view = GCNView(12, 8, 0.0)
    in_layer = view(torch.tensor(smooth(x, a, 2)), adj, None, hops=1)
    grads_in = torch.autograd.grad(in_layer.square().sum(), list(view.parameters()))
    pre = view(torch.tensor(smooth(x, a, 3)), adj, None, hops=0)
    grads_pre = torch.autograd.grad(pre.square().sum(), list(view.parameters()))
    assert torch.allclose(in_layer, pre, atol=1e-5)
    for gi, gp in zip(grads_in, grads_pre):
        assert torch.allclose(gi, gp, rtol=1e-4, atol=1e-5)


def test_fast_dropout_rate_scale_gradient_and_seed():
    from scrcl.nn.dropout import Dropout, keep_mask

    mask = keep_mask(torch.Size([1000, 1500]), 0.3, torch.device("cpu"))
    assert mask.dtype == torch.bool and mask.shape == (1000, 1500)
    assert abs(mask.float().mean().item() - 0.7) < 2e-3  # 1.5M draws: std 4e-4
    assert abs(mask[:, :750].float().mean() - mask[:, 750:].float().mean()) < 3e-3
    drop = Dropout(0.3)
    x = torch.randn(200, 30, requires_grad=True)
    torch.manual_seed(7)
    y = drop(x)
    torch.manual_seed(7)
    again = drop(x)
    assert torch.equal(y, again)  # a function of the seed
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / 0.7)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(grad, kept.float() / 0.7)
    drop.eval()
    assert drop(x) is x


@pytest.mark.parametrize("low_memory", [True, False, None])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("slope", [0.0, 0.01])
def test_fused_bias_activation_is_bit_identical_to_the_plain_operations(dtype, slope,
                                                                        low_memory):
    """Values, input gradient (in the input's dtype) and bias gradient, bit for bit."""
    from scrcl.nn.activations import bias_leaky_relu

    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 40, generator=g).to(dtype)
    x[0, :5] = 0  # exact zeros of x + b: the sign convention at 0
    bias = torch.randn(40, generator=g)
    bias[:5] = 0
    upstream = torch.randn(300, 40, generator=g)
    xs = [x.clone().requires_grad_() for _ in range(2)]
    bs = [bias.clone().requires_grad_() for _ in range(2)]
    y = xs[0] + bs[0]
    plain = torch.relu(y) if slope == 0 else torch.nn.functional.leaky_relu(y, slope)
    fused = bias_leaky_relu(xs[1], bs[1], slope, low_memory)
    assert torch.equal(plain, fused) and fused.dtype == torch.float32
    (plain * upstream).sum().backward()
    (fused * upstream).sum().backward()
    assert xs[1].grad.dtype == dtype
    assert torch.equal(xs[0].grad, xs[1].grad)
    assert torch.equal(bs[0].grad, bs[1].grad)


def test_bias_activation_takes_the_memory_light_node_only_for_large_low_precision_inputs():
    from scrcl.nn import activations

    def node(x):
        y = activations.bias_leaky_relu(x.requires_grad_(), torch.zeros(4, requires_grad=True))
        return type(y.grad_fn).__name__

    small = torch.zeros(8, 4, dtype=torch.bfloat16)
    big = torch.zeros(activations.LOW_MEMORY_MIN // 4, 4, dtype=torch.bfloat16)
    assert "BiasLeakyReLU" not in node(small)
    assert "BiasLeakyReLU" in node(big)
    assert "BiasLeakyReLU" not in node(big.float())  # same precision: nothing to save
    assert "BiasLeakyReLU" not in node(big.double())  # higher precision: nothing to save
