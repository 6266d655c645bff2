"""Hypothesis strategies for graphs: zoo models with small options, and random compositions.

:func:`graphs` draws either a zoo model (:data:`symcheck.graph.zoo.ZOO`) with
small random options, or a random composition of op "steps" over a feature
vector, a sequence or an image, so that together they cover every op of the
op table and its symmetry rule (checked by ``tests/graph/test_strategies_cover.py``).
:func:`space_permutations` draws one permutation per movable unit space (within
blocks for restricted spaces).

For the properties of training (``properties/test_graph_ties_survive_training.py``
and siblings): :func:`exact_graphs` (zoo ``mlp`` or :func:`exact_compositions`) uses only the ops of
:data:`EXACT_OPS`, exact on dyadic rationals; :func:`dyadic_data` draws
inputs and targets that float64 holds exactly; :func:`point_values` gives an
init point of :mod:`symcheck.graph.points` dyadic values, one per free symbol.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from symcheck.graph.ir import Graph, GraphBuilder
from symcheck.graph.ops import get_op
from symcheck.graph.points import Point
from symcheck.graph.sample import POSITIVE_ROLES, parameter_roles
from symcheck.graph.symmetry import Symmetries, UnitSpace
from symcheck.graph.zoo import ZOO

__all__ = [
    "EXACT_ACTIVATIONS",
    "EXACT_OPS",
    "compositions",
    "dyadic_data",
    "exact_compositions",
    "exact_graphs",
    "graphs",
    "permutation_of",
    "point_values",
    "space_permutations",
    "zoo_graphs",
]

ACTIVATIONS = ("tanh", "relu", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus", "elu", "sin")
#: Activations that map dyadic rationals to dyadic rationals (no rounding).
EXACT_ACTIVATIONS = ("identity", "relu", "leaky_relu(1/4)")
#: The ops :func:`exact_compositions` uses: on dyadic operands each computes
#: sums, products, maxima and halvings only, so float64 rounds nothing while
#: the bit lengths stay below 53 (docs/theory.md, §4 floating point).
EXACT_OPS = frozenset(
    {
        "activation",
        "add",
        "avg_pool2d",
        "concat",
        "conv1d",
        "conv2d",
        "einsum",
        "embedding",
        "expand",
        "expert_linear",
        "flatten",
        "linear",
        "max_pool2d",
        "mean",
        "merge_heads",
        "moe_combine",
        "mse",
        "mul",
        "parameter",
        "permute",
        "reshape",
        "scale",
        "slice_axis",
        "split_heads",
        "stack",
    }
)
_SIZES = st.integers(1, 3)

# Small options per zoo model (every key not listed keeps its default).
_ZOO_OPTIONS: dict[str, dict[str, st.SearchStrategy]] = {
    "mlp": {"inputs": _SIZES, "hidden": st.integers(1, 4), "layers": st.integers(1, 3)},
    "cnn": {"channels": st.integers(1, 3), "size": st.sampled_from([2, 4]), "classes": _SIZES},
    "resmlp": {"d_model": st.integers(2, 4), "d_ff": _SIZES, "blocks": st.integers(1, 2)},
    "transformer": {
        "heads": st.sampled_from([1, 2, 4]),
        "layers": st.integers(1, 2),
        "seq": _SIZES,
        "rope": st.integers(0, 1),
        "kv_heads": st.sampled_from([0, 1, 2]),
        "causal": st.integers(0, 1),
        "d_ff": _SIZES,
    },
    "moe": {"d_model": st.integers(1, 3), "experts": st.integers(1, 3), "d_ff": _SIZES},
}


@st.composite
def zoo_graphs(draw: st.DrawFn) -> Graph:
    """A zoo model with small options."""
    name = draw(st.sampled_from(sorted(_ZOO_OPTIONS)))
    options = dict(ZOO[name].defaults)
    options.update({k: draw(s, label=f"{name}.{k}") for k, s in _ZOO_OPTIONS[name].items()})
    if name == "transformer":
        heads = options["heads"]
        options["d_model"] = heads * 2 * draw(st.integers(1, 2))
        options["kv_heads"] = options["kv_heads"] if heads % max(options["kv_heads"], 1) == 0 else 0
    return ZOO[name].build(options)


class _State:
    """The value a composition is building on, and a counter for fresh names."""

    def __init__(
        self,
        b: GraphBuilder,
        value: str,
        width: int,
        lead: tuple[int, ...],
        *,
        exact: bool = False,
    ) -> None:
        self.b, self.value, self.width, self.lead, self.k = b, value, width, lead, 0
        self.exact = exact
        self.activations = EXACT_ACTIVATIONS if exact else ACTIVATIONS

    def gates(self, experts: int) -> str:
        """Router weights: a softmax of a dense layer (exact mode: the dense layer itself)."""
        logits = self.dense(self.value, experts)
        return logits if self.exact else self.b.node("softmax", [logits])

    def fresh(self, stem: str) -> str:
        self.k += 1
        return f"{stem}{self.k}"

    def dense(self, x: str, width: int, *, bias: bool = True) -> str:
        name = self.fresh("fc")
        params, shapes = [f"{name}.weight"], [(width, self.width)]
        if bias:
            params.append(f"{name}.bias")
            shapes.append((width,))
        return self.b.node("linear", [x], params, shapes=shapes, output=name)


def _step_dense(draw: st.DrawFn, s: _State) -> None:
    width = draw(_SIZES)
    h = s.dense(s.value, width, bias=draw(st.booleans()))
    s.value = s.b.node("activation", [h], name=draw(st.sampled_from(s.activations)))
    s.width = width


def _step_norm(draw: st.DrawFn, s: _State) -> None:
    op = draw(st.sampled_from(["layer_norm", "rms_norm"]))
    affine = draw(st.integers(0, 2 if op == "layer_norm" else 1))
    name = s.fresh("norm")
    params = [f"{name}.weight", f"{name}.bias"][:affine]
    s.value = s.b.node(op, [s.value], params, shapes=[(s.width,)] * affine)


def _step_residual(draw: st.DrawFn, s: _State) -> None:
    hidden = draw(_SIZES)
    h = s.dense(s.value, hidden)
    h = s.b.node("activation", [h], name=draw(st.sampled_from(s.activations)))
    s.width, width = hidden, s.width
    h = s.dense(h, width)
    s.width = width
    s.value = s.b.node("add", [s.value, h])


def _step_glu(draw: st.DrawFn, s: _State) -> None:
    hidden = draw(_SIZES)
    act = draw(st.sampled_from(s.activations)) if s.exact else "silu"
    gate = s.b.node("activation", [s.dense(s.value, hidden)], name=act)
    s.value = s.b.node("mul", [gate, s.dense(s.value, hidden, bias=False)])
    s.width = hidden


def _step_softmax(draw: st.DrawFn, s: _State) -> None:
    s.value = s.b.node("softmax", [s.value], axis=-1)


def _step_concat(draw: st.DrawFn, s: _State) -> None:
    a, c = draw(_SIZES), draw(_SIZES)
    s.value = s.b.node("concat", [s.dense(s.value, a), s.dense(s.value, c)], axis=-1)
    s.width = a + c


def _step_stack_mean(draw: st.DrawFn, s: _State) -> None:
    width = draw(_SIZES)
    parts = [s.dense(s.value, width) for _ in range(2)]
    axis = len(s.lead)
    stacked = s.b.node("stack", parts, axis=axis)
    s.value = s.b.node("mean", [stacked], axis=axis)
    s.width = width


def _step_moe(draw: st.DrawFn, s: _State) -> None:
    experts, hidden = draw(_SIZES), draw(_SIZES)
    gates = s.gates(experts)
    name = s.fresh("experts")
    up = s.b.node(
        "expert_linear",
        [s.value],
        [f"{name}.up.weight", f"{name}.up.bias"],
        shapes=[(experts, hidden, s.width), (experts, hidden)],
        shared_input=True,
    )
    up = s.b.node("activation", [up], name=draw(st.sampled_from(s.activations)))
    down = s.b.node(
        "expert_linear",
        [up],
        [f"{name}.down.weight"],
        shapes=[(experts, s.width, hidden)],
    )
    s.value = s.b.node("moe_combine", [gates, down])


def _step_attention(draw: st.DrawFn, s: _State) -> None:
    kv = draw(st.sampled_from([1, 2]))
    heads = kv * draw(st.sampled_from([1, 2]))
    dim = draw(st.sampled_from([2, 4]))
    rope = draw(st.booleans())
    split = []
    for count in (heads, kv, kv):
        h = s.b.node("split_heads", [s.dense(s.value, count * dim, bias=False)], heads=count)
        split.append(h)
    if rope:
        split[0] = s.b.node("rope", [split[0]])
        split[1] = s.b.node("rope", [split[1]])
    if draw(st.booleans()):  # a softmax over heads, positions or head dims of the values
        split[2] = s.b.node("softmax", [split[2]], axis=draw(st.integers(1, 3)))
    a = s.b.node("sdpa", split, causal=draw(st.booleans()))
    a = s.b.node("merge_heads", [a])
    width, s.width = s.width, heads * dim
    a = s.dense(a, width)
    s.width = width
    s.value = s.b.node("add", [s.value, a])


def _step_heads_view(draw: st.DrawFn, s: _State) -> None:
    """Split features into (heads, dims) by ``reshape``, swap them by ``permute``, merge."""
    heads, dim = draw(_SIZES), draw(_SIZES)
    h = s.dense(s.value, heads * dim)
    rank = len(s.lead) + 2
    h = s.b.node("reshape", [h], shape=[*s.lead, heads, dim])
    h = s.b.node("permute", [h], dims=[*range(rank - 2), rank - 1, rank - 2])
    h = s.b.node("activation", [h], name=draw(st.sampled_from(s.activations)))
    s.value = s.b.node("reshape", [h], shape=[*s.lead, dim * heads])
    s.width = heads * dim


def _step_center(draw: st.DrawFn, s: _State) -> None:
    """``x - c * mean(x)`` by ``mean``, ``reshape`` to a size-1 axis, ``expand``, ``scale``."""
    if s.exact and s.width not in (1, 2, 4):  # a mean over 3 would round
        s.value, s.width = s.dense(s.value, 2), 2
    m = s.b.node("mean", [s.value], axis=len(s.lead))
    m = s.b.node("reshape", [m], shape=[*s.lead, 1])
    m = s.b.node("expand", [m], shape=[*s.lead, s.width])
    factor = draw(st.sampled_from(["-1", "-1/2", "3/4"]))
    s.value = s.b.node("add", [s.value, s.b.node("scale", [m], factor=factor)])


def _step_slice(draw: st.DrawFn, s: _State) -> None:
    """A dense layer cut by ``slice_axis`` (a proper cut fixes the axis; all of it joins)."""
    width = draw(st.integers(1, 4))
    start = draw(st.integers(0, width - 1))
    stop = draw(st.integers(start + 1, width))
    step = draw(st.integers(1, 2))
    h = s.dense(s.value, width)
    s.value = s.b.node("slice_axis", [h], axis=len(s.lead), start=start, stop=stop, step=step)
    s.width = len(range(start, stop, step))


def _letters(s: _State) -> str:
    return "bs"[: len(s.lead)]


def _step_einsum_moe(draw: st.DrawFn, s: _State) -> None:
    """A soft mixture of experts written with ``parameter`` and ``einsum`` (as torch traces it)."""
    experts, hidden = draw(_SIZES), draw(_SIZES)
    lead = _letters(s)
    gates = s.gates(experts)
    name = s.fresh("moe")
    up = s.b.node("parameter", [], [f"{name}.up"], shapes=[(experts, hidden, s.width)])
    h = s.b.node("einsum", [s.value, up], equation=f"{lead}d,ehd->{lead}eh")
    h = s.b.node("activation", [h], name=draw(st.sampled_from(s.activations)))
    down = s.b.node("parameter", [], [f"{name}.down"], shapes=[(experts, s.width, hidden)])
    y = s.b.node("einsum", [h, down], equation=f"{lead}eh,edh->{lead}ed")
    s.value = s.b.node("einsum", [gates, y], equation=f"{lead}e,{lead}ed->{lead}d")


_VECTOR_STEPS: tuple[Callable[[st.DrawFn, _State], None], ...] = (
    _step_dense,
    _step_norm,
    _step_residual,
    _step_glu,
    _step_softmax,
    _step_concat,
    _step_stack_mean,
    _step_moe,
    _step_heads_view,
    _step_center,
    _step_slice,
    _step_einsum_moe,
)


def _step_split_merge(draw: st.DrawFn, s: _State) -> None:
    """A sequence's features split into heads, an activation per entry, heads merged."""
    if len(s.lead) != 2:
        return _step_heads_view(draw, s)
    heads, dim = draw(_SIZES), draw(_SIZES)
    h = s.b.node("split_heads", [s.dense(s.value, heads * dim)], heads=heads)
    h = s.b.node("activation", [h], name=draw(st.sampled_from(s.activations)))
    s.value, s.width = s.b.node("merge_heads", [h]), heads * dim


# The steps of exact compositions (in exact mode every op they use is in EXACT_OPS):
# the vector steps without normalisation and softmax, and split/merge of heads.
_EXACT_STEPS: tuple[Callable[[st.DrawFn, _State], None], ...] = (
    *(step for step in _VECTOR_STEPS if step not in (_step_norm, _step_softmax)),
    _step_split_merge,
)


def _image_front(draw: st.DrawFn, b: GraphBuilder, *, exact: bool = False) -> _State:
    """conv2d or conv1d, optional batch norm (not when exact) and pooling, flatten."""
    activations = EXACT_ACTIVATIONS if exact else ACTIVATIONS
    spatial = draw(st.sampled_from([1, 2]))
    c_in, c, size = draw(_SIZES), draw(_SIZES), draw(st.sampled_from([3, 4]))
    k, pad, stride = draw(st.sampled_from([1, 2, 3])), draw(st.integers(0, 1)), draw(_SIZES)
    x = b.input("x", (2, c_in, *([size] * spatial)))
    op = f"conv{spatial}d"
    h = b.node(
        op,
        [x],
        ["conv.weight", "conv.bias"],
        shapes=[(c, c_in, *([k] * spatial)), (c,)],
        stride=min(stride, 2),
        padding=pad,
    )
    h = b.node("activation", [h], name=draw(st.sampled_from(activations)))
    if not exact and draw(st.booleans()):
        roles = ("weight", "bias", "running_mean", "running_var")
        h = b.node("batch_norm", [h], [f"bn.{r}" for r in roles], shapes=[(c,)] * 4)
    if spatial == 2 and draw(st.booleans()):
        pool = draw(st.sampled_from(["avg_pool2d", "max_pool2d"]))
        out = (size + 2 * pad - k) // min(stride, 2) + 1
        if out >= 2:
            h = b.node(pool, [h], kernel=2, stride=1)
    flat = b.node("flatten", [h])
    g = b.build(flat)
    return _State(b, flat, g.shape(flat)[1], (2,), exact=exact)


@st.composite
def compositions(draw: st.DrawFn) -> Graph:
    """A random small composition: a front (vector, sequence or image), steps, a head."""
    b = GraphBuilder()
    front = draw(st.sampled_from(["vector", "sequence", "image"]))
    if front == "image":
        s = _image_front(draw, b)
    elif front == "sequence":
        width, seq = draw(st.sampled_from([2, 4])), draw(_SIZES)
        s = _State(b, b.input("x", (2, seq, width)), width, (2, seq))
        _step_attention(draw, s)
    else:
        width = draw(_SIZES)
        s = _State(b, b.input("x", (2, width)), width, (2,))
    for step in draw(st.lists(st.sampled_from(_VECTOR_STEPS), min_size=1, max_size=3)):
        step(draw, s)
    if len(s.lead) == 2:
        s.value = s.b.node("mean", [s.value], axis=1)
    y = s.dense(s.value, draw(_SIZES))
    return b.build(y, loss=draw(st.sampled_from(["mse", "bce", "cross_entropy"])))


@st.composite
def exact_compositions(draw: st.DrawFn) -> Graph:
    """A random composition of :data:`EXACT_OPS` only, with loss mse.

    Fronts: a feature vector, token ids through an ``embedding`` (then the
    mean over 1 or 2 positions), or an image through a convolution and
    optional 2x2 pooling; activations from :data:`EXACT_ACTIVATIONS`; router
    weights are a dense layer without softmax. On dyadic data and
    parameters every op only adds, multiplies, takes maxima and halves.
    """
    b = GraphBuilder()
    front = draw(st.sampled_from(["vector", "tokens", "image"]))
    if front == "image":
        s = _image_front(draw, b, exact=True)
    elif front == "tokens":
        width, seq, vocab = draw(_SIZES), draw(st.sampled_from([1, 2])), draw(st.integers(2, 4))
        ids = b.input("ids", (2, seq), dtype="int")
        table = b.node("embedding", [ids], ["embed.table"], shapes=[(vocab, width)])
        s = _State(b, table, width, (2, seq), exact=True)
    else:
        width = draw(_SIZES)
        s = _State(b, b.input("x", (2, width)), width, (2,), exact=True)
    for step in draw(st.lists(st.sampled_from(_EXACT_STEPS), min_size=1, max_size=3)):
        step(draw, s)
    if len(s.lead) == 2:
        s.value = s.b.node("mean", [s.value], axis=1)
    return b.build(s.dense(s.value, draw(_SIZES)), loss="mse")


@st.composite
def _exact_mlps(draw: st.DrawFn) -> Graph:
    options = dict(ZOO["mlp"].defaults)
    options.update({k: draw(v, label=f"mlp.{k}") for k, v in _ZOO_OPTIONS["mlp"].items()})
    options["activation"] = draw(st.sampled_from(EXACT_ACTIVATIONS), label="mlp.activation")
    return ZOO["mlp"].build(options)


def exact_graphs() -> st.SearchStrategy[Graph]:
    """A zoo ``mlp`` with an exact activation, or an exact composition."""
    return st.one_of(_exact_mlps(), exact_compositions())


def _dyadic(
    draw: st.DrawFn, shape: tuple[int, ...], *, low: int, high: int, den: int
) -> np.ndarray:
    """An array of multiples of ``1/den`` between ``low/den`` and ``high/den``."""
    count = int(np.prod(shape, dtype=np.int64))
    numbers = draw(st.lists(st.integers(low, high), min_size=count, max_size=count))
    return np.asarray(numbers, dtype=float).reshape(shape) / den


def _dyadic_target(draw: st.DrawFn, loss: str, shape: tuple[int, ...]) -> np.ndarray:
    if loss == "cross_entropy":  # a distribution: half on one class, half on another
        first = _dyadic(draw, (*shape[:-1], 1), low=0, high=shape[-1] - 1, den=1).astype(int)
        second = _dyadic(draw, (*shape[:-1], 1), low=0, high=shape[-1] - 1, den=1).astype(int)
        target = np.zeros(shape)
        np.put_along_axis(target, first, 0.5, axis=-1)
        np.put_along_axis(target, second, np.take_along_axis(target, second, -1) + 0.5, axis=-1)
        return target
    if loss == "bce":
        return _dyadic(draw, shape, low=0, high=4, den=4)
    return _dyadic(draw, shape, low=-8, high=8, den=4)


@st.composite
def dyadic_data(draw: st.DrawFn, graph: Graph) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Inputs and a target that float64 holds exactly: multiples of 1/4 in [-2, 2].

    Token ids are drawn below the vocabulary of the embedding that reads them;
    a ``bce`` target lies in [0, 1], a ``cross_entropy`` target is a
    distribution (halves on one or two classes).
    """
    vocab = {}
    for node in graph.nodes:
        for position in get_op(node.op).int_inputs:
            vocab[node.inputs[position]] = graph.shape(node.params[0])[0]
    inputs = {}
    for i in graph.inputs:
        if i.dtype == "int":
            inputs[i.name] = _dyadic(draw, i.shape, low=0, high=vocab[i.name] - 1, den=1)
            inputs[i.name] = inputs[i.name].astype(np.int64)
        else:
            inputs[i.name] = _dyadic(draw, i.shape, low=-8, high=8, den=4)
    loss = graph.loss.name if graph.loss is not None else "mse"
    return inputs, _dyadic_target(draw, loss, graph.shape(graph.output))


@st.composite
def point_values(draw: st.DrawFn, graph: Graph, point: Point) -> dict[str, np.ndarray]:
    """Float64 parameters at ``point``: a dyadic value (multiple of 1/8 in [-1, 1]) per
    free symbol, the point's numbers as they are.

    Entries with one code get one value, so every permutation that fixes the
    point's codes fixes these arrays bit for bit. Parameters whose role must be
    positive (``running_var``) get ``1/2 + |v|``, which keeps equal entries equal.
    """
    table = np.array(
        [
            float(v) if v.is_number else draw(st.integers(-8, 8), label=str(v)) / 8
            for v in point.values
        ],
        dtype=float,
    )
    roles = parameter_roles(graph)
    params = {}
    for name, codes in point.codes.items():
        values = table[codes]
        params[name] = 0.5 + np.abs(values) if roles[name] in POSITIVE_ROLES else values
    return params


def graphs() -> st.SearchStrategy[Graph]:
    """A zoo model or a random composition."""
    return st.one_of(zoo_graphs(), compositions())


@st.composite
def permutation_of(draw: st.DrawFn, space: UnitSpace) -> tuple[int, ...]:
    """A permutation the space's group allows (within blocks when restricted)."""
    if space.group == "restricted" and space.blocks:
        perm: list[int] = []
        for block in space.blocks:
            perm.extend(draw(st.permutations(list(block))))
        return tuple(perm)
    return tuple(draw(st.permutations(range(space.size))))


@st.composite
def space_permutations(draw: st.DrawFn, symmetries: Symmetries) -> dict[str, tuple[int, ...]]:
    """One permutation per movable unit space."""
    return {s.name: draw(permutation_of(s), label=s.name) for s in symmetries.movable}
