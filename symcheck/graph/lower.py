r"""The dense chain as a graph: :class:`~symcheck.Network` lowered to the graph core.

:func:`lower` turns a network into :func:`symcheck.graph.zoo.chain_graph`
(one recipe for the chain graph, shared with the ``mlp`` zoo model and chain
specs such as ``3-4-4-2``) and returns a :class:`Lowering`: the graph and the
parameter names both ways. Layer :math:`l` of the network (docs/theory.md §1,
:math:`z^l = W^l h^{l-1} + b^l`) is the ``linear`` node ``fc{l}``:

==========  =================  =====================================
``Network``  graph parameter    shape
==========  =================  =====================================
``W{l}``     ``fc{l}.weight``   ``(n_l, n_{l-1})`` (rows are neurons)
``b{l}``     ``fc{l}.bias``     ``(n_l,)`` (absent when ``bias=False``)
==========  =================  =====================================

Hidden layer :math:`l < L` is followed by the ``activation`` node
``fc{l}.act`` with the network's activation (the abstract ``sigma``
included: it runs on the SymPy backend only); the output layer is linear and
the graph's loss is the network's loss and reduction. The input is ``x`` of
shape ``(batch, n_0)`` and the loss target ``target`` of shape
``(batch, n_L)``.

The abstract loss ``ell`` has no graph kernel: :func:`lower` refuses it
unless ``loss=False``, which lowers the network without a loss op. That
graph is enough for the structural proof (theory T1: a permutation that
fixes the network function :math:`f(\theta, x)` fixes
:math:`\ell(f(\theta, x), y)` for *every* loss :math:`\ell`), not for
gradients.

:meth:`Lowering.to_graph_params` and :meth:`Lowering.from_graph_params`
convert a ``[(W, b), ...]`` list (the layout of :mod:`symcheck.measure.numeric`) to
the graph's name -> array mapping and back; the arrays are shared, not copied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.ir import Graph
from symcheck.graph.zoo import chain_graph
from symcheck.model.network import Network, require_layers, require_network

__all__ = ["Lowering", "lower", "network_graph"]

#: Largest batch of a lowered graph's input (its shapes are fixed in the graph).
MAX_BATCH = 100_000


@dataclass(frozen=True)
class Lowering:
    """A network, its graph and the parameter names both ways.

    ``names`` maps ``W1``, ``b1``, ... to the graph's parameter names and
    ``chain_names`` the other way (only the parameters the network has).
    """

    network: Network
    graph: Graph
    names: Mapping[str, str]
    chain_names: Mapping[str, str]

    def graph_name(self, chain_name: str) -> str:
        """The graph parameter of ``W{l}`` or ``b{l}``, e.g. ``W2`` -> ``fc2.weight``."""
        if chain_name not in self.names:
            raise InvalidArgument(
                f"{chain_name!r} is not a parameter of network {self.network.spec}; "
                f"use one of {list(self.names)}"
            )
        return self.names[chain_name]

    def chain_name(self, graph_name: str) -> str:
        """The network parameter of a graph parameter, e.g. ``fc2.weight`` -> ``W2``."""
        if graph_name not in self.chain_names:
            raise InvalidArgument(
                f"{graph_name!r} is not a parameter of the lowered graph; "
                f"use one of {list(self.chain_names)}"
            )
        return self.chain_names[graph_name]

    def to_graph_params(self, params: Sequence) -> dict[str, object]:
        """``[(W1, b1), (W2, b2), ...]`` as ``{"fc1.weight": W1, "fc1.bias": b1, ...}``."""
        require_layers(self.network, params)
        out: dict[str, object] = {}
        for layer, (w, b) in enumerate(params, start=1):
            out[self.names[f"W{layer}"]] = w
            if self.network.bias:
                if b is None:
                    raise InvalidArgument(
                        f"b{layer} is None but network {self.network.spec} has biases"
                    )
                out[self.names[f"b{layer}"]] = b
            elif b is not None:
                raise InvalidArgument(
                    f"b{layer} is given but network {self.network.spec} has bias=False"
                )
        return out

    def from_graph_params(self, named: Mapping[str, object]) -> list[tuple[object, object]]:
        """The graph's name -> array mapping as ``[(W1, b1), ...]`` (``b`` None without bias)."""
        missing = sorted(set(self.chain_names) - set(named))
        extra = sorted(set(named) - set(self.chain_names))
        if missing or extra:
            raise InvalidArgument(
                f"parameters lack {missing} and have unknown {extra}; give exactly "
                f"{list(self.chain_names)}"
            )
        return [
            (
                named[self.names[f"W{layer}"]],
                named[self.names[f"b{layer}"]] if self.network.bias else None,
            )
            for layer in range(1, self.network.depth + 1)
        ]

    def inputs(self, x: object) -> dict[str, np.ndarray]:
        """The graph's input mapping for a batch ``x`` of shape ``(batch, n_0)``."""
        return {"x": np.asarray(x)}


def _names(network: Network) -> dict[str, str]:
    names = {}
    for layer in range(1, network.depth + 1):
        names[f"W{layer}"] = f"fc{layer}.weight"
        if network.bias:
            names[f"b{layer}"] = f"fc{layer}.bias"
    return names


def lower(network: Network, *, batch: int = 1, loss: bool = True) -> Lowering:
    """Lower ``network`` to its graph (see the module docstring); ``batch`` fixes the input shape.

    ``loss=False`` leaves the loss off the graph (the only way to lower the
    abstract loss ``ell``).
    """
    require_network(network)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise InvalidArgument(f"batch={batch!r} must be an int in [1, {MAX_BATCH}]")
    if not isinstance(loss, bool):
        raise InvalidArgument(f"loss={loss!r} must be True or False")
    if loss and network.loss_fn.abstract:
        raise InvalidArgument(
            f"network {network} has the abstract loss {network.loss!r}, which has no graph "
            "kernel; give a concrete loss (mse, cross_entropy, bce) or lower with loss=False "
            "(enough for the structural proof)"
        )
    graph = chain_graph(
        network.widths,
        activation=network.activations,
        bias=network.bias,
        batch=batch,
        loss=network.loss if loss else None,  # type: ignore[arg-type]
        reduction=network.reduction,
    )
    names = _names(network)
    return Lowering(network, graph, names, {g: c for c, g in names.items()})


def network_graph(network: Network, *, batch: int = 1) -> Graph:
    """The graph of ``network`` (:func:`lower`'s graph, with the network's loss)."""
    return lower(network, batch=batch).graph
