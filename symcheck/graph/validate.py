"""Validation and shape inference of a :class:`~symcheck.graph.ir.Graph`.

Checks, in this order, each failure one :class:`~symcheck.errors.InvalidArgument`
naming the bad value and the fix: names defined once; ops in the op table;
arity, parameter count and attributes per the op's entry; every argument
defined; no cycle (the nodes are returned in topological order); dtypes (int
ids only where the op takes them); shapes by each op's shape rule; output and
loss; every input, parameter and node output used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symcheck.errors import InvalidArgument
from symcheck.graph.ops import LOSS_OPS, ShapeMismatch, get_op

if TYPE_CHECKING:
    from symcheck.graph.ir import Graph, Node, Shape

__all__ = ["validate"]


def _defined_once(graph: Graph) -> None:
    seen: set[str] = set()
    for name in (
        *graph.input_names,
        *graph.parameter_names,
        *(n.output for n in graph.nodes),
        *([graph.loss.target] if graph.loss else []),
    ):
        if name in seen:
            raise InvalidArgument(
                f"name {name!r} is defined more than once; inputs, parameters, node outputs "
                "and the loss target need distinct names"
            )
        seen.add(name)


def _normalise(node: Node) -> Node:
    from symcheck.graph.ir import Node

    op = get_op(node.op)
    low, high = op.arity
    count = len(node.inputs)
    if count < low or (high is not None and count > high):
        want = f"{low}" if low == high else f"{low} to {high if high is not None else 'any'}"
        raise InvalidArgument(
            f"node {node.output!r} (op {op.name!r}) takes {want} inputs, got {count}"
        )
    if not op.required_params <= len(node.params) <= len(op.params):
        raise InvalidArgument(
            f"node {node.output!r} (op {op.name!r}) takes the parameters {list(op.params)} "
            f"(the first {op.required_params} required), got {list(node.params)}"
        )
    attrs = op.normalise_attrs(node.attr_dict)
    return Node(node.op, node.inputs, node.output, node.params, attrs)


def _topological(nodes: tuple[Node, ...], sources: set[str], params: set[str]) -> tuple[Node, ...]:
    producers = {n.output: n for n in nodes}
    for node in nodes:
        for name in node.inputs:
            if name not in producers and name not in sources:
                hint = " (it is a parameter; list it under params)" if name in params else ""
                raise InvalidArgument(
                    f"node {node.output!r} (op {node.op!r}) reads {name!r}, which is not "
                    f"defined{hint}; define it as an input or a node output"
                )
        for name in node.params:
            if name not in params:
                raise InvalidArgument(
                    f"node {node.output!r} (op {node.op!r}) uses parameter {name!r}, which is "
                    "not declared; add it to the parameters"
                )
    order: list[Node] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for start in nodes:
        stack: list[tuple[Node, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                if state.get(node.output) == 2:
                    continue
                state[node.output] = 1
            if index < len(node.inputs):
                stack.append((node, index + 1))
                name = node.inputs[index]
                if name in producers:
                    if state.get(name) == 1:
                        cycle = [n.output for n, _ in stack if state.get(n.output) == 1]
                        raise InvalidArgument(
                            f"the graph has a cycle through {[*cycle, name]}; a node may only "
                            "read inputs and earlier results"
                        )
                    if state.get(name) != 2:
                        stack.append((producers[name], 0))
                continue
            state[node.output] = 2
            order.append(node)
    return tuple(order)


def _infer_shapes(graph: Graph, nodes: tuple[Node, ...]) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {i.name: i.shape for i in graph.inputs}
    shapes.update({p.name: p.shape for p in graph.parameters})
    dtypes = {i.name: i.dtype for i in graph.inputs}
    for node in nodes:
        op = get_op(node.op)
        for position, name in enumerate(node.inputs):
            want = "int" if position in op.int_inputs else "float"
            if dtypes.get(name, "float") != want:
                raise InvalidArgument(
                    f"node {node.output!r} (op {op.name!r}) input {position} ({name!r}) must be "
                    f"{want}, got {dtypes.get(name, 'float')}"
                )
        in_shapes = [shapes[n] for n in node.inputs]
        param_shapes = [shapes[n] for n in node.params]
        try:
            shapes[node.output] = op.shape(in_shapes, param_shapes, node.attr_dict)
        except ShapeMismatch as exc:
            raise InvalidArgument(
                f"node {node.output!r} (op {op.name!r}): {exc}; input shapes {in_shapes}, "
                f"parameter shapes {param_shapes}"
            ) from None
    return shapes


def _check_output_and_loss(graph: Graph, shapes: dict[str, Shape]) -> None:
    if graph.output not in shapes or graph.output in graph.parameter_names:
        raise InvalidArgument(
            f"output {graph.output!r} is not a value of the graph; name an input or node output"
        )
    if graph.loss is not None:
        if graph.loss.name not in LOSS_OPS:
            raise InvalidArgument(
                f"loss {graph.loss.name!r} is not a loss op; use one of {list(LOSS_OPS)}"
            )
        if len(shapes[graph.output]) < 2:
            raise InvalidArgument(
                f"the loss needs an output (batch, ..., features), got {shapes[graph.output]}"
            )
        shapes[graph.loss.target] = shapes[graph.output]


def _check_used(graph: Graph, nodes: tuple[Node, ...]) -> None:
    used = {name for n in nodes for name in (*n.inputs, *n.params)} | {graph.output}
    for kind, names in (
        ("input", graph.input_names),
        ("parameter", graph.parameter_names),
        ("node output", tuple(n.output for n in nodes)),
    ):
        for name in names:
            if name not in used:
                raise InvalidArgument(
                    f"{kind} {name!r} is never used; remove it or feed it to a node"
                )


def validate(graph: Graph) -> tuple[tuple[Node, ...], dict[str, Shape]]:
    """Validate ``graph``; return its nodes (topological, normalised) and all shapes."""
    if not graph.nodes:
        raise InvalidArgument("the graph has no nodes; add at least one op")
    _defined_once(graph)
    nodes = tuple(_normalise(n) for n in graph.nodes)
    nodes = _topological(nodes, set(graph.input_names), set(graph.parameter_names))
    shapes = _infer_shapes(graph, nodes)
    _check_output_and_loss(graph, shapes)
    _check_used(graph, nodes)
    return nodes, shapes
