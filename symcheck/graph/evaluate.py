"""The numeric interpreter: forward and reverse mode over a graph, one kernel call per node.

:func:`forward` walks the nodes in order and calls each op's
``<kernel>_forward`` (looked up in the op table, never a switch on names);
:func:`loss_and_gradients` adds the loss and runs the ``_backward`` kernels
in reverse order, summing the gradient of every value over its readers
(reverse-mode accumulation, :math:`\\bar v = \\sum_{u \\text{ reads } v}
\\bar u\\, \\partial u / \\partial v`). Both run on either backend (NumPy
float64/complex, or SymPy object arrays).

Reverse mode differentiates only what leads to a parameter: a node none of
whose arguments depends on a parameter is skipped, and a backward kernel
that takes the keyword ``wanted`` (one flag per array, in the forward's
order) is told which gradients are needed, so a first ``linear`` layer does
not form the gradient of the network input, as autograd does not.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from functools import cache

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import NUMPY, Backend
from symcheck.graph.ir import Graph
from symcheck.graph.ops import get_op

__all__ = ["evaluate", "forward", "loss_and_gradients"]

NDArray = np.ndarray


@cache
def _kernels(op_name: str) -> tuple[Callable, Callable, bool]:
    """The op's forward and backward kernels, and whether the backward takes ``wanted``."""
    op = get_op(op_name)
    backward = op.backward()
    return op.forward(), backward, "wanted" in inspect.signature(backward).parameters


def _check_arrays(
    graph: Graph, what: str, given: Mapping[str, object], names: tuple[str, ...]
) -> dict:
    missing = sorted(set(names) - set(given))
    if missing:
        raise InvalidArgument(f"{what} lacks {missing}; give every one of {list(names)}")
    arrays = {}
    for name in names:
        array = np.asarray(given[name])
        if array.shape != graph.shape(name):
            raise InvalidArgument(
                f"{what}[{name!r}] has shape {array.shape}; the graph needs {graph.shape(name)}"
            )
        arrays[name] = array
    return arrays


def forward(
    graph: Graph,
    params: Mapping[str, object],
    inputs: Mapping[str, object],
    *,
    xp: Backend = NUMPY,
) -> tuple[dict[str, NDArray], dict[str, object]]:
    """Every value of the graph and every node's cache."""
    values = _check_arrays(graph, "inputs", inputs, graph.input_names)
    values.update(_check_arrays(graph, "params", params, graph.parameter_names))
    caches: dict[str, object] = {}
    for node in graph.nodes:
        kernel = _kernels(node.op)[0]
        arrays = [values[n] for n in (*node.inputs, *node.params)]
        values[node.output], caches[node.output] = kernel(xp, *arrays, **node.attr_dict)
    return values, caches


def evaluate(
    graph: Graph,
    params: Mapping[str, object],
    inputs: Mapping[str, object],
    *,
    xp: Backend = NUMPY,
) -> NDArray:
    """The network output ``f(params, inputs)``."""
    values, _ = forward(graph, params, inputs, xp=xp)
    return values[graph.output]


def loss_and_gradients(
    graph: Graph,
    params: Mapping[str, object],
    inputs: Mapping[str, object],
    target: object,
    *,
    xp: Backend = NUMPY,
) -> tuple[object, dict[str, NDArray]]:
    """The loss and its gradient with respect to every parameter (reverse mode)."""
    if graph.loss is None:
        raise InvalidArgument("the graph has no loss; build it with a loss to take gradients")
    values, caches = forward(graph, params, inputs, xp=xp)
    target_array = _check_arrays(graph, "target", {graph.loss.target: target}, (graph.loss.target,))
    loss_op = get_op(graph.loss.name)
    loss, loss_cache = loss_op.forward()(
        xp, values[graph.output], target_array[graph.loss.target], reduction=graph.loss.reduction
    )
    one = np.asarray(xp.const(1), dtype=object if xp.exact else None)
    grads: dict[str, NDArray] = {graph.output: loss_op.backward()(xp, loss_cache, one)[0]}
    depends = _parameter_dependent(graph)
    for node in reversed(graph.nodes):
        if node.output not in grads or node.output not in depends:
            continue
        _, backward, takes_wanted = _kernels(node.op)
        names = (*node.inputs, *node.params)
        options = {"wanted": tuple(n in depends for n in names)} if takes_wanted else {}
        parts = backward(xp, caches[node.output], grads[node.output], **options)
        for name, grad in zip(names, parts, strict=True):
            if grad is None or name not in depends:
                continue
            grads[name] = grads[name] + grad if name in grads else grad
    return loss, {
        p: grads[p] if p in grads else np.zeros(graph.shape(p)) for p in graph.parameter_names
    }


def _parameter_dependent(graph: Graph) -> frozenset[str]:
    """The parameters and every value computed from at least one of them."""
    depends = set(graph.parameter_names)
    for node in graph.nodes:
        if any(n in depends for n in (*node.inputs, *node.params)):
            depends.add(node.output)
    return frozenset(depends)
