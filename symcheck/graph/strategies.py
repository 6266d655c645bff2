"""Hypothesis strategies for graphs: zoo models with small options, and random compositions.

:func:`graphs` draws either a zoo model (:data:`symcheck.graph.zoo.ZOO`) with
small random options, or a random composition of op "steps" over a feature
vector, a sequence or an image, so that together they cover every op of the
op table and its symmetry rule (checked by ``tests/graph/test_strategies_cover.py``).
:func:`space_permutations` draws one permutation per movable unit space (within
blocks for restricted spaces).
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from symcheck.graph.ir import Graph, GraphBuilder
from symcheck.graph.symmetry import Symmetries, UnitSpace
from symcheck.graph.zoo import ZOO

__all__ = ["compositions", "graphs", "permutation_of", "space_permutations", "zoo_graphs"]

ACTIVATIONS = ("tanh", "relu", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus", "elu", "sin")
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

    def __init__(self, b: GraphBuilder, value: str, width: int, lead: tuple[int, ...]) -> None:
        self.b, self.value, self.width, self.lead, self.k = b, value, width, lead, 0

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
    s.value = s.b.node("activation", [h], name=draw(st.sampled_from(ACTIVATIONS)))
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
    h = s.b.node("activation", [h], name=draw(st.sampled_from(ACTIVATIONS)))
    s.width, width = hidden, s.width
    h = s.dense(h, width)
    s.width = width
    s.value = s.b.node("add", [s.value, h])


def _step_glu(draw: st.DrawFn, s: _State) -> None:
    hidden = draw(_SIZES)
    gate = s.b.node("activation", [s.dense(s.value, hidden)], name="silu")
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
    gates = s.b.node("softmax", [s.dense(s.value, experts)])
    name = s.fresh("experts")
    up = s.b.node(
        "expert_linear",
        [s.value],
        [f"{name}.up.weight", f"{name}.up.bias"],
        shapes=[(experts, hidden, s.width), (experts, hidden)],
        shared_input=True,
    )
    up = s.b.node("activation", [up], name=draw(st.sampled_from(ACTIVATIONS)))
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
    h = s.b.node("activation", [h], name=draw(st.sampled_from(ACTIVATIONS)))
    s.value = s.b.node("reshape", [h], shape=[*s.lead, dim * heads])
    s.width = heads * dim


def _step_center(draw: st.DrawFn, s: _State) -> None:
    """``x - c * mean(x)`` by ``mean``, ``reshape`` to a size-1 axis, ``expand``, ``scale``."""
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
    gates = s.b.node("softmax", [s.dense(s.value, experts)])
    name = s.fresh("moe")
    up = s.b.node("parameter", [], [f"{name}.up"], shapes=[(experts, hidden, s.width)])
    h = s.b.node("einsum", [s.value, up], equation=f"{lead}d,ehd->{lead}eh")
    h = s.b.node("activation", [h], name=draw(st.sampled_from(ACTIVATIONS)))
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


def _image_front(draw: st.DrawFn, b: GraphBuilder) -> _State:
    """conv2d or conv1d, optional batch norm and pooling, flatten."""
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
    h = b.node("activation", [h], name=draw(st.sampled_from(ACTIVATIONS)))
    if draw(st.booleans()):
        roles = ("weight", "bias", "running_mean", "running_var")
        h = b.node("batch_norm", [h], [f"bn.{r}" for r in roles], shapes=[(c,)] * 4)
    if spatial == 2 and draw(st.booleans()):
        pool = draw(st.sampled_from(["avg_pool2d", "max_pool2d"]))
        out = (size + 2 * pad - k) // min(stride, 2) + 1
        if out >= 2:
            h = b.node(pool, [h], kernel=2, stride=1)
    flat = b.node("flatten", [h])
    g = b.build(flat)
    return _State(b, flat, g.shape(flat)[1], (2,))


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
