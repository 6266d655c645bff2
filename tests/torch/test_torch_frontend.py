"""The PyTorch front end on a test zoo written directly in PyTorch (float64).

Zoo: ``mlp_gelu``, ``activations`` (every supported activation in a row),
``cnn`` (conv, batch norm, max and average pooling, flatten), ``conv1d``,
``resmlp`` (pre-norm residual MLP with LayerNorm), ``rope_attention``
(RMSNorm, causal GQA attention, rotary embeddings from buffers, residual),
``mha`` (``nn.MultiheadAttention``), ``swiglu`` (embedding, RMSNorm, SwiGLU
FFN), ``soft_moe`` (softmax router; experts as batched parameters used
through ``torch.einsum``) and ``tied_lm`` (a weight used transposed, an
unembedding tied to the embedding), ``resnet_block`` (in-place ReLU, ``out +=
x``, adaptive pooling, dropout, BatchNorm1d).

Checked for every model: the translated graph computes what the module
computes; every inferred unit space leaves the output unchanged (relative
1e-12); a random model has no ties; symcheck's float64 gradients agree with
torch autograd to 1e-10 relative. Planted ties and identical experts are found
and certified. Siblings: a half-planted tie is not reported, a wrong
translation (a transposed weight) is caught by the autograd comparison, and
unsupported modules get one line naming the op and the module path.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from symcheck.errors import InvalidArgument
from symcheck.graph.confirm import RELATIVE_TOLERANCE, invariance_gap
from symcheck.graph.evaluate import evaluate
from symcheck.graph.symmetry import apply_permutation
from symcheck.torch import gradients, prove, symmetries, tie_classes
from symcheck.torch import translate as translate_module_table
from symcheck.torch.api import translate_module

torch.set_num_threads(1)

GRADIENT_TOLERANCE = 1e-10

# ---------------------------------------------------------------- the zoo


class MLP(nn.Module):
    def __init__(self, widths=(3, 5, 4, 2), activation: Callable[[], nn.Module] = nn.GELU):
        super().__init__()
        layers: list[nn.Module] = []
        for k in range(len(widths) - 1):
            layers.append(nn.Linear(widths[k], widths[k + 1]))
            if k < len(widths) - 2:
                layers.append(activation())
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Activations(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.acts = nn.Sequential(
            nn.GELU(approximate="tanh"),
            nn.SiLU(),
            nn.Softplus(),
            nn.ELU(),
            nn.LeakyReLU(0.1),
            nn.Tanh(),
            nn.Sigmoid(),
            nn.ReLU(),
        )
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.acts(self.fc(x)))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 4, 3, padding=1, stride=1)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(2)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = F.relu(self.bn(self.conv1(x)))
        h = self.avg(self.pool(torch.tanh(self.conv2(h))))
        return self.fc(torch.flatten(h, 1))


class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 3, padding=1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(torch.tanh(self.conv(x)).mean(-1))


class ResMLP(nn.Module):
    def __init__(self, d=4, f=6, blocks=2):
        super().__init__()
        self.embed = nn.Linear(3, d)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(blocks))
        self.ups = nn.ModuleList(nn.Linear(d, f) for _ in range(blocks))
        self.downs = nn.ModuleList(nn.Linear(f, d) for _ in range(blocks))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 2)

    def forward(self, x):
        s = self.embed(x)
        for norm, up, down in zip(self.norms, self.ups, self.downs):
            s = s + down(torch.tanh(up(norm(s))))
        return self.head(self.norm(s))


def _rotary(seq: int, dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.outer(torch.arange(seq, dtype=torch.float64), inv)
    emb = torch.cat([angles, angles], dim=-1)
    return emb.cos(), emb.sin()


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class RopeAttention(nn.Module):
    """Pre-norm causal attention block with RoPE and grouped-query attention."""

    def __init__(self, d=8, heads=2, kv_heads=1, seq=3):
        super().__init__()
        self.heads, self.kv_heads, self.dh = heads, kv_heads, d // heads
        self.norm = nn.RMSNorm(d, eps=1e-6)
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, kv_heads * self.dh, bias=False)
        self.v_proj = nn.Linear(d, kv_heads * self.dh, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        cos, sin = _rotary(seq, self.dh)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x):
        b, t, d = x.shape
        h = self.norm(x)
        q = self.q_proj(h).view(b, t, self.heads, self.dh).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.kv_heads, self.dh).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.kv_heads, self.dh).transpose(1, 2)
        q = q * self.cos + _rotate_half(q) * self.sin
        k = k * self.cos + _rotate_half(k) * self.sin
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return x + self.o_proj(a.transpose(1, 2).reshape(b, t, d))


class MHA(nn.Module):
    def __init__(self, d=8, heads=2):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.head = nn.Linear(d, 2)

    def forward(self, x):
        return self.head(self.attn(x, x, x, need_weights=False)[0])


class SwiGLU(nn.Module):
    def __init__(self, vocab=5, d=4, f=6):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.norm = nn.RMSNorm(d)
        self.gate = nn.Linear(d, f, bias=False)
        self.up = nn.Linear(d, f, bias=False)
        self.down = nn.Linear(f, d, bias=False)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        s = self.embed(ids)
        h = self.norm(s)
        s = s + self.down(F.silu(self.gate(h)) * self.up(h))
        return self.head(s)


class SoftMoE(nn.Module):
    """A softmax-gated soft mixture of experts; experts are batched parameters."""

    def __init__(self, d=4, experts=3, f=5, identical=False):
        super().__init__()
        self.router = nn.Linear(d, experts)
        self.w_up = nn.Parameter(torch.randn(experts, f, d) / d**0.5)
        self.b_up = nn.Parameter(torch.randn(experts, f) * 0.1)
        self.w_down = nn.Parameter(torch.randn(experts, d, f) / f**0.5)
        self.head = nn.Linear(d, 2)
        if identical:
            with torch.no_grad():
                for p in (self.w_up, self.b_up, self.w_down):
                    p.copy_(p[:1].expand_as(p))
                self.router.weight.zero_()  # identical rows: the router cannot tell them apart
                self.router.bias.zero_()

    def forward(self, x):
        gates = torch.softmax(self.router(x), dim=-1)
        h = torch.tanh(torch.einsum("bd,efd->bef", x, self.w_up) + self.b_up)
        y = torch.einsum("bef,edf->bed", h, self.w_down)
        return self.head(torch.einsum("be,bed->bd", gates, y))


class TiedLM(nn.Module):
    """A weight stored transposed (used as ``w.t()``) and an unembedding tied to the embedding."""

    def __init__(self, vocab=5, d=4, f=6):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.proj = nn.Parameter(torch.randn(d, f) / d**0.5)  # (in, out)
        self.back = nn.Linear(f, d)

    def forward(self, ids):
        h = torch.tanh(F.linear(self.embed(ids), self.proj.t()))
        return F.linear(self.back(h), self.embed.weight)


class ResNetBlock(nn.Module):
    """A residual conv block written the usual way: in-place ReLU and ``out += x``."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 3, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 2, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(2)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(2, 3),
            nn.BatchNorm1d(3),
        )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        out += x
        return self.head(F.relu(out, inplace=True))


def _float(*shape: int) -> Callable[[torch.Generator], tuple[torch.Tensor, ...]]:
    return lambda g: (torch.randn(*shape, generator=g, dtype=torch.float64),)


ZOO: dict[str, tuple[Callable[[], nn.Module], Callable[[torch.Generator], tuple]]] = {
    "mlp_gelu": (MLP, _float(4, 3)),
    "activations": (Activations, _float(4, 3)),
    "cnn": (CNN, _float(2, 1, 4, 4)),
    "conv1d": (Conv1dNet, _float(2, 2, 5)),
    "resmlp": (ResMLP, _float(3, 3)),
    "rope_attention": (RopeAttention, _float(2, 3, 8)),
    "mha": (MHA, _float(2, 3, 8)),
    "swiglu": (SwiGLU, lambda g: (torch.randint(0, 5, (2, 3), generator=g),)),
    "soft_moe": (SoftMoE, _float(3, 4)),
    "resnet_block": (ResNetBlock, _float(2, 2, 4, 4)),
    "tied_lm": (TiedLM, lambda g: (torch.randint(0, 5, (2, 3), generator=g),)),
}


def make(name: str, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """A fresh float64 eval-mode model of the zoo and example inputs, both from ``seed``."""
    factory, inputs = ZOO[name]
    torch.manual_seed(seed)
    model = factory().double().eval()
    with torch.no_grad():  # non-trivial running statistics
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
    return model, inputs(torch.Generator().manual_seed(seed + 1))


# ---------------------------------------------------------------- helpers


def _autograd(model: nn.Module, inputs: tuple, targets: torch.Tensor, loss: object) -> dict:
    model.zero_grad()
    value = loss(model(*inputs), targets)
    value.backward()
    return {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()}


def _relative_error(ours: dict, reference: dict) -> float:
    assert set(ours) == set(reference)
    worst = 0.0
    for name, ref in reference.items():
        scale = max(float(np.max(np.abs(ref))), 1e-300)
        worst = max(worst, float(np.max(np.abs(ours[name] - ref))) / scale)
    return worst


def _mse_targets(model: nn.Module, inputs: tuple, seed: int = 7) -> torch.Tensor:
    with torch.no_grad():
        shape = model(*inputs).shape
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------- every zoo model


@pytest.mark.parametrize("name", sorted(ZOO))
def test_the_translated_graph_computes_the_module(name):
    model, inputs = make(name)
    translation = translate_module(model, inputs)
    ours = evaluate(translation.graph, translation.values, translation.inputs)
    with torch.no_grad():
        reference = model(*inputs).numpy()
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_inferred_space_leaves_the_output_unchanged(name):
    model, inputs = make(name)
    translation = translate_module(model, inputs)
    found = symmetries(model, inputs)
    assert found.movable, "every zoo model has hidden units that permute"
    rng = np.random.default_rng(3)
    for space in found.movable:
        for _ in range(3):
            if space.group == "restricted":
                perm = np.concatenate([rng.permutation(list(b)) for b in space.blocks])
            else:
                perm = rng.permutation(space.size)
            gap = invariance_gap(
                translation.graph, translation.values, translation.inputs, space, perm
            )
            assert gap <= RELATIVE_TOLERANCE, (space.name, gap)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_a_random_model_has_no_ties(name):
    model, inputs = make(name)
    result = tie_classes(model, inputs)
    assert not _classes(result), result.to_json()


@pytest.mark.parametrize("name", sorted(ZOO))
def test_prove_goes_through_every_model_and_never_refutes(name):
    """A random model claims no tie, so the proof is vacuous (proved) or, where an op's
    equivariance cannot be decided exactly on SymPy (a piecewise op, sdpa's shapes), unknown
    with the undecided residual named; never refuted, never an exception."""
    model, inputs = make(name)
    proof = prove(model, inputs, optimizer="adam")
    data = proof.to_json()
    json.dumps(data)
    assert "(0 pair(s) in none)" in proof.statement
    assert proof.verdict in ("proved", "unknown")
    if proof.verdict == "unknown":
        assert any(r["status"] == "unknown" for r in data["residuals"])


def test_identical_experts_are_proved_to_stay_tied_under_adam():
    torch.manual_seed(0)
    model = SoftMoE(identical=True).double().eval()
    proof = prove(model, (torch.randn(3, 4, dtype=torch.float64),), optimizer="adam")
    assert proof.verdict == "proved"
    assert "(2 pair(s) in w_down.experts (1 class(es)))" in proof.statement


@pytest.mark.parametrize("name", sorted(ZOO))
def test_gradients_agree_with_autograd(name):
    model, inputs = make(name)
    targets = _mse_targets(model, inputs)
    ours = gradients(model, inputs, targets, nn.MSELoss())
    reference = _autograd(model, inputs, targets, nn.MSELoss())
    assert _relative_error(ours, reference) <= GRADIENT_TOLERANCE
    assert all(g.dtype == np.float64 for g in ours.values())
    json.dumps(ours.to_json())


@pytest.mark.parametrize("name", sorted(ZOO))
def test_float32_autograd_agrees_within_the_derived_tolerance(name, symcheck):
    """The plugin's helper: float32 autograd vs float64 symcheck, tolerance from dtype and size."""
    model, inputs = make(name)
    model = model.float()
    inputs = tuple(t.float() if t.is_floating_point() else t for t in inputs)
    targets = _mse_targets(
        model.double(), tuple(t.double() if t.is_floating_point() else t for t in inputs)
    ).float()
    symcheck.assert_gradients_match(model.float(), inputs, targets, nn.MSELoss())


def test_requires_grad_parameters_and_the_users_module_are_left_alone():
    model, inputs = make("mlp_gelu")
    assert all(p.requires_grad for p in model.parameters())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    gradients(model, inputs, _mse_targets(model, inputs), "mse")
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


# ---------------------------------------------------------------- what the spaces say


def test_spaces_are_named_by_the_modules_parameters():
    model, inputs = make("rope_attention")
    found = symmetries(model, inputs)
    data = found.to_json()
    json.dumps(data)
    assert {"q_proj.weight", "k_proj.weight", "o_proj.weight", "norm.weight"} <= set(
        data["parameters"]
    )
    kinds = {s.kind: s for s in found.movable}
    heads = kinds["head"]
    assert heads.group == "symmetric" and heads.size == 2
    assert {(r.parameter, r.axis, r.block) for r in heads.axes} == {
        ("q_proj.weight", 0, 4),
        ("o_proj.weight", 1, 4),
    }
    # the rotary tables give each pair of dims its own frequency: query-key dims are fixed
    assert "qk_dim" not in kinds
    assert kinds["vo_dim"].group == "symmetric"


def test_multihead_attention_heads_move_with_their_packed_projection_rows():
    model, inputs = make("mha")
    heads = [s for s in symmetries(model, inputs).movable if s.kind == "head"]
    assert len(heads) == 1 and heads[0].size == 2
    refs = {(r.parameter, r.axis, r.block) for r in heads[0].axes}
    assert ("attn.in_proj_weight", 0, 4) in refs and ("attn.out_proj.weight", 1, 4) in refs


def test_cnn_channels_carry_batch_norm_statistics_and_flattened_blocks():
    model, inputs = make("cnn")
    spaces = {s.name: s for s in symmetries(model, inputs).movable}
    conv1 = {(r.parameter, r.axis) for r in spaces["conv1"].axes}
    assert {("bn.running_mean", 0), ("bn.running_var", 0), ("conv2.weight", 1)} <= conv1
    assert ("fc.weight", 1) in {(r.parameter, r.axis) for r in spaces["conv2"].axes}


# ---------------------------------------------------------------- ties


def _axes_of(space) -> set[tuple[str, int]]:
    return {(r.parameter, r.axis) for r in space.axes}


def _classes(result) -> list[tuple[str, tuple[int, ...]]]:
    """Every certified class of the graph core's TieClasses: (space, units)."""
    return [(c.space, c.units) for s in result.spaces for c in s.certificates]


def _certified(model, inputs, result) -> None:
    """Every certificate, re-applied here, maps every value exactly onto itself."""
    translation = translate_module(model, inputs)
    found = symmetries(model, inputs)
    for tie in (c for s in result.spaces for c in s.certificates):
        space = found.space(tie.space)
        moved = apply_permutation(translation.graph, translation.values, space, tie.permutation)
        assert all(np.array_equal(moved[p], translation.values[p]) for p in moved)
        assert sorted(tie.permutation[u] for u in tie.units) == sorted(tie.units)
        assert all(tie.permutation[u] != u for u in tie.units)


def test_identical_experts_are_one_certified_tie_class():
    torch.manual_seed(0)
    model = SoftMoE(identical=True).double().eval()
    inputs = (torch.randn(3, 4, dtype=torch.float64),)
    result = tie_classes(model, inputs)
    (space,) = [s for s in symmetries(model, inputs).movable if ("w_up", 0) in _axes_of(s)]
    assert {("w_down", 0), ("b_up", 0), ("router.weight", 0)} <= _axes_of(space)
    assert _classes(result) == [(space.name, (0, 1, 2))]
    _certified(model, inputs, result)
    data = result.to_json()
    json.dumps(data)
    assert (data["model"], data["init"]) == ("SoftMoE", "current")
    (entry,) = [s for s in data["spaces"] if s["space"] == space.name]
    assert entry["classes"] == [[0, 1, 2]] and entry["certificates"][0]["units"] == [0, 1, 2]


def _plant(model: MLP, a: int, b: int, *, outgoing: bool = True) -> None:
    first, second = model.net[0], model.net[2]
    with torch.no_grad():
        first.weight[b] = first.weight[a]
        first.bias[b] = first.bias[a]
        if outgoing:
            second.weight[:, b] = second.weight[:, a]


def test_a_planted_tie_is_found_and_certified():
    model, inputs = make("mlp_gelu")
    _plant(model, 1, 3)
    result = tie_classes(model, inputs)
    assert _classes(result) == [("net.0:Linear", (1, 3))]
    _certified(model, inputs, result)


def test_a_half_planted_tie_is_not_reported():
    model, inputs = make("mlp_gelu")
    _plant(model, 1, 3, outgoing=False)  # same incoming weights, different outgoing ones
    assert not _classes(tie_classes(model, inputs))


# ---------------------------------------------------------------- losses


LOSSES: dict[str, tuple[str, object, Callable]] = {
    "MSELoss(mean)": ("mlp_gelu", nn.MSELoss(), _mse_targets),
    "MSELoss(sum)": ("resmlp", nn.MSELoss(reduction="sum"), _mse_targets),
    "CrossEntropyLoss(mean), class ids": (
        "cnn",
        nn.CrossEntropyLoss(),
        lambda m, x: torch.tensor([2, 0]),
    ),
    "CrossEntropyLoss(sum), probabilities": (
        "mlp_gelu",
        nn.CrossEntropyLoss(reduction="sum"),
        lambda m, x: torch.softmax(_mse_targets(m, x), dim=-1),
    ),
    "BCEWithLogitsLoss(mean)": (
        "mha",
        nn.BCEWithLogitsLoss(),
        lambda m, x: torch.rand(_mse_targets(m, x).shape, dtype=torch.float64),
    ),
}


@pytest.mark.parametrize("case", sorted(LOSSES))
def test_torch_losses_are_converted_exactly(case):
    name, loss, make_targets = LOSSES[case]
    model, inputs = make(name)
    targets = make_targets(model, inputs)
    ours = gradients(model, inputs, targets, loss)
    assert _relative_error(ours, _autograd(model, inputs, targets, loss)) <= GRADIENT_TOLERANCE
    with torch.no_grad():
        assert ours.loss == pytest.approx(float(loss(model(*inputs), targets)), rel=1e-12)


def test_symchecks_own_mse_is_half_the_sum_of_squares_per_sample_averaged():
    torch.manual_seed(0)
    model = MLP(widths=(3, 5, 3)).double()
    inputs = (torch.randn(4, 3, dtype=torch.float64),)
    targets = _mse_targets(model, inputs)
    batch, width = targets.shape

    def own(out, t):
        return 0.5 * ((out - t) ** 2).sum() / batch

    ours = gradients(model, inputs, targets, "mse")
    assert _relative_error(ours, _autograd(model, inputs, targets, own)) <= GRADIENT_TOLERANCE
    # nn.MSELoss averages over all batch * width elements and has no 1/2: its gradients
    # are those of symcheck's mse times 2 / width
    torch_mse = gradients(model, inputs, targets, nn.MSELoss())
    for name, grad in ours.items():
        np.testing.assert_allclose(torch_mse[name], grad * 2 / width, rtol=1e-10)


@pytest.mark.parametrize(
    ("loss", "fragment"),
    [
        ("hinge", "loss='hinge' is not supported"),
        (nn.L1Loss(), "loss=L1Loss is not supported"),
        (nn.MSELoss(reduction="none"), "reduction='none'"),
        (nn.CrossEntropyLoss(label_smoothing=0.1), "label_smoothing"),
    ],
)
def test_unsupported_losses_are_refused_in_one_line(loss, fragment):
    model, inputs = make("mlp_gelu")
    with pytest.raises(InvalidArgument, match=fragment) as info:
        gradients(model, inputs, _mse_targets(model, inputs), loss)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- siblings of the checkers


def _transposed_linear(e, a, node):
    weight = e.value(a["weight"])  # read as (in, out): a transposed weight
    out = e.emit("einsum", [e.value(a["input"]), weight], equation="bi,io->bo")
    if a["bias"] is not None:
        bias = e.broadcast(e.value(a["bias"]), e.shape(a["bias"]), e.shape(node))
        out = e.emit("add", [out, bias])
    return out


def test_a_wrong_translation_is_caught_by_the_autograd_comparison(monkeypatch):
    torch.manual_seed(0)
    model = MLP(widths=(3, 3, 3)).double()  # square weights: the wrong graph still builds
    inputs = (torch.randn(4, 3, dtype=torch.float64),)
    targets = _mse_targets(model, inputs)
    reference = _autograd(model, inputs, targets, nn.MSELoss())
    honest = gradients(model, inputs, targets, nn.MSELoss())
    assert _relative_error(honest, reference) <= GRADIENT_TOLERANCE
    entry = translate_module_table.ATEN["aten.linear.default"]
    monkeypatch.setitem(
        translate_module_table.ATEN,
        "aten.linear.default",
        translate_module_table.Aten(entry.graph_ops, _transposed_linear, entry.doc),
    )
    broken = gradients(model, inputs, targets, nn.MSELoss())
    assert _relative_error(broken, reference) > 1e-3


class _Inner(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=-1)


class _Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.block = nn.Sequential(nn.Identity(), _Inner())

    def forward(self, x):
        return self.block(self.fc(x))


def test_an_unsupported_op_is_refused_naming_the_op_and_the_module_path():
    inputs = (torch.randn(2, 3, dtype=torch.float64),)
    with pytest.raises(InvalidArgument) as info:
        symmetries(_Outer(), inputs)
    message = str(info.value)
    assert "\n" not in message
    assert "aten.cumsum.default" in message and "module 'block.1' (_Inner)" in message


class _Aliased(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        h = self.fc(x)
        g = h * 2
        h.relu_()  # g was computed before; a pure translation of relu_ would be wrong for h
        return g + h


class _Masked(nn.Module):
    def forward(self, q):
        mask = torch.ones(3, 3, dtype=torch.bool)
        return F.scaled_dot_product_attention(q, q, q, attn_mask=mask)


class _DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


@pytest.mark.parametrize(
    ("model", "inputs", "fragments"),
    [
        (_Masked(), (torch.randn(1, 2, 3, 4),), ["scaled_dot_product_attention", "attn_mask"]),
        (_Aliased(), (torch.randn(2, 3),), ["aten.relu_.default", "read elsewhere"]),
        (
            _DataDependent(),
            (torch.randn(2, 3),),
            ["torch.export could not capture", "_DataDependent"],
        ),
        ("not a module", (torch.randn(2, 3),), ["must be a torch.nn.Module"]),
        (nn.Linear(3, 2), ([1, 2, 3],), ["example_inputs", "tuple of tensors"]),
        (nn.Linear(3, 2), (torch.tensor(1.0),), ["no batch axis"]),
    ],
)
def test_bad_modules_and_inputs_get_one_clear_line(model, inputs, fragments):
    with pytest.raises(InvalidArgument) as info:
        symmetries(model, inputs)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_every_table_entry_names_graph_ops_that_exist():
    from symcheck.graph.ops import OPS

    for name, entry in translate_module_table.ATEN.items():
        assert name.startswith("aten."), name
        assert set(entry.graph_ops) <= set(OPS), (name, entry.graph_ops)


def test_nn_transformer_encoder_translates_as_it_is():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 12, batch_first=True)
    model = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False).double().eval()
    inputs = (torch.randn(2, 3, 8, dtype=torch.float64),)
    kinds = {(s.kind, s.size, s.group) for s in symmetries(model, inputs).movable}
    assert {("head", 2, "symmetric"), ("neuron", 12, "symmetric")} <= kinds
    targets = _mse_targets(model, inputs)
    ours = gradients(model, inputs, targets, nn.MSELoss())
    reference = _autograd(model, inputs, targets, nn.MSELoss())
    assert _relative_error(ours, reference) <= GRADIENT_TOLERANCE
