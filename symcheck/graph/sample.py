"""Random float64 parameters, inputs and targets for a graph (randomness always explicit).

Parameters and float inputs are standard normal, except parameters whose role
in their op (the op table's ``params``) must be positive (``running_var``),
which are drawn from ``0.5 + |N(0, 1)|``. Integer inputs (token ids) are
uniform over the vocabulary of the embedding that reads them. Targets are
standard normal, or a softmax of normals for ``cross_entropy`` (a
distribution on the last axis) and uniform on [0, 1] for ``bce``.
:func:`catalogue_parameters` draws the weights from an initialiser of the
catalogue :mod:`symcheck.model.init` instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from symcheck.graph.ir import Graph
from symcheck.graph.ops import get_op

if TYPE_CHECKING:
    from symcheck.model.init import Initializer

__all__ = [
    "CONSTANT_DEFAULTS",
    "POSITIVE_ROLES",
    "TARGETS",
    "catalogue_parameters",
    "parameter_roles",
    "random_inputs",
    "random_parameters",
    "random_target",
]

POSITIVE_ROLES = frozenset({"running_var"})


def parameter_roles(graph: Graph) -> dict[str, str]:
    """Parameter name -> its role in the op that reads it (the op table's ``params``)."""
    roles = {}
    for node in graph.nodes:
        for role, name in zip(get_op(node.op).params, node.params):
            roles[name] = role
    return roles


def random_parameters(graph: Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One float64 array per parameter."""
    roles = parameter_roles(graph)
    params = {}
    for p in graph.parameters:
        values = rng.standard_normal(p.shape)
        params[p.name] = 0.5 + np.abs(values) if roles[p.name] in POSITIVE_ROLES else values
    return params


def random_inputs(graph: Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One array per input: float64 normals, or ids below the reading embedding's vocabulary."""
    vocab = {}
    for node in graph.nodes:
        op = get_op(node.op)
        for position in op.int_inputs:
            vocab[node.inputs[position]] = graph.shape(node.params[0])[0]
    return {
        i.name: rng.integers(0, vocab[i.name], size=i.shape)
        if i.dtype == "int"
        else rng.standard_normal(i.shape)
        for i in graph.inputs
    }


def _distribution(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    z = rng.standard_normal(shape)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# One target recipe per loss op of the op table.
TARGETS = {
    "mse": lambda rng, shape: rng.standard_normal(shape),
    "cross_entropy": _distribution,
    "bce": lambda rng, shape: rng.uniform(0.0, 1.0, size=shape),
}


def random_target(graph: Graph, rng: np.random.Generator) -> np.ndarray:
    """A target for the graph's loss (see the module docstring); mse's without a loss."""
    name = graph.loss.name if graph.loss is not None else "mse"
    return TARGETS[name](rng, graph.shape(graph.output))


#: PyTorch's constant defaults of the parameters a catalogue scheme does not draw:
#: a norm's gain and running variance start at 1, biases and running means at 0.
CONSTANT_DEFAULTS = {"weight": 1.0, "running_var": 1.0}


def catalogue_parameters(
    graph: Graph, scheme: str | Initializer, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Parameters as ``torch.nn`` lays them out, drawn from a catalogue initialiser.

    Every parameter of rank >= 2 that is not a bias (dense, conv and expert
    weights, embedding tables, parameter values) is drawn from ``scheme``
    (:data:`symcheck.model.init.INITIALIZERS`, fans as ``torch.nn.init`` computes
    them); biases and rank-1 parameters take :data:`CONSTANT_DEFAULTS` (0
    otherwise), so any asymmetry comes from the scheme alone.
    """
    # Imported here: this module is loaded while the package initialises, before
    # the catalogue's module (and the import paths of moved modules) are ready.
    from symcheck.model.init import get_initializer

    init = get_initializer(scheme)
    roles = parameter_roles(graph)
    params = {}
    for p in graph.parameters:
        role = roles[p.name]
        if len(p.shape) >= 2 and role != "bias":
            params[p.name] = np.asarray(init(p.shape, rng=rng), dtype=float)
        else:
            params[p.name] = np.full(p.shape, CONSTANT_DEFAULTS.get(role, 0.0))
    return params
