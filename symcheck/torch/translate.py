"""Translate an exported aten graph into a symcheck :class:`~symcheck.graph.ir.Graph`.

:data:`ATEN` is the table: one :class:`Aten` entry per aten op (its overload
name, e.g. ``aten.linear.default``), saying which graph ops it becomes and
building them from the op's arguments, bound by name through the op's schema.
Parameters keep the module's own names (``encoder.0.attn.q_proj.weight``).

Buffers, lifted tensor constants and *folded* nodes (every node that depends
on neither a user input nor a parameter, e.g. ``torch.arange`` for rotary
tables; torch evaluates it once) become parameters of the graph carrying
their current values: a symmetry of the graph then also has to fix them, so
nothing is claimed that the constants do not allow. Their names are the
state-dict names, or ``const.<node>`` for folded values.

An aten op without an entry, or with arguments its entry does not cover, is
refused with one :class:`~symcheck.errors.InvalidArgument` naming the op and
the module path it came from (``node.meta["nn_module_stack"]``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeGuard

import numpy as np
import torch

from symcheck.errors import InvalidArgument
from symcheck.graph.ir import Graph, GraphBuilder, Loss
from symcheck.torch.capture import Captured, to_numpy

__all__ = ["ATEN", "Aten", "Translation", "translate"]

Shape = tuple[int, ...]


class Unsupported(Exception):
    """Raised by a table entry for arguments it does not cover (the reason)."""


@dataclass(frozen=True)
class Translation:
    """A translated module: its graph and the float64 values of every graph parameter."""

    graph: Graph
    values: dict[str, np.ndarray]  # every graph parameter (trainable, buffer, constant)
    trainable: tuple[str, ...]  # the module's parameter names (a subset of the graph's)
    inputs: dict[str, np.ndarray]  # the example inputs by graph input name

    def with_loss(self, name: str, reduction: str = "mean") -> Graph:
        """The graph with a loss against the target value ``target``."""
        g = self.graph
        return Graph(g.inputs, g.parameters, g.nodes, g.output, Loss(name, "target", reduction))


def _exact(value: float) -> Fraction:
    """The shortest decimal that rounds to ``value`` (its float is bitwise the same)."""
    return Fraction(repr(float(value)))


class Emitter:
    """Graph-building state while walking the exported nodes (one per translation)."""

    def __init__(self, captured: Captured) -> None:
        self.b = GraphBuilder()
        self.captured = captured
        self.refs: dict[str, object] = {}  # fx node name -> graph value name (or a tuple)
        self.state: dict[str, str] = {}  # fx node name -> state (parameter) name
        self.constants: dict[str, torch.Tensor] = {}  # fx node name -> folded/constant tensor
        self.values: dict[str, np.ndarray] = {}
        self.current = ""
        self._fresh_used = False
        self._count = 0
        self._param_values: dict[str, str] = {}

    # -- names and shapes
    def start(self, node: torch.fx.Node) -> None:
        """Name the graph values of ``node`` after its module path and its own name."""
        path = _path(node)
        self.current = f"{path}/{node.name}" if path else node.name
        if self.current in self.captured.state:  # a root parameter named like the node
            self.current = f"/{self.current}"
        self._fresh_used = False

    def fresh(self) -> str:
        """``<module path>/<node>`` for the first value of a node, then with a counter."""
        if not self._fresh_used:
            self._fresh_used = True
            return self.current
        self._count += 1
        return f"{self.current}.{self._count}"

    @staticmethod
    def shape(arg: object) -> Shape:
        return tuple(int(d) for d in arg.meta["val"].shape)  # type: ignore[attr-defined]

    def emit(self, op: str, inputs: Sequence[str], params: Sequence[str] = (), **attrs: Any) -> str:
        return self.b.node(op, list(inputs), list(params), output=self.fresh(), **attrs)

    # -- arguments
    @staticmethod
    def is_node(arg: object) -> TypeGuard[torch.fx.Node]:
        return isinstance(arg, torch.fx.Node)

    def scalar(self, arg: object) -> float | None:
        """A Python number or a one-element constant tensor as a float; else None."""
        if isinstance(arg, (int, float)) and not isinstance(arg, bool):
            return float(arg)
        if self.is_node(arg) and arg.name in self.constants:
            tensor = self.constants[arg.name]
            if tensor.numel() == 1 and arg.name not in self.state:
                return float(tensor.reshape(()).item())
        return None

    def is_state(self, arg: object) -> bool:
        """Whether ``arg`` is a parameter, buffer or constant (not computed from an input)."""
        return self.is_node(arg) and (arg.name in self.state or arg.name in self.constants)

    def param(self, arg: object, role: str) -> str:
        """The graph parameter holding ``arg`` (a parameter, buffer or constant)."""
        if not self.is_node(arg):
            raise Unsupported(f"its {role} is {arg!r}, not a tensor")
        name = arg.name
        if name in self.state:
            state = self.state[name]
        elif name in self.constants:
            state = f"const.{name}"
            self.values[state] = to_numpy(self.constants[name])
            self.state[name] = state
        else:
            raise Unsupported(
                f"its {role} is computed in forward(); symcheck needs the module's own tensor"
            )
        self.b.param(state, self.values[state].shape)
        return state

    def value(self, arg: object) -> str:
        """The graph value of a tensor argument (parameters and constants enter as values)."""
        if not self.is_node(arg):
            raise Unsupported(f"an argument is {arg!r}, not a tensor")
        name = arg.name
        ref = self.refs.get(name)
        if isinstance(ref, str):
            return ref
        if ref is not None:
            raise Unsupported("it reads a tuple result as a tensor")
        state = self.param(arg, "operand")
        if state not in self._param_values:
            if not self.values[state].shape:
                raise Unsupported("it uses a 0-d tensor as an operand")
            self._param_values[state] = self.b.node(
                "parameter", [], [state], output=f"{state}.value"
            )
        return self._param_values[state]

    def broadcast(self, name: str, source: Shape, target: Shape) -> str:
        """``name`` (of shape ``source``) broadcast to ``target`` as torch does."""
        if source == target:
            return name
        padded = (1,) * (len(target) - len(source)) + source
        if padded != source:
            name = self.emit("reshape", [name], shape=padded)
        if padded != target:
            name = self.emit("expand", [name], shape=target)
        return name

    def operand(self, arg: object, target: Shape) -> str:
        """A tensor or scalar argument as a value of shape ``target``."""
        number = self.scalar(arg)
        if number is not None and not self.is_node(arg):
            self._count += 1
            state = f"const.{self.current}.{self._count}"
            self.values[state] = np.full((1,), number)
            self.b.param(state, (1,))
            name = self.b.node("parameter", [], [state], output=self.fresh())
            return self.broadcast(name, (1,), target)
        return self.broadcast(self.value(arg), self.shape(arg), target)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Aten:
    """One aten op: the graph ops it becomes and how to build them."""

    graph_ops: tuple[str, ...]
    build: Callable[[Emitter, Mapping[str, Any], torch.fx.Node], object]
    doc: str


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise Unsupported(reason)


def _ints(value: object, count: int) -> tuple[int, ...]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(items) == 1:
        items = items * count
    return tuple(int(v) for v in items)


def _linear(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    if not e.is_state(a["weight"]):  # a weight computed in forward(): x W^T as an einsum
        lead = _LETTERS[: len(e.shape(a["input"])) - 1]
        out = e.emit(
            "einsum", [e.value(a["input"]), e.value(a["weight"])], equation=f"{lead}y,zy->{lead}z"
        )
        if a["bias"] is None:
            return out
        return e.emit("add", [out, e.operand(a["bias"], e.shape(node))])
    params = [e.param(a["weight"], "weight")]
    if a["bias"] is not None:
        params.append(e.param(a["bias"], "bias"))
    return e.emit("linear", [e.value(a["input"])], params)


def _conv(spatial: int) -> Callable[[Emitter, Mapping[str, Any], torch.fx.Node], str]:
    def build(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
        _require(not isinstance(a["padding"], str), f"padding={a['padding']!r} (give ints)")
        _require(set(_ints(a["dilation"], spatial)) == {1}, f"dilation={a['dilation']}")
        _require(a["groups"] == 1, f"groups={a['groups']} (only 1)")
        params = [e.param(a["weight"], "weight")]
        if a["bias"] is not None:
            params.append(e.param(a["bias"], "bias"))
        stride, padding = _ints(a["stride"], spatial), _ints(a["padding"], spatial)
        attrs = (
            {"stride": stride, "padding": padding}
            if spatial == 2
            else {"stride": stride[0], "padding": padding[0]}
        )
        return e.emit(f"conv{spatial}d", [e.value(a["input"])], params, **attrs)

    return build


def _pool(op: str) -> Callable[[Emitter, Mapping[str, Any], torch.fx.Node], str]:
    def build(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
        _require(set(_ints(a["padding"], 2)) == {0}, f"padding={a['padding']} (only 0)")
        _require(not a["ceil_mode"], "ceil_mode=True")
        _require(set(_ints(a.get("dilation", 1), 2)) == {1}, f"dilation={a.get('dilation')}")
        _require(a.get("divisor_override") is None, "divisor_override")
        stride = _ints(a["stride"], 2) if a["stride"] else None
        return e.emit(op, [e.value(a["self"])], kernel=_ints(a["kernel_size"], 2), stride=stride)

    return build


def _adaptive_avg_pool2d(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    _require(_ints(a["output_size"], 2) == (1, 1), f"output_size={a['output_size']} (only 1)")
    x = e.value(a["self"])
    pooled = e.emit("mean", [e.emit("mean", [x], axis=3)], axis=2)
    return e.emit("reshape", [pooled], shape=e.shape(node))


def _activation(name: str) -> Callable[[Emitter, Mapping[str, Any], torch.fx.Node], str]:
    def build(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
        return e.emit("activation", [e.value(a["self"])], name=name)

    return build


def _gelu(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    names = {"none": "gelu", "tanh": "gelu_tanh"}
    _require(a["approximate"] in names, f"approximate={a['approximate']!r}")
    return e.emit("activation", [e.value(a["self"])], name=names[a["approximate"]])


def _softplus(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    _require(float(a["beta"]) == 1.0, f"beta={a['beta']} (only 1)")
    _require(float(a["threshold"]) == 20.0, f"threshold={a['threshold']} (only 20)")
    return e.emit("activation", [e.value(a["self"])], name="softplus")


def _elu(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    _require(
        float(a["alpha"]) == float(a["scale"]) == float(a["input_scale"]) == 1.0,
        f"alpha={a['alpha']}, scale={a['scale']}, input_scale={a['input_scale']} (only 1)",
    )
    return e.emit("activation", [e.value(a["self"])], name="elu")


def _leaky_relu(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    slope = _exact(a["negative_slope"])
    name = "leaky_relu" if slope == Fraction(1, 100) else f"leaky_relu({slope})"
    return e.emit("activation", [e.value(a["self"])], name=name)


def _layer_norm(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    shape = e.shape(a["input"])
    _require(
        tuple(a["normalized_shape"]) == shape[-1:], f"normalized_shape={a['normalized_shape']}"
    )
    _require(a["weight"] is not None or a["bias"] is None, "a bias without a weight")
    params = [e.param(a[k], k) for k in ("weight", "bias") if a[k] is not None]
    return e.emit("layer_norm", [e.value(a["input"])], params, eps=_exact(a["eps"]))


def _rms_norm(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    shape = e.shape(a["input"])
    _require(
        tuple(a["normalized_shape"]) == shape[-1:], f"normalized_shape={a['normalized_shape']}"
    )
    eps = a["eps"] if a["eps"] is not None else torch.finfo(e.captured.dtype).eps
    params = [e.param(a["weight"], "weight")] if a["weight"] is not None else []
    return e.emit("rms_norm", [e.value(a["input"])], params, eps=_exact(eps))


def _batch_norm_params(e: Emitter, a: Mapping[str, Any]) -> list[str]:
    roles = ("weight", "bias", "running_mean", "running_var")
    _require(all(a[k] is not None for k in roles), "affine=False or no running statistics")
    return [e.param(a[k], k) for k in roles]


def _batch_norm(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    _require(not a["training"], "training mode (call model.eval())")
    params = _batch_norm_params(e, a)
    return e.emit("batch_norm", [e.value(a["input"])], params, eps=_exact(a["eps"]))


def _batch_norm_no_training(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> tuple:
    params = _batch_norm_params(e, a)
    out = e.emit("batch_norm", [e.value(a["input"])], params, eps=_exact(a["eps"]))
    return (out, None, None)


def _embedding(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    ids = a["indices"]
    _require(e.is_node(ids) and ids.op == "placeholder", "its ids are not a model input")
    return e.emit("embedding", [e.value(ids)], [e.param(a["weight"], "weight")])


def _softmax(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    return e.emit("softmax", [e.value(a["self"])], axis=int(a["dim"]))


def _sdpa(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    _require(a["attn_mask"] is None, "an attn_mask (use is_causal)")
    _require(float(a["dropout_p"]) == 0.0, f"dropout_p={a['dropout_p']}")
    scale = None if a["scale"] is None else _exact(a["scale"])
    q, k, v = (e.value(a[n]) for n in ("query", "key", "value"))
    return e.emit("sdpa", [q, k, v], causal=bool(a["is_causal"]), scale=scale)


def _binary(op: str) -> Callable[[Emitter, Mapping[str, Any], torch.fx.Node], str]:
    """``add``/``sub``/``mul``: a scalar becomes a ``scale`` (mul) or a broadcast constant."""

    def build(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
        out = e.shape(node)
        x, y = a["self"], a["other"]
        alpha = float(a.get("alpha", 1))
        if op == "mul":
            for tensor, number in ((x, e.scalar(y)), (y, e.scalar(x))):
                if number is not None and e.is_node(tensor) and e.shape(tensor) == out:
                    return e.emit("scale", [e.value(tensor)], factor=_exact(number))
            return e.emit("mul", [e.operand(x, out), e.operand(y, out)])
        second = e.operand(y, out)
        sign = alpha if op == "add" else -alpha
        if sign != 1.0:
            second = e.emit("scale", [second], factor=_exact(sign))
        return e.emit("add", [e.operand(x, out), second])

    return build


def _div(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    number = e.scalar(a["other"])
    _require(number is not None and number != 0, "division by a tensor (only by a number)")
    _require(a.get("rounding_mode") is None, f"rounding_mode={a.get('rounding_mode')!r}")
    return e.emit("scale", [e.value(a["self"])], factor=1 / _exact(number))  # type: ignore[arg-type]


def _neg(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    return e.emit("scale", [e.value(a["self"])], factor=-1)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _matmul(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    x, y = a["self"], a.get("other", a.get("mat2"))
    sx, sy = e.shape(x), e.shape(y)
    _require(len(sx) >= 2 and len(sy) >= 2, "a 1-d operand")
    lead = _LETTERS[: len(sx) - 2]
    if len(sy) == 2:
        equation = f"{lead}xy,yz->{lead}xz"
    else:
        _require(sx[:-2] == sy[:-2], f"batch shapes {sx[:-2]} and {sy[:-2]} differ")
        equation = f"{lead}xy,{lead}yz->{lead}xz"
    return e.emit("einsum", [e.value(x), e.value(y)], equation=equation)


def _einsum(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    operands = [e.value(t) for t in a["tensors"]]
    return e.emit("einsum", operands, equation=str(a["equation"]))


def _axes(value: object, rank: int) -> list[int]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    return sorted({int(d) % rank for d in items})


def _sum(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    shape = e.shape(a["self"])
    _require(a["dim"] not in (None, []), "a sum over every axis (the batch too)")
    axes = _axes(a["dim"], len(shape))
    _require(0 not in axes, "a sum over the batch axis 0")
    letters = _LETTERS[: len(shape)]
    out = "".join(c for k, c in enumerate(letters) if k not in axes)
    name = e.emit("einsum", [e.value(a["self"])], equation=f"{letters}->{out}")
    return _keepdim(e, name, node)


def _mean(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    shape = e.shape(a["self"])
    _require(a["dim"] not in (None, []), "a mean over every axis (the batch too)")
    name = e.value(a["self"])
    for axis in reversed(_axes(a["dim"], len(shape))):
        name = e.emit("mean", [name], axis=axis)
    return _keepdim(e, name, node)


def _keepdim(e: Emitter, name: str, node: torch.fx.Node) -> str:
    """Put back the reduced axes as size 1 when the op kept them (``keepdim=True``)."""
    shape, source = e.shape(node), e.shape(node.args[0])
    return e.emit("reshape", [name], shape=shape) if len(shape) == len(source) else name


def _view(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    source = e.value(node.args[0])
    shape = e.shape(node)
    return source if shape == e.shape(node.args[0]) else e.emit("reshape", [source], shape=shape)


def _identity(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    _require(not a.get("train", False), "dropout in training mode")
    return e.value(node.args[0])


def _transpose(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    rank = len(e.shape(a["self"]))
    dims = list(range(rank))
    if "dims" in a:
        dims = [int(d) % rank for d in a["dims"]]
    else:
        i, j = (int(a["dim0"]) % rank, int(a["dim1"]) % rank) if "dim0" in a else (0, 1)
        dims[i], dims[j] = dims[j], dims[i]
    if dims == list(range(rank)):
        return e.value(a["self"])
    return e.emit("permute", [e.value(a["self"])], dims=dims)


def _expand(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    return e.broadcast(e.value(a["self"]), e.shape(a["self"]), e.shape(node))


def _slice(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    shape = e.shape(a["self"])
    axis = int(a["dim"]) % len(shape)
    picked = range(shape[axis])[slice(a["start"], a["end"], a["step"])]
    if picked == range(shape[axis]):
        return e.value(a["self"])
    _require(len(picked) > 0, "an empty slice")
    return e.emit(
        "slice_axis",
        [e.value(a["self"])],
        axis=axis,
        start=picked.start,
        stop=picked.stop,
        step=picked.step,
    )


def _select(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
    shape = e.shape(a["self"])
    axis = int(a["dim"]) % len(shape)
    index = int(a["index"]) % shape[axis]
    picked = e.emit("slice_axis", [e.value(a["self"])], axis=axis, start=index, stop=index + 1)
    return e.emit("reshape", [picked], shape=e.shape(node))


def _cat(op: str) -> Callable[[Emitter, Mapping[str, Any], torch.fx.Node], str]:
    def build(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
        pieces = [e.value(t) for t in a["tensors"]]
        if len(pieces) == 1:
            return e.emit("reshape", pieces, shape=e.shape(node))
        return e.emit(op, pieces, axis=int(a["dim"]))

    return build


def _in_place(
    build: Callable[[Emitter, Mapping[str, Any], torch.fx.Node], str],
) -> Callable[[Emitter, Mapping[str, Any], torch.fx.Node], str]:
    """``x.relu_()``, ``out += y``: the out-of-place op, when nothing else reads ``x``.

    The mutated tensor must be a value computed in forward() that only this op
    reads; otherwise a later reader would see the new value and the pure
    translation would be wrong.
    """

    def build_in_place(e: Emitter, a: Mapping[str, Any], node: torch.fx.Node) -> str:
        target = node.args[0]
        _require(
            isinstance(target, torch.fx.Node) and target.name not in e.state,
            "it modifies a parameter, buffer or input in place",
        )
        _require(len(target.users) == 1, "it modifies in place a tensor that is read elsewhere")
        return build(e, a, node)

    return build_in_place


_VIEWS = (
    "view.default",
    "reshape.default",
    "_unsafe_view.default",
    "unsqueeze.default",
    "squeeze.dim",
    "squeeze.dims",
    "squeeze.default",
    "flatten.using_ints",
    "unflatten.int",
    "view_as.default",
)
_IDENTITIES = (
    "contiguous.default",
    "clone.default",
    "alias.default",
    "detach.default",
    "dropout.default",
    "lift_fresh_copy.default",
)
_ACTIVATIONS = {
    "relu": "relu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "silu": "silu",
}

ATEN: dict[str, Aten] = {
    "aten.linear.default": Aten(("linear",), _linear, "nn.Linear"),
    "aten.conv1d.default": Aten(("conv1d",), _conv(1), "nn.Conv1d (no dilation, groups 1)"),
    "aten.conv2d.default": Aten(("conv2d",), _conv(2), "nn.Conv2d (no dilation, groups 1)"),
    "aten.avg_pool2d.default": Aten(("avg_pool2d",), _pool("avg_pool2d"), "nn.AvgPool2d"),
    "aten.max_pool2d.default": Aten(("max_pool2d",), _pool("max_pool2d"), "nn.MaxPool2d"),
    "aten.adaptive_avg_pool2d.default": Aten(
        ("mean", "reshape"), _adaptive_avg_pool2d, "nn.AdaptiveAvgPool2d(1)"
    ),
    **{
        f"aten.{name}.default": Aten(("activation",), _activation(graph), f"torch.{name}")
        for name, graph in _ACTIVATIONS.items()
    },
    "aten.gelu.default": Aten(("activation",), _gelu, "nn.GELU (erf and tanh forms)"),
    "aten.softplus.default": Aten(("activation",), _softplus, "nn.Softplus (beta 1)"),
    "aten.elu.default": Aten(("activation",), _elu, "nn.ELU (alpha 1)"),
    "aten.leaky_relu.default": Aten(("activation",), _leaky_relu, "nn.LeakyReLU"),
    "aten.layer_norm.default": Aten(("layer_norm",), _layer_norm, "nn.LayerNorm (last axis)"),
    "aten.rms_norm.default": Aten(("rms_norm",), _rms_norm, "nn.RMSNorm (last axis)"),
    "aten.batch_norm.default": Aten(("batch_norm",), _batch_norm, "nn.BatchNorm*d (eval)"),
    "aten._native_batch_norm_legit_no_training.default": Aten(
        ("batch_norm",), _batch_norm_no_training, "nn.BatchNorm*d (eval, decomposed)"
    ),
    "aten.embedding.default": Aten(("embedding",), _embedding, "nn.Embedding"),
    "aten.softmax.int": Aten(("softmax",), _softmax, "torch.softmax"),
    "aten._softmax.default": Aten(("softmax",), _softmax, "torch.softmax (decomposed)"),
    "aten.scaled_dot_product_attention.default": Aten(
        ("sdpa",), _sdpa, "F.scaled_dot_product_attention (causal, GQA; no mask, no dropout)"
    ),
    "aten.add.Tensor": Aten(("add", "scale", "expand"), _binary("add"), "a + b (broadcast)"),
    "aten.sub.Tensor": Aten(("add", "scale", "expand"), _binary("sub"), "a - b (broadcast)"),
    "aten.mul.Tensor": Aten(("mul", "scale", "expand"), _binary("mul"), "a * b (broadcast)"),
    "aten.div.Tensor": Aten(("scale",), _div, "a / number"),
    "aten.neg.default": Aten(("scale",), _neg, "-a"),
    "aten.matmul.default": Aten(("einsum",), _matmul, "a @ b"),
    "aten.bmm.default": Aten(("einsum",), _matmul, "torch.bmm"),
    "aten.mm.default": Aten(("einsum",), _matmul, "torch.mm"),
    "aten.einsum.default": Aten(("einsum",), _einsum, "torch.einsum (explicit '->')"),
    "aten.sum.dim_IntList": Aten(("einsum", "reshape"), _sum, "x.sum(dims), not the batch"),
    "aten.mean.dim": Aten(("mean", "reshape"), _mean, "x.mean(dims), not the batch"),
    **{f"aten.{v}": Aten(("reshape",), _view, "a view") for v in _VIEWS},
    **{f"aten.{v}": Aten((), _identity, "identity in eval mode") for v in _IDENTITIES},
    **{
        f"aten.{name}_.default": Aten(("activation",), _in_place(_activation(g)), f"x.{name}_()")
        for name, g in _ACTIVATIONS.items()
    },
    "aten.leaky_relu_.default": Aten(("activation",), _in_place(_leaky_relu), "x.leaky_relu_()"),
    "aten.elu_.default": Aten(("activation",), _in_place(_elu), "x.elu_()"),
    "aten.add_.Tensor": Aten(("add", "scale", "expand"), _in_place(_binary("add")), "x += y"),
    "aten.sub_.Tensor": Aten(("add", "scale", "expand"), _in_place(_binary("sub")), "x -= y"),
    "aten.mul_.Tensor": Aten(("mul", "scale", "expand"), _in_place(_binary("mul")), "x *= y"),
    "aten.div_.Tensor": Aten(("scale",), _in_place(_div), "x /= number"),
    "aten.transpose.int": Aten(("permute",), _transpose, "x.transpose(i, j)"),
    "aten.t.default": Aten(("permute",), _transpose, "x.t()"),
    "aten.permute.default": Aten(("permute",), _transpose, "x.permute(dims)"),
    "aten.expand.default": Aten(("reshape", "expand"), _expand, "x.expand(sizes)"),
    "aten.slice.Tensor": Aten(("slice_axis",), _slice, "x[..., a:b:c]"),
    "aten.select.int": Aten(("slice_axis", "reshape"), _select, "x[..., i]"),
    "aten.cat.default": Aten(("concat",), _cat("concat"), "torch.cat (not the batch)"),
    "aten.stack.default": Aten(("stack",), _cat("stack"), "torch.stack (not the batch)"),
}


# ---------------------------------------------------------------- the walk


def _path(node: torch.fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return str(list(stack.values())[-1][0]) if stack else ""


def _module_path(node: torch.fx.Node, root: str) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return f"the root module ({root})"
    path, kind = list(stack.values())[-1]
    kind_name = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    kind_name = kind_name.rsplit(".", 1)[-1]
    return f"module {path!r} ({kind_name})" if path else f"the root module ({kind_name})"


def _bind(node: torch.fx.Node) -> dict[str, Any]:
    schema = node.target._schema  # type: ignore[union-attr]
    bound: dict[str, Any] = {}
    for k, argument in enumerate(schema.arguments):
        if k < len(node.args):
            bound[argument.name] = node.args[k]
        elif argument.name in node.kwargs:
            bound[argument.name] = node.kwargs[argument.name]
        elif argument.has_default_value():
            bound[argument.name] = argument.default_value
        else:
            bound[argument.name] = None
    return bound


def _is_dynamic(node: torch.fx.Node, dynamic: set[str]) -> bool:
    return any(n.name in dynamic for n in node.all_input_nodes)


def _fold(e: Emitter, node: torch.fx.Node) -> None:
    """Evaluate a node that reads only constants (once, with torch)."""

    if torch.Tag.nondeterministic_seeded in getattr(node.target, "tags", ()):
        raise _refuse(
            node, e.captured, "draws random numbers in forward(); symcheck needs a function"
        )

    def real(arg: object) -> object:
        return e.constants[arg.name] if isinstance(arg, torch.fx.Node) else arg

    args = torch.fx.node.map_arg(node.args, real)
    kwargs = torch.fx.node.map_arg(node.kwargs, real)
    with torch.no_grad():
        result = node.target(*args, **kwargs)  # type: ignore[operator]
    if isinstance(result, torch.Tensor):
        e.constants[node.name] = result.detach()


def _refuse(node: torch.fx.Node, captured: Captured, reason: str) -> InvalidArgument:
    where = _module_path(node, captured.module_name)
    return InvalidArgument(f"aten op {node.target} (from {where}) {reason}")


def _placeholder(e: Emitter, node: torch.fx.Node, dynamic: set[str]) -> None:
    captured = e.captured
    if node.name in captured.placeholders:
        state = captured.placeholders[node.name]
        e.state[node.name] = state
        e.values[state] = captured.state[state]
        if state in captured.trainable:
            dynamic.add(node.name)
        else:
            e.constants[node.name] = torch.from_numpy(captured.state[state])
        return
    example = captured.inputs[node.name]
    dtype = "float" if example.dtype.kind == "f" else "int"
    e.refs[node.name] = e.b.input(node.name, example.shape, dtype)
    dynamic.add(node.name)


def translate(captured: Captured) -> Translation:
    """The symcheck graph of a captured module (see the module docstring)."""
    e = Emitter(captured)
    dynamic: set[str] = set()
    output = None
    for node in captured.program.graph.nodes:
        e.start(node)
        if node.op == "placeholder":
            _placeholder(e, node, dynamic)
        elif node.op == "output":
            output = node.args[0]
        elif node.op != "call_function":
            raise _refuse(node, captured, f"is a {node.op} node, which is not supported")
        elif not _is_dynamic(node, dynamic):
            _fold(e, node)
        elif node.target is operator.getitem:
            dynamic.add(node.name)
            e.refs[node.name] = e.refs[node.args[0].name][node.args[1]]  # type: ignore[index,union-attr]
        else:
            dynamic.add(node.name)
            entry = ATEN.get(str(node.target))
            if entry is None:
                raise _refuse(
                    node,
                    captured,
                    "has no translation to a symcheck graph; the supported aten ops are "
                    f"{', '.join(sorted(k.removeprefix('aten.') for k in ATEN))}",
                )
            try:
                e.refs[node.name] = entry.build(e, _bind(node), node)
            except Unsupported as exc:
                raise _refuse(node, captured, f"is not supported here: {exc}") from None
    outputs = list(output) if isinstance(output, (list, tuple)) else [output]
    if len(outputs) != 1 or not isinstance(e.refs.get(outputs[0].name), str):
        raise InvalidArgument(
            f"module {captured.module_name} must return one tensor computed from its inputs, "
            f"got {len(outputs)} outputs; wrap it to return the tensor to check"
        )
    graph = e.b.build(e.refs[outputs[0].name])  # type: ignore[arg-type]
    values = {p: e.values[p] for p in graph.parameter_names}
    inputs = {i: captured.inputs[i] for i in graph.input_names}
    return Translation(graph, values, captured.trainable, inputs)
