"""The op table: one entry per graph operation, every entry with the same fields.

An :class:`Op` says everything an interpreter needs about an operation:

* ``family``/``kernel``: its kernels ``symcheck.graph.kernels.<family>.<kernel>_forward``
  and ``..._backward`` (resolved lazily by :meth:`Op.forward`, :meth:`Op.backward`);
* ``arity`` (min, max tensor inputs; max ``None`` = variadic), ``int_inputs``
  (positions that are integer ids) and ``params`` (the parameter roles in
  kernel order; the first ``required_params`` are required);
* ``attrs``: name -> :class:`Attr` (kind and default);
* ``shape``: the shape rule ``shape(input_shapes, param_shapes, attrs) -> shape``
  (raises :class:`ShapeMismatch` with a message);
* ``symmetry``: the symmetry rule ``symmetry(ctx)``, or ``None``.

A symmetry rule speaks about the (tensor, axis) pairs of one node through a
:class:`RuleContext`: ``ctx.x(i, axis)``, ``ctx.p(j, axis)`` and
``ctx.out(axis)`` name them; ``ctx.join(...)`` says they must be permuted
together, ``ctx.fix(...)`` that they may not be permuted, ``ctx.keep(...)``
that the op is invariant under any permutation of that axis on its own (a
reduced axis), ``ctx.factor(a, parts)`` that axis ``a`` is the C-order product
of the ``parts`` (heads x head_dim; channel x spatial after flatten), and
``ctx.hint(a, kind, name)`` names the unit space; ``ctx.mixes(a)`` says the op
combines values along axis ``a`` (a contraction, a softmax, a normalisation),
so a permutation of the tensor's other axes may not depend on the position
along ``a``. **Soundness:** every axis a rule does not mention is fixed by the
caller, and an op without a rule fixes every axis it touches (theory:
docs/theory.md, "unit spaces"). A join is only
correct when the op is equivariant for any permutation of the joined axes;
the property suite (``properties/test_graph_symmetries.py``) checks every
inferred space numerically.

Look ops up with :func:`get_op`; :data:`OPS` is the table.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import reduce
from typing import Protocol

from symcheck.errors import InvalidArgument

__all__ = [
    "OPS",
    "REQUIRED",
    "Attr",
    "Op",
    "RuleContext",
    "ShapeMismatch",
    "check_activation_name",
    "get_op",
]

Shape = tuple[int, ...]
REQUIRED = object()


class ShapeMismatch(InvalidArgument):
    """Raised by a shape rule; the graph validator adds the node, op and shapes."""


class RuleContext(Protocol):
    """What a symmetry rule may ask and say about one node (see the module docstring)."""

    attrs: Mapping[str, object]
    label: str
    n_inputs: int
    n_params: int

    def x(self, i: int, axis: int) -> int: ...
    def p(self, j: int, axis: int) -> int: ...
    def out(self, axis: int) -> int: ...
    def x_rank(self, i: int) -> int: ...
    def x_size(self, i: int, axis: int) -> int: ...
    def out_rank(self) -> int: ...
    def new(self, size: int) -> int: ...
    def join(self, *dims: int) -> None: ...
    def fix(self, *dims: int) -> None: ...
    def mixes(self, *dims: int) -> None: ...
    def keep(self, *dims: int) -> None: ...
    def factor(self, dim: int, parts: Sequence[int]) -> None: ...
    def hint(self, dim: int, kind: str, name: str) -> None: ...
    def x_param(self, i: int) -> str | None: ...
    def param_label(self, parameter: str) -> str: ...


# ---------------------------------------------------------------- attributes


def check_activation_name(name: object) -> str:
    """Accept the names the activation kernel knows (one registry: its ``ELEMENTWISE``)."""
    from symcheck.graph.kernels.elementwise import get_elementwise

    get_elementwise(name)
    return str(name)


def _as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an int")
    return value


def _as_pair(value: object) -> int | tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise TypeError("an int or a pair of ints")
        return (_as_int(value[0]), _as_int(value[1]))
    return _as_int(value)


_FRACTION = re.compile(r"^-?\d+(/\d+)?$")


def _as_fraction(value: object) -> Fraction:
    if isinstance(value, bool):
        raise TypeError("a rational (int, 'p/q' string or Fraction)")
    if isinstance(value, (int, Fraction)):
        return Fraction(value)
    if isinstance(value, str) and _FRACTION.match(value.strip()):
        try:
            return Fraction(value.strip())
        except ZeroDivisionError:
            raise TypeError("a rational with a non-zero denominator") from None
    raise TypeError("a rational (int, 'p/q' string or Fraction)")


def _as_optional_fraction(value: object) -> Fraction | None:
    return None if value is None else _as_fraction(value)


def _as_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _as_str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("a string")
    return value


@dataclass(frozen=True)
class Attr:
    """An op attribute: a coercion (raises TypeError naming the expected kind) and a default."""

    coerce: Callable[[object], object]
    default: object = REQUIRED
    check: Callable[[object], object] | None = None


_INT = _as_int
_PAIR = _as_pair


def _reduction(value: object) -> str:
    if value not in ("mean", "sum"):
        raise InvalidArgument(f"reduction={value!r} is not supported; use one of ['mean', 'sum']")
    return str(value)


def _positive(value: object) -> object:
    values = value if isinstance(value, tuple) else (value,)
    if any(v < 1 for v in values):  # type: ignore[operator]
        raise InvalidArgument(f"{value!r} must be positive")
    return value


def _non_negative(value: object) -> object:
    values = value if isinstance(value, tuple) else (value,)
    if any(v < 0 for v in values):  # type: ignore[operator]
        raise InvalidArgument(f"{value!r} must be >= 0")
    return value


def _positive_or_none(value: object) -> object:
    return None if value is None else _positive(value)


def _positive_fraction(value: object) -> object:
    if value is not None and value <= 0:  # type: ignore[operator]
        raise InvalidArgument(f"{value!r} must be > 0")
    return value


# ---------------------------------------------------------------- shape rules


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise ShapeMismatch(message)


def _axis(axis: int, rank: int, *, what: str = "axis") -> int:
    _need(-rank <= axis < rank, f"{what}={axis} is out of range for rank {rank}")
    return axis % rank


def _linear_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,), w = xs, ps[0]
    _need(len(x) >= 2 and len(w) == 2, "linear needs x (batch, ..., in) and weight (out, in)")
    _need(x[-1] == w[1], f"x's last axis ({x[-1]}) must equal weight axis 1 ({w[1]})")
    if len(ps) > 1:
        _need(ps[1] == (w[0],), f"bias must have shape ({w[0]},)")
    return (*x[:-1], w[0])


def _expert_linear_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,), w = xs, ps[0]
    _need(len(w) == 3, "expert_linear weight must be (experts, out, in)")
    e, o, i = w
    if len(ps) > 1:
        _need(ps[1] == (e, o), f"bias must have shape ({e}, {o})")
    _need(x[-1] == i, f"x's last axis ({x[-1]}) must equal weight axis 2 ({i})")
    if attrs["shared_input"]:
        _need(len(x) >= 2, "x must be (batch, ..., in)")
        return (*x[:-1], e, o)
    _need(len(x) >= 3 and x[-2] == e, f"x must be (batch, ..., {e}, {i}) without shared_input")
    return (*x[:-2], e, o)


def _pair(value: object) -> tuple[int, int]:
    return value if isinstance(value, tuple) else (value, value)  # type: ignore[return-value]


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    out = (size + 2 * padding - kernel) // stride + 1
    _need(out >= 1, f"kernel {kernel} does not fit into size {size} with padding {padding}")
    return out


def _conv_shape(spatial: int) -> Callable[[Sequence[Shape], Sequence[Shape], Mapping], Shape]:
    def shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
        (x,), w = xs, ps[0]
        _need(len(x) == 2 + spatial, f"x must be (batch, channels, {spatial} spatial axes)")
        _need(len(w) == 2 + spatial, f"weight must be (out, in, {spatial} kernel axes)")
        _need(x[1] == w[1], f"x's channels ({x[1]}) must equal weight axis 1 ({w[1]})")
        if len(ps) > 1:
            _need(ps[1] == (w[0],), f"bias must have shape ({w[0]},)")
        strides = _pair(attrs["stride"]) if spatial == 2 else (attrs["stride"],)
        pads = _pair(attrs["padding"]) if spatial == 2 else (attrs["padding"],)
        dims = tuple(
            _conv_out(x[2 + k], w[2 + k], strides[k], pads[k])  # type: ignore[arg-type]
            for k in range(spatial)
        )
        return (x[0], w[0], *dims)

    return shape


def _pool_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,) = xs
    _need(len(x) == 4, "x must be (batch, channels, height, width)")
    kernel = _pair(attrs["kernel"])
    stride = kernel if attrs["stride"] is None else _pair(attrs["stride"])
    return (x[0], x[1], *(_conv_out(x[2 + k], kernel[k], stride[k], 0) for k in range(2)))


def _mean_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,) = xs
    axis = _axis(attrs["axis"], len(x))  # type: ignore[arg-type]
    _need(axis != 0, "mean over axis 0 (the batch) is not an op; pool over another axis")
    return x[:axis] + x[axis + 1 :]


def _same_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    _need(all(x == xs[0] for x in xs), f"inputs must have the same shape, got {list(xs)}")
    return xs[0]


def _softmax_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    axis = _axis(attrs["axis"], len(xs[0]))  # type: ignore[arg-type]
    _need(axis != 0, "softmax over axis 0 (the batch) is not supported")
    return xs[0]


def _flatten_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,) = xs
    _need(len(x) >= 2, "flatten needs (batch, ...)")
    return (x[0], reduce(lambda a, b: a * b, x[1:], 1))


def _split_heads_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,), heads = xs, attrs["heads"]
    _need(len(x) == 3, "split_heads needs x (batch, seq, heads*head_dim)")
    _need(x[2] % heads == 0, f"the feature axis ({x[2]}) is not a multiple of heads={heads}")  # type: ignore[operator]
    return (x[0], heads, x[1], x[2] // heads)  # type: ignore[return-value,operator]


def _merge_heads_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,) = xs
    _need(len(x) == 4, "merge_heads needs x (batch, heads, seq, head_dim)")
    return (x[0], x[2], x[1] * x[3])


def _concat_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    rank = len(xs[0])
    axis = _axis(attrs["axis"], rank)  # type: ignore[arg-type]
    _need(axis != 0, "concat along axis 0 (the batch) is not supported")
    for x in xs:
        _need(
            len(x) == rank and x[:axis] + x[axis + 1 :] == xs[0][:axis] + xs[0][axis + 1 :],
            f"inputs must agree except on axis {axis}, got {list(xs)}",
        )
    return (*xs[0][:axis], sum(x[axis] for x in xs), *xs[0][axis + 1 :])


def _stack_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    _same_shape(xs, ps, attrs)
    axis = _axis(attrs["axis"], len(xs[0]) + 1)  # type: ignore[arg-type]
    _need(axis != 0, "stack along axis 0 (the batch) is not supported")
    return (*xs[0][:axis], len(xs), *xs[0][axis:])


def _norm_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,) = xs
    _need(len(x) >= 2, "the input must be (batch, ..., features)")
    for p in ps:
        _need(p == (x[-1],), f"weight and bias must have shape ({x[-1]},)")
    return x


def _batch_norm_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,) = xs
    _need(len(x) >= 2, "batch_norm needs x (batch, channels, ...)")
    for p in ps:
        _need(p == (x[1],), f"weight, bias and running statistics must have shape ({x[1]},)")
    return x


def _embedding_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (ids,), table = xs, ps[0]
    _need(len(table) == 2, "the table must be (vocab, features)")
    return (*ids, table[1])


def _sdpa_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    q, k, v = xs
    _need(all(len(t) == 4 for t in xs), "q, k, v must be (batch, heads, seq, head_dim)")
    _need(q[0] == k[0] == v[0], "q, k, v must have the same batch")
    _need(k[1] == v[1] and k[2] == v[2], "k and v must agree on heads and sequence")
    _need(q[3] == k[3], f"q and k must have the same head_dim, got {q[3]} and {k[3]}")
    _need(q[1] % k[1] == 0, f"query heads ({q[1]}) must be a multiple of kv heads ({k[1]})")
    return (q[0], q[1], q[2], v[3])


def _rope_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,) = xs
    _need(
        len(x) == 4 and x[3] % 2 == 0, "rope needs x (batch, heads, seq, head_dim), head_dim even"
    )
    return x


def _moe_combine_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    gates, y = xs
    _need(len(gates) >= 2, "gates must be (batch, ..., experts)")
    _need(
        y[:-1] == gates,
        f"y must be gates' shape plus a feature axis, got gates {gates} and y {y}",
    )
    return y[:-2] + y[-1:]


def _loss_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    _need(xs[0] == xs[1], f"prediction and target must have the same shape, got {list(xs)}")
    return ()


# ---------------------------------------------------------------- symmetry rules


def _join_leading(ctx: RuleContext, *, inputs: Sequence[int], count: int) -> None:
    """Join the first ``count`` axes of the given inputs with the output's."""
    for axis in range(count):
        ctx.join(ctx.out(axis), *(ctx.x(i, axis) for i in inputs))


def _linear_rule(ctx: RuleContext) -> None:
    rank = ctx.x_rank(0)
    _join_leading(ctx, inputs=[0], count=rank - 1)
    ctx.join(ctx.x(0, -1), ctx.p(0, 1))
    ctx.mixes(ctx.x(0, -1))
    ctx.join(ctx.out(-1), ctx.p(0, 0), *([ctx.p(1, 0)] if ctx.n_params > 1 else []))
    ctx.hint(ctx.out(-1), "neuron", ctx.label)


def _expert_linear_rule(ctx: RuleContext) -> None:
    rank = ctx.x_rank(0)
    shared = bool(ctx.attrs["shared_input"])
    lead = rank - 1 if shared else rank - 2
    _join_leading(ctx, inputs=[0], count=lead)
    bias = ctx.n_params > 1
    ctx.join(ctx.x(0, -1), ctx.p(0, 2))
    ctx.mixes(ctx.x(0, -1))
    ctx.join(ctx.out(-1), ctx.p(0, 1), *([ctx.p(1, 1)] if bias else []))
    experts = [ctx.out(-2), ctx.p(0, 0), *([ctx.p(1, 0)] if bias else [])]
    ctx.join(*experts, *([] if shared else [ctx.x(0, -2)]))
    ctx.hint(ctx.out(-2), "expert", f"{ctx.label}.experts")
    ctx.hint(ctx.out(-1), "neuron", ctx.label)


def _conv_rule(ctx: RuleContext) -> None:
    ctx.join(ctx.out(0), ctx.x(0, 0))
    ctx.join(ctx.x(0, 1), ctx.p(0, 1))
    ctx.mixes(*(ctx.x(0, a) for a in range(1, ctx.x_rank(0))))
    ctx.join(ctx.out(1), ctx.p(0, 0), *([ctx.p(1, 0)] if ctx.n_params > 1 else []))
    ctx.hint(ctx.out(1), "channel", ctx.label)
    # spatial axes (of x, the kernel and the output) are not mentioned: fixed


def _per_channel_rule(ctx: RuleContext) -> None:
    """Pooling: batch and channel axes pass through; spatial axes are fixed."""
    ctx.join(ctx.out(0), ctx.x(0, 0))
    ctx.join(ctx.out(1), ctx.x(0, 1))
    ctx.mixes(ctx.x(0, 2), ctx.x(0, 3))


def _mean_rule(ctx: RuleContext) -> None:
    rank = ctx.x_rank(0)
    axis = int(ctx.attrs["axis"]) % rank  # type: ignore[call-overload]
    kept = [a for a in range(rank) if a != axis]
    for out_axis, in_axis in enumerate(kept):
        ctx.join(ctx.out(out_axis), ctx.x(0, in_axis))
    ctx.keep(ctx.x(0, axis))  # a mean is invariant under any permutation of its axis
    ctx.mixes(ctx.x(0, axis))


def _elementwise_rule(ctx: RuleContext) -> None:
    _join_leading(ctx, inputs=range(ctx.n_inputs), count=ctx.out_rank())


def _add_rule(ctx: RuleContext) -> None:
    """Elementwise; a residual join (neither side a parameter, e.g. a bias) names the stream."""
    _elementwise_rule(ctx)
    if all(ctx.x_param(i) is None for i in range(ctx.n_inputs)):
        ctx.hint(ctx.out(-1), "stream", "stream")


def _flatten_rule(ctx: RuleContext) -> None:
    ctx.join(ctx.out(0), ctx.x(0, 0))
    rank = ctx.x_rank(0)
    if rank == 2:
        ctx.join(ctx.out(1), ctx.x(0, 1))
    else:
        ctx.factor(ctx.out(1), [ctx.x(0, a) for a in range(1, rank)])


def _split_heads_rule(ctx: RuleContext) -> None:
    ctx.join(ctx.out(0), ctx.x(0, 0))
    ctx.join(ctx.out(2), ctx.x(0, 1))
    ctx.factor(ctx.x(0, 2), [ctx.out(1), ctx.out(3)])


def _merge_heads_rule(ctx: RuleContext) -> None:
    ctx.join(ctx.out(0), ctx.x(0, 0))
    ctx.join(ctx.out(1), ctx.x(0, 2))
    ctx.factor(ctx.out(2), [ctx.x(0, 1), ctx.x(0, 3)])


def _concat_rule(ctx: RuleContext) -> None:
    """Join the other axes; the concatenated axis is fixed (its sum structure is not used)."""
    rank = ctx.out_rank()
    axis = int(ctx.attrs["axis"]) % rank  # type: ignore[call-overload]
    for a in range(rank):
        if a != axis:
            ctx.join(ctx.out(a), *(ctx.x(i, a) for i in range(ctx.n_inputs)))


def _stack_rule(ctx: RuleContext) -> None:
    """Join corresponding axes; the new stacking axis is fixed."""
    rank = ctx.out_rank()
    axis = int(ctx.attrs["axis"]) % rank  # type: ignore[call-overload]
    for a in range(rank - 1):
        out_axis = a if a < axis else a + 1
        ctx.join(ctx.out(out_axis), *(ctx.x(i, a) for i in range(ctx.n_inputs)))


def _norm_rule(ctx: RuleContext) -> None:
    """Normalising the last axis commutes with permuting it (with gamma and beta)."""
    _elementwise_rule(ctx)
    ctx.join(ctx.x(0, -1), *(ctx.p(j, 0) for j in range(ctx.n_params)))
    ctx.mixes(ctx.x(0, -1))


def _batch_norm_rule(ctx: RuleContext) -> None:
    _elementwise_rule(ctx)
    ctx.join(ctx.x(0, 1), *(ctx.p(j, 0) for j in range(ctx.n_params)))
    ctx.hint(ctx.x(0, 1), "channel", ctx.label)


def _embedding_rule(ctx: RuleContext) -> None:
    _join_leading(ctx, inputs=[0], count=ctx.x_rank(0))
    ctx.join(ctx.out(-1), ctx.p(0, 1))
    ctx.fix(ctx.p(0, 0))  # the vocabulary axis is indexed by the ids (an input)
    ctx.hint(ctx.out(-1), "stream", "stream")


def _softmax_rule(ctx: RuleContext) -> None:
    _elementwise_rule(ctx)  # softmax along any axis commutes with permuting any axis
    ctx.mixes(ctx.x(0, int(ctx.attrs["axis"])))  # type: ignore[call-overload]


def _sdpa_rule(ctx: RuleContext) -> None:
    """Heads across q, k, v, out; qk dims of q and k; vo dims of v and out; GQA groups."""
    q_heads, kv_heads = ctx.x_size(0, 1), ctx.x_size(1, 1)
    ctx.join(ctx.out(0), ctx.x(0, 0), ctx.x(1, 0), ctx.x(2, 0))
    ctx.join(ctx.x(1, 1), ctx.x(2, 1))
    ctx.join(ctx.out(1), ctx.x(0, 1))
    if q_heads == kv_heads:
        ctx.join(ctx.x(0, 1), ctx.x(1, 1))
        ctx.hint(ctx.x(1, 1), "head", f"{ctx.label}.head")
    else:
        member = ctx.new(q_heads // kv_heads)
        ctx.factor(ctx.x(0, 1), [ctx.x(1, 1), member])
        ctx.hint(ctx.x(1, 1), "head", f"{ctx.label}.kv_head")
        ctx.hint(member, "head", f"{ctx.label}.head")
    if not ctx.attrs["causal"]:
        ctx.join(ctx.out(2), ctx.x(0, 2))
        ctx.join(ctx.x(1, 2), ctx.x(2, 2))
    # causal: the positions are not mentioned, so they are fixed
    ctx.join(ctx.x(0, 3), ctx.x(1, 3))
    ctx.mixes(ctx.x(0, 3), ctx.x(1, 2))  # q.k contracts the dims; softmax over the keys
    ctx.hint(ctx.x(0, 3), "qk_dim", f"{ctx.label}.qk_dim")
    ctx.join(ctx.x(2, 3), ctx.out(3))
    ctx.hint(ctx.out(3), "vo_dim", f"{ctx.label}.vo_dim")


def _rope_rule(ctx: RuleContext) -> None:
    """Heads pass through; positions and the rotated dims are fixed (pair frequencies)."""
    ctx.join(ctx.out(0), ctx.x(0, 0))
    ctx.join(ctx.out(1), ctx.x(0, 1))
    ctx.join(ctx.x(0, 3), ctx.out(3))  # one class (q and k dims stay one fixed space)
    ctx.fix(ctx.x(0, 2), ctx.out(2), ctx.x(0, 3))
    ctx.mixes(ctx.x(0, 3))  # pairs (i, i + D/2) are rotated together


def _moe_combine_rule(ctx: RuleContext) -> None:
    rank = ctx.x_rank(0)
    _join_leading(ctx, inputs=[0, 1], count=rank - 1)
    ctx.join(ctx.x(0, -1), ctx.x(1, -2))
    ctx.mixes(ctx.x(0, -1))  # the sum over experts
    ctx.join(ctx.x(1, -1), ctx.out(-1))
    ctx.hint(ctx.x(0, -1), "expert", f"{ctx.label}.experts")


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Op:
    """One operation; see the module docstring for the fields."""

    name: str
    family: str
    kernel: str
    arity: tuple[int, int | None]
    shape: Callable[[Sequence[Shape], Sequence[Shape], Mapping], Shape]
    symmetry: Callable[[RuleContext], None] | None
    params: tuple[str, ...] = ()
    required_params: int = 0
    attrs: Mapping[str, Attr] = field(default_factory=dict)
    int_inputs: frozenset[int] = frozenset()
    doc: str = ""

    def forward(self) -> Callable[..., tuple[object, object]]:
        """The kernel ``<kernel>_forward(xp, *arrays, **attrs) -> (out, cache)``."""
        return self._kernel("forward")

    def backward(self) -> Callable[..., tuple]:
        """The kernel ``<kernel>_backward(xp, cache, grad_out) -> gradients``."""
        return self._kernel("backward")

    def _kernel(self, which: str) -> Callable:
        module_name = f"symcheck.graph.kernels.{self.family}"
        try:
            module = importlib.import_module(module_name)
            return getattr(module, f"{self.kernel}_{which}")
        except (ImportError, AttributeError):
            raise InvalidArgument(
                f"op {self.name!r}: kernel {module_name}.{self.kernel}_{which} is not available"
            ) from None

    def normalise_attrs(self, given: Mapping[str, object]) -> dict[str, object]:
        """Coerce the given attributes and fill in defaults; refuse unknown or bad ones."""
        unknown = sorted(set(given) - set(self.attrs))
        if unknown:
            raise InvalidArgument(
                f"op {self.name!r} has no attribute {unknown[0]!r}; "
                f"its attributes are {sorted(self.attrs)}"
            )
        result: dict[str, object] = {}
        for key, spec in self.attrs.items():
            if key not in given:
                if spec.default is REQUIRED:
                    raise InvalidArgument(f"op {self.name!r} needs the attribute {key!r}")
                result[key] = spec.default
                continue
            try:
                value = spec.coerce(given[key])
            except TypeError as exc:
                raise InvalidArgument(
                    f"op {self.name!r} attribute {key}={given[key]!r} is not valid; give {exc}"
                ) from None
            if spec.check is not None:
                try:
                    value = spec.check(value)
                except InvalidArgument as exc:
                    raise InvalidArgument(f"op {self.name!r} attribute {key}: {exc}") from None
            result[key] = value
        return result


def _op(name: str, family: str, shape: Callable, symmetry: Callable | None, **kw: object) -> Op:
    kw.setdefault("kernel", name)
    kw.setdefault("arity", (1, 1))
    return Op(name=name, family=family, shape=shape, symmetry=symmetry, **kw)  # type: ignore[arg-type]


_EPS = Attr(_as_fraction, Fraction(1, 100000), _positive_fraction)
_POOL_ATTRS = {
    "kernel": Attr(_PAIR, REQUIRED, _positive),
    "stride": Attr(lambda v: None if v is None else _PAIR(v), None, _positive_or_none),
}


def _conv_attrs(coerce: Callable[[object], object]) -> dict[str, Attr]:
    return {"stride": Attr(coerce, 1, _positive), "padding": Attr(coerce, 0, _non_negative)}


_LOSS_ATTRS = {"reduction": Attr(_as_str, "mean", _reduction)}

_TABLE: tuple[Op, ...] = (
    _op(
        "linear",
        "dense",
        _linear_shape,
        _linear_rule,
        params=("weight", "bias"),
        required_params=1,
        doc="y = x W^T + b (torch.nn.Linear)",
    ),
    _op(
        "expert_linear",
        "dense",
        _expert_linear_shape,
        _expert_linear_rule,
        params=("weight", "bias"),
        required_params=1,
        attrs={"shared_input": Attr(_as_bool, False)},
        doc="one linear map per expert: y[..., e, :] = x W_e^T + b_e",
    ),
    _op(
        "conv1d",
        "conv",
        _conv_shape(1),
        _conv_rule,
        params=("weight", "bias"),
        required_params=1,
        attrs=_conv_attrs(_INT),
        doc="torch.nn.functional.conv1d",
    ),
    _op(
        "conv2d",
        "conv",
        _conv_shape(2),
        _conv_rule,
        params=("weight", "bias"),
        required_params=1,
        attrs=_conv_attrs(_PAIR),
        doc="torch.nn.functional.conv2d",
    ),
    _op(
        "avg_pool2d",
        "pool",
        _pool_shape,
        _per_channel_rule,
        attrs=_POOL_ATTRS,
        doc="average pooling per channel",
    ),
    _op(
        "max_pool2d",
        "pool",
        _pool_shape,
        _per_channel_rule,
        attrs=_POOL_ATTRS,
        doc="max pooling per channel",
    ),
    _op(
        "mean",
        "pool",
        _mean_shape,
        _mean_rule,
        attrs={"axis": Attr(_INT)},
        doc="mean over one axis (not the batch), which is removed",
    ),
    _op(
        "activation",
        "elementwise",
        _same_shape,
        _elementwise_rule,
        attrs={"name": Attr(_as_str, REQUIRED, check_activation_name)},
        doc="an elementwise activation",
    ),
    _op("add", "elementwise", _same_shape, _add_rule, arity=(2, 2), doc="a + b (residual)"),
    _op("mul", "elementwise", _same_shape, _elementwise_rule, arity=(2, 2), doc="a * b (gating)"),
    _op(
        "flatten",
        "shape",
        _flatten_shape,
        _flatten_rule,
        doc="(B, ...) -> (B, prod), C order; channel x spatial blocks",
    ),
    _op(
        "split_heads",
        "shape",
        _split_heads_shape,
        _split_heads_rule,
        attrs={"heads": Attr(_INT, REQUIRED, _positive)},
        doc="(B, T, H*D) -> (B, H, T, D)",
    ),
    _op(
        "merge_heads",
        "shape",
        _merge_heads_shape,
        _merge_heads_rule,
        doc="(B, H, T, D) -> (B, T, H*D)",
    ),
    _op(
        "concat",
        "shape",
        _concat_shape,
        _concat_rule,
        arity=(2, None),
        attrs={"axis": Attr(_INT)},
        doc="torch.cat; the concatenated axis is fixed",
    ),
    _op(
        "stack",
        "shape",
        _stack_shape,
        _stack_rule,
        arity=(2, None),
        attrs={"axis": Attr(_INT)},
        doc="torch.stack; the new axis is fixed",
    ),
    _op(
        "layer_norm",
        "norm",
        _norm_shape,
        _norm_rule,
        params=("weight", "bias"),
        attrs={"eps": _EPS},
        doc="LayerNorm over the last axis (affine if weight/bias given)",
    ),
    _op(
        "rms_norm",
        "norm",
        _norm_shape,
        _norm_rule,
        params=("weight",),
        attrs={"eps": _EPS},
        doc="RMSNorm over the last axis",
    ),
    _op(
        "batch_norm",
        "norm",
        _batch_norm_shape,
        _batch_norm_rule,
        params=("weight", "bias", "running_mean", "running_var"),
        required_params=4,
        attrs={"eps": _EPS},
        doc="BatchNorm in inference mode, channel axis 1",
    ),
    _op(
        "embedding",
        "embedding",
        _embedding_shape,
        _embedding_rule,
        params=("table",),
        required_params=1,
        int_inputs=frozenset({0}),
        doc="table[ids]",
    ),
    _op(
        "softmax",
        "attention",
        _softmax_shape,
        _softmax_rule,
        attrs={"axis": Attr(_INT, -1)},
        doc="softmax along one axis",
    ),
    _op(
        "sdpa",
        "attention",
        _sdpa_shape,
        _sdpa_rule,
        arity=(3, 3),
        attrs={
            "causal": Attr(_as_bool, False),
            "scale": Attr(_as_optional_fraction, None, _positive_fraction),
        },
        doc="scaled dot-product attention (GQA when k, v have fewer heads)",
    ),
    _op(
        "rope",
        "attention",
        _rope_shape,
        _rope_rule,
        attrs={"base": Attr(_INT, 10000, _positive)},
        doc="rotary position embedding, rotate-half convention",
    ),
    _op(
        "moe_combine",
        "moe",
        _moe_combine_shape,
        _moe_combine_rule,
        arity=(2, 2),
        doc="sum_e gates[..., e] * y[..., e, :]",
    ),
    _op(
        "mse",
        "loss",
        _loss_shape,
        None,
        arity=(2, 2),
        attrs=_LOSS_ATTRS,
        doc="1/2 sum of squares per sample",
    ),
    _op(
        "cross_entropy",
        "loss",
        _loss_shape,
        None,
        arity=(2, 2),
        attrs=_LOSS_ATTRS,
        doc="cross-entropy of logits against a target distribution",
    ),
    _op(
        "bce",
        "loss",
        _loss_shape,
        None,
        arity=(2, 2),
        attrs=_LOSS_ATTRS,
        doc="binary cross-entropy of logits",
    ),
)

OPS: dict[str, Op] = {op.name: op for op in _TABLE}
LOSS_OPS = tuple(op.name for op in _TABLE if op.family == "loss")


def get_op(name: object) -> Op:
    """The table entry of ``name``; unknown names are refused with the known ones listed."""
    if not isinstance(name, str) or name not in OPS:
        raise InvalidArgument(f"op {name!r} is not in the op table; known: {sorted(OPS)}")
    return OPS[name]


# ================================================================ generic view ops
# Views, contractions and scalings that a PyTorch module's aten graph needs
# (symcheck.torch); every rule only joins axes along which the op is
# equivariant for *any* permutation (checked in tests/torch/test_view_ops.py).


def _as_ints(value: object) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise TypeError("a list of ints")
    return tuple(_as_int(v) for v in value)


def _permute_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,), dims = xs, attrs["dims"]
    _need(sorted(dims) == list(range(len(x))), f"dims={list(dims)} must permute the axes of {x}")
    return tuple(x[d] for d in dims)


def _permute_rule(ctx: RuleContext) -> None:
    for k, d in enumerate(ctx.attrs["dims"]):  # type: ignore[attr-defined]
        ctx.join(ctx.out(k), ctx.x(0, d))


def _product(sizes: Sequence[int]) -> int:
    return reduce(lambda a, b: a * b, sizes, 1)


def _reshape_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,), shape = xs, tuple(attrs["shape"])
    _need(bool(shape), "reshape needs a target shape of rank >= 1")
    _need(_product(shape) == _product(x), f"shape={list(shape)} does not hold the entries of {x}")
    return shape


def _spans(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """(start, end) prefix products of each axis: axis k covers the C-order digits
    between ``prod(sizes[:k])`` and ``prod(sizes[:k+1])``."""
    spans, running = [], 1
    for size in sizes:
        spans.append((running, running * size))
        running *= size
    return spans


def _reshape_rule(ctx: RuleContext) -> None:
    """Axes passing unchanged are joined; split or merged axes are factored over the
    common C-order refinement; a group of axes without one stays fixed.

    A group is the axes between two prefix products both shapes share; inside
    it the cut points (prefix products of either shape) must each divide the
    next, and then every axis is the C-order product of the segments it spans.
    """
    from itertools import pairwise

    shape = tuple(ctx.attrs["shape"])  # type: ignore[arg-type]
    source = [ctx.x_size(0, a) for a in range(ctx.x_rank(0))]
    dims = [(ctx.x(0, a), span) for a, span in enumerate(_spans(source))]
    dims += [(ctx.out(a), span) for a, span in enumerate(_spans(shape))]
    ctx.keep(*(d for d, (lo, hi) in dims if lo == hi))  # size-1 axes carry no units
    ends_in = {hi for _, (_, hi) in dims[: len(source)]}
    ends_out = {hi for _, (_, hi) in dims[len(source) :]}
    lo = 1
    for hi in sorted(ends_in & ends_out):
        members = [(d, span) for d, span in dims if lo <= span[0] < span[1] <= hi]
        chain = sorted({lo} | {span[1] for _, span in members})
        if all(b % a == 0 for a, b in pairwise(chain)):
            segments = {b: ctx.new(b // a) for a, b in pairwise(chain)}
            for d, (start, end) in members:
                ctx.factor(d, [segments[c] for c in chain[1:] if start < c <= end])
        lo = hi


def _expand_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,), shape = xs, tuple(attrs["shape"])
    _need(
        len(x) == len(shape) and all(s in (1, t) for s, t in zip(x, shape)),
        f"{x} cannot be expanded to {list(shape)} (only axes of size 1 grow, same rank)",
    )
    return shape


def _expand_rule(ctx: RuleContext) -> None:
    """Unchanged axes are joined; a repeated axis is constant, so any permutation of it
    leaves the output as it is (kept, free to join a space downstream)."""
    for a, size in enumerate(ctx.attrs["shape"]):  # type: ignore[arg-type]
        if ctx.x_size(0, a) == size:
            ctx.join(ctx.out(a), ctx.x(0, a))
        else:
            ctx.keep(ctx.out(a), ctx.x(0, a))


def _slice_range(size: int, attrs: Mapping) -> range:
    return range(size)[slice(attrs["start"], attrs["stop"], attrs["step"])]


def _slice_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    (x,) = xs
    axis = _axis(attrs["axis"], len(x))  # type: ignore[arg-type]
    kept = len(_slice_range(x[axis], attrs))
    _need(kept > 0, f"slice {attrs['start']}:{attrs['stop']}:{attrs['step']} selects nothing")
    return (*x[:axis], kept, *x[axis + 1 :])


def _slice_rule(ctx: RuleContext) -> None:
    """Other axes pass through; the sliced axis is fixed unless the slice is everything."""
    axis = int(ctx.attrs["axis"]) % ctx.x_rank(0)  # type: ignore[call-overload]
    for a in range(ctx.x_rank(0)):
        size = ctx.x_size(0, a)
        if a != axis or _slice_range(size, ctx.attrs) == range(size):
            ctx.join(ctx.out(a), ctx.x(0, a))
        else:
            ctx.fix(ctx.out(a), ctx.x(0, a))


def _parameter_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    _need(len(ps[0]) >= 1, "a parameter used as a value needs rank >= 1")
    return ps[0]


def _parameter_rule(ctx: RuleContext) -> None:
    for a in range(ctx.out_rank()):
        ctx.join(ctx.out(a), ctx.p(0, a))


def _equation(value: object) -> object:
    from symcheck.graph.kernels.contract import parse_equation

    parse_equation(value, str(value).split("->")[0].count(",") + 1)
    return value


def _einsum_shape(xs: Sequence[Shape], ps: Sequence[Shape], attrs: Mapping) -> Shape:
    from symcheck.graph.kernels.contract import parse_equation

    try:
        operands, out = parse_equation(attrs["equation"], len(xs))
    except InvalidArgument as exc:
        raise ShapeMismatch(str(exc)) from None
    sizes: dict[str, int] = {}
    for subscripts, x in zip(operands, xs):
        _need(len(subscripts) == len(x), f"operand {subscripts!r} does not match shape {x}")
        for letter, size in zip(subscripts, x):
            _need(sizes.setdefault(letter, size) == size, f"letter {letter!r} has two sizes")
    _need(bool(out), "einsum needs an output with a batch axis")
    return tuple(sizes[c] for c in out)


def _einsum_rule(ctx: RuleContext) -> None:
    """Every axis carrying one letter is joined: permuting a letter's index in every
    operand permutes the output (or leaves a summed letter's sum unchanged); a
    summed letter mixes its axes."""
    left, out = str(ctx.attrs["equation"]).replace(" ", "").split("->")
    carriers: dict[str, list[int]] = {}
    for i, subscripts in enumerate(left.split(",")):
        for a, letter in enumerate(subscripts):
            carriers.setdefault(letter, []).append(ctx.x(i, a))
    for a, letter in enumerate(out):
        carriers[letter].append(ctx.out(a))
    for letter, dims in carriers.items():
        ctx.join(*dims)
        if letter not in out:
            ctx.mixes(*dims)  # a summed letter combines values along its axes
    _einsum_hints(ctx, left.split(","), out)


def _einsum_hints(ctx: RuleContext, operands: Sequence[str], out: str) -> None:
    """Name the output letters a parameter operand carries: with a computed operand too
    they index one weight matrix each (experts, ``bef,edf->bed``); from parameters
    only they are output features (neurons, ``bd,efd->bef``)."""
    params = [ctx.x_param(i) for i in range(len(operands))]
    for a, letter in enumerate(out):
        carriers = [i for i, subscripts in enumerate(operands) if letter in subscripts]
        weights = [params[i] for i in carriers if params[i] is not None]
        if not weights:
            continue
        label = ctx.param_label(weights[0])
        if len(weights) < len(carriers):
            ctx.hint(ctx.out(a), "expert", f"{label}.experts")
        else:
            ctx.hint(ctx.out(a), "neuron", label)


_GENERIC: tuple[Op, ...] = (
    _op(
        "permute",
        "view",
        _permute_shape,
        _permute_rule,
        attrs={"dims": Attr(_as_ints)},
        doc="torch.permute / transpose",
    ),
    _op(
        "reshape",
        "view",
        _reshape_shape,
        _reshape_rule,
        attrs={"shape": Attr(_as_ints)},
        doc="C-order reshape (view, flatten, unsqueeze, squeeze, unflatten)",
    ),
    _op(
        "expand",
        "view",
        _expand_shape,
        _expand_rule,
        attrs={"shape": Attr(_as_ints)},
        doc="repeat axes of size 1 (broadcasting)",
    ),
    _op(
        "slice_axis",
        "view",
        _slice_shape,
        _slice_rule,
        attrs={
            "axis": Attr(_INT),
            "start": Attr(_INT),
            "stop": Attr(_INT),
            "step": Attr(_INT, 1, _positive),
        },
        doc="x[..., start:stop:step, ...] along one axis",
    ),
    _op(
        "parameter",
        "view",
        _parameter_shape,
        _parameter_rule,
        arity=(0, 0),
        params=("value",),
        required_params=1,
        doc="a parameter (or carried constant) used as a value",
    ),
    _op(
        "einsum",
        "contract",
        _einsum_shape,
        _einsum_rule,
        arity=(1, None),
        attrs={"equation": Attr(_as_str, REQUIRED, _equation)},
        doc="torch.einsum with an explicit equation (matmul, bmm, sums)",
    ),
    _op(
        "scale",
        "contract",
        _same_shape,
        _elementwise_rule,
        attrs={"factor": Attr(_as_fraction)},
        doc="factor * x for an exact constant factor",
    ),
)

OPS.update({op.name: op for op in _GENERIC})
