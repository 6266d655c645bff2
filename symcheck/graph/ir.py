"""The graph IR: a small immutable description of a computation.

A :class:`Graph` holds

* named **inputs** (:class:`Input`: shape including the batch axis 0, dtype
  ``"float"`` or ``"int"`` for token ids),
* named **parameters** (:class:`Parameter`: name and shape),
* **nodes** (:class:`Node`: op name from :mod:`symcheck.graph.ops`, input value
  names, parameter names, attributes, output value name),
* the **output** value and optionally a **loss** (:class:`Loss`: a loss op
  name and the name of its target, which has the output's shape).

Building one validates it completely: every op is in the op table, arities,
attributes and dtypes match the op's entry, every name is defined once and
used, there is no cycle, and every shape is inferred by the op's shape rule.
Errors are :class:`~symcheck.errors.InvalidArgument` with a message naming
the node, the op and the shapes. Nodes are stored in topological order with
every attribute explicit (defaults filled in).

Use :class:`GraphBuilder` to write one by hand::

    b = GraphBuilder()
    x = b.input("x", (2, 3))
    h = b.node("linear", [x], ["fc1.weight", "fc1.bias"], output="h", shapes=[(4, 3), (4,)])
    y = b.node("linear", [b.node("activation", [h], name="tanh")], ["fc2.weight"], shapes=[(2, 4)])
    graph = b.build(y, loss="mse")

``graph.shape(name)`` is the inferred shape of any value or parameter;
``graph.to_json()`` / ``Graph.from_json(data)`` round-trip the whole
description (the graph-file format of :mod:`symcheck.graph.graphfile`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from symcheck.errors import InvalidArgument

__all__ = ["DTYPES", "Graph", "GraphBuilder", "Input", "Loss", "Node", "Parameter", "Shape"]

Shape = tuple[int, ...]
DTYPES = ("float", "int")


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise InvalidArgument(
            f"{what} name {name!r} is not valid; use a non-empty string without surrounding spaces"
        )
    return name


def _check_shape(what: str, shape: object) -> Shape:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable):
        raise InvalidArgument(f"{what} shape {shape!r} is not valid; give a list of positive ints")
    dims = tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise InvalidArgument(f"{what} shape {shape!r} is not valid; give a list of positive ints")
    return dims


@dataclass(frozen=True)
class Input:
    """A network input: batch-first ``shape``; ``dtype`` "float" or "int" (token ids)."""

    name: str
    shape: Shape
    dtype: str = "float"

    def __post_init__(self) -> None:
        _check_name("input", self.name)
        object.__setattr__(self, "shape", _check_shape(f"input {self.name!r}", self.shape))
        if not self.shape:
            raise InvalidArgument(f"input {self.name!r} needs a batch axis (shape of length >= 1)")
        if self.dtype not in DTYPES:
            raise InvalidArgument(
                f"input {self.name!r} dtype={self.dtype!r} is not supported; use one of {DTYPES}"
            )


@dataclass(frozen=True)
class Parameter:
    """A trainable (or statistics) tensor of the network."""

    name: str
    shape: Shape

    def __post_init__(self) -> None:
        _check_name("parameter", self.name)
        object.__setattr__(self, "shape", _check_shape(f"parameter {self.name!r}", self.shape))


@dataclass(frozen=True)
class Node:
    """One op application: ``output = op(*inputs, *params, **attrs)``.

    ``attrs`` may be given as a mapping; it is stored as a sorted tuple of
    pairs so that a node is hashable. :attr:`attr_dict` gives it back.
    """

    op: str
    inputs: tuple[str, ...]
    output: str
    params: tuple[str, ...] = ()
    attrs: Any = ()

    def __post_init__(self) -> None:
        if isinstance(self.inputs, str) or isinstance(self.params, str):
            raise InvalidArgument(
                f"node {self.output!r}: inputs and params are lists of names, not one string"
            )
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "params", tuple(self.params))
        attrs = dict(self.attrs)
        object.__setattr__(self, "attrs", tuple(sorted(attrs.items())))
        _check_name("node output", self.output)
        for name in (*self.inputs, *self.params):
            _check_name(f"node {self.output!r} argument", name)

    @property
    def attr_dict(self) -> dict[str, object]:
        """The attributes as a dict."""
        return dict(self.attrs)


@dataclass(frozen=True)
class Loss:
    """A loss op (``mse``, ``cross_entropy``, ``bce``) against a target value."""

    name: str
    target: str = "target"
    reduction: str = "mean"

    def __post_init__(self) -> None:
        _check_name("loss target", self.target)
        if self.reduction not in ("mean", "sum"):
            raise InvalidArgument(
                f"loss reduction={self.reduction!r} is not supported; use one of ['mean', 'sum']"
            )


@dataclass(frozen=True)
class Graph:
    """A validated computation graph; see the module docstring."""

    inputs: tuple[Input, ...]
    parameters: tuple[Parameter, ...]
    nodes: tuple[Node, ...]
    output: str
    loss: Loss | None = None
    _shapes: dict[str, Shape] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        from symcheck.graph.validate import validate  # the op table imports this module

        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "parameters", tuple(self.parameters))
        nodes, shapes = validate(self)
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "_shapes", shapes)

    def shape(self, name: str) -> Shape:
        """The (inferred) shape of an input, parameter or node output."""
        if name not in self._shapes:
            raise InvalidArgument(f"{name!r} is not a value or parameter of this graph")
        return self._shapes[name]

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    def parameter_count(self) -> int:
        """The number of parameter elements."""
        total = 0
        for p in self.parameters:
            size = 1
            for d in p.shape:
                size *= d
            total += size
        return total

    def to_json(self) -> dict[str, object]:
        """The graph-file JSON (see ``docs/graph.md``)."""
        data: dict[str, object] = {
            "inputs": [
                {"name": i.name, "shape": list(i.shape), "dtype": i.dtype} for i in self.inputs
            ],
            "parameters": [{"name": p.name, "shape": list(p.shape)} for p in self.parameters],
            "nodes": [
                {
                    "op": n.op,
                    "inputs": list(n.inputs),
                    "params": list(n.params),
                    "attrs": {k: _attr_to_json(v) for k, v in n.attrs},
                    "output": n.output,
                }
                for n in self.nodes
            ],
            "output": self.output,
        }
        if self.loss is not None:
            data["loss"] = {
                "name": self.loss.name,
                "target": self.loss.target,
                "reduction": self.loss.reduction,
            }
        return data

    def digest(self) -> str:
        """SHA-256 (hex) of the graph-file JSON with sorted keys: the graph's identity.

        Proofs record it (``facts["graph"]``), so a certificate re-checked
        against a changed graph file does not match.
        """
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, data: object) -> Graph:
        """Rebuild a graph from :meth:`to_json` output (validated like any graph)."""
        from symcheck.graph.graphfile import graph_from_json

        return graph_from_json(data)


def _attr_to_json(value: object) -> object:
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


class GraphBuilder:
    """Write a graph node by node; parameters are declared where they are used."""

    def __init__(self) -> None:
        self._inputs: list[Input] = []
        self._params: dict[str, Parameter] = {}
        self._nodes: list[Node] = []
        self._count = 0

    def input(self, name: str, shape: Sequence[int], dtype: str = "float") -> str:
        """Declare an input and return its name."""
        self._inputs.append(Input(name, tuple(shape), dtype))
        return name

    def param(self, name: str, shape: Sequence[int]) -> str:
        """Declare a parameter (once) and return its name."""
        parameter = Parameter(name, tuple(shape))
        if name in self._params and self._params[name] != parameter:
            raise InvalidArgument(f"parameter {name!r} declared twice with different shapes")
        self._params[name] = parameter
        return name

    def node(
        self,
        op: str,
        inputs: Sequence[str],
        params: Sequence[str] = (),
        *,
        output: str | None = None,
        shapes: Sequence[Sequence[int]] | None = None,
        **attrs: object,
    ) -> str:
        """Add a node and return its output name.

        ``shapes``, when given, declares the ``params`` with these shapes.
        """
        if shapes is not None:
            for name, shape in zip(params, shapes, strict=True):
                self.param(name, shape)
        self._count += 1
        out = output if output is not None else f"v{self._count}"
        self._nodes.append(Node(op, tuple(inputs), out, tuple(params), attrs))
        return out

    def build(
        self,
        output: str,
        *,
        loss: str | None = None,
        target: str = "target",
        reduction: str = "mean",
    ) -> Graph:
        """Validate and return the graph (with a loss on ``output`` if ``loss`` is given)."""
        return Graph(
            tuple(self._inputs),
            tuple(self._params.values()),
            tuple(self._nodes),
            output,
            Loss(loss, target, reduction) if loss is not None else None,
        )
