r"""The network specification: a frozen description of a fully connected net.

Notation (docs/theory.md §1): layers :math:`l = 1..L`, widths :math:`n_0..n_L`,
:math:`z^l = W^l h^{l-1} + b^l`, :math:`h^l = \varphi_l(z^l)` for hidden layers
:math:`l < L`, and the loss applied to :math:`z^L` through its output map.
``W^l`` has shape ``(n_l, n_{l-1})`` as PyTorch stores it: row ``i`` holds the
incoming weights of neuron ``i``, column ``k`` the outgoing weights of neuron
``k`` of the layer below.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from symcheck.errors import InvalidArgument, choices_message
from symcheck.limits import LIMITS
from symcheck.model.activations import Activation, get_activation
from symcheck.model.losses import Loss, get_loss

if TYPE_CHECKING:
    from symcheck.graph.ir import Graph

__all__ = [
    "MAX_PARAMETERS",
    "MAX_WIDTH",
    "REDUCTIONS",
    "Network",
    "require_layers",
    "require_network",
]

#: Largest width of one layer that a ``Network`` accepts (``LIMITS.width``).
MAX_WIDTH = LIMITS.width
#: Largest total parameter count that a ``Network`` accepts (``LIMITS.parameters``).
MAX_PARAMETERS = LIMITS.parameters
REDUCTIONS = ("mean", "sum")

_SPEC = re.compile(r"^\d+(-\d+)+$")


@dataclass(frozen=True)
class Network:
    """A fully connected network: widths, hidden activations, loss, bias.

    ``activations`` holds one activation name per hidden layer; a single
    name is repeated over every hidden layer. Build one with
    :meth:`Network.parse` (``Network.parse("2-2-1", activation="tanh")``) or
    directly (``Network((2, 2, 1), "tanh")``).
    """

    widths: tuple[int, ...]
    activations: tuple[str, ...] | str = "tanh"
    loss: str = "mse"
    bias: bool = True
    reduction: str = "mean"

    def __post_init__(self) -> None:
        widths = _validate_widths(self.widths)
        object.__setattr__(self, "widths", widths)
        hidden = len(widths) - 2
        acts = self.activations
        if isinstance(acts, (str, Activation)):
            acts = (acts,) * hidden
        if not isinstance(acts, (tuple, list)):
            raise InvalidArgument(
                f"activations={acts!r} must be an activation name such as 'tanh', an "
                "Activation, or a list of them (one per hidden layer)"
            )
        acts = tuple(acts)
        if len(acts) != hidden:
            raise InvalidArgument(
                f"activations={list(acts)!r} names {len(acts)} activations for "
                f"{hidden} hidden layers; give one name or one per hidden layer"
            )
        object.__setattr__(self, "activations", tuple(get_activation(a).name for a in acts))
        if not isinstance(self.loss, (str, Loss)):
            raise InvalidArgument(f"loss={self.loss!r} must be a loss name such as 'mse'")
        object.__setattr__(self, "loss", get_loss(self.loss).name)
        if get_loss(self.loss).output == "softmax" and widths[-1] < 2:
            raise InvalidArgument(
                f"loss={self.loss!r} needs at least 2 outputs but network "
                f"{'-'.join(map(str, widths))} has {widths[-1]}: the softmax of one logit is "
                "the constant 1, so the loss and every gradient are identically zero; use "
                "loss='bce' for one output or give the output layer 2 or more units"
            )
        if not isinstance(self.bias, bool):
            raise InvalidArgument(f"bias={self.bias!r} must be True or False")
        if not isinstance(self.reduction, str) or self.reduction not in REDUCTIONS:
            raise InvalidArgument(choices_message("reduction", self.reduction, REDUCTIONS))

    @classmethod
    def parse(
        cls,
        spec: str,
        *,
        activation: str | Sequence[str] = "tanh",
        loss: str = "mse",
        bias: bool = True,
        reduction: str = "mean",
    ) -> Network:
        """Build a network from a width string such as ``"2-2-1"``.

        ``activation`` is one name for every hidden layer or a sequence (or a
        comma-separated string) with one name per hidden layer.
        """
        if not isinstance(spec, str) or not _SPEC.match(spec.strip()):
            raise InvalidArgument(
                f"network={spec!r} is not a width string; write the layer widths "
                "joined by '-', input first, e.g. '2-2-1' or '3-4-4-2'"
            )
        widths = tuple(int(w) for w in spec.strip().split("-"))
        if isinstance(activation, str) and "," in activation:
            activation = tuple(a.strip() for a in activation.split(","))
        return cls(widths, activation, loss, bias, reduction)

    @property
    def depth(self) -> int:
        """Number of weight layers :math:`L`."""
        return len(self.widths) - 1

    @property
    def hidden_layers(self) -> range:
        """Indices :math:`1..L-1` of the hidden layers."""
        return range(1, self.depth)

    def activation(self, layer: int) -> Activation:
        """The activation recipe of hidden layer ``layer`` (1-based)."""
        if layer not in self.hidden_layers:
            raise InvalidArgument(
                f"layer={layer!r} is not a hidden layer; use one of {list(self.hidden_layers)}"
            )
        return get_activation(self.activations[layer - 1])

    @property
    def loss_fn(self) -> Loss:
        """The loss recipe."""
        return get_loss(self.loss)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """``W^l`` shapes ``(n_l, n_{l-1})`` for ``l = 1..L``."""
        return [(self.widths[i + 1], self.widths[i]) for i in range(self.depth)]

    @property
    def parameter_count(self) -> int:
        """Number of scalar parameters (weights and biases)."""
        return sum(o * i + (o if self.bias else 0) for o, i in self.shapes)

    @property
    def is_abstract(self) -> bool:
        """True when an activation or the loss is abstract (``sigma``/``ell``)."""
        return self.loss_fn.abstract or any(get_activation(a).abstract for a in self.activations)

    @property
    def spec(self) -> str:
        """The width string, e.g. ``"2-2-1"``."""
        return "-".join(str(w) for w in self.widths)

    def to_graph(self, *, batch: int = 1) -> Graph:
        """This network as a graph of the graph core (:mod:`symcheck.graph.lower`).

        Parameters ``W{l}``, ``b{l}`` become ``fc{l}.weight``, ``fc{l}.bias``;
        :func:`symcheck.graph.lower.lower` also returns the name maps and the
        parameter conversions both ways.
        """
        from symcheck.graph.lower import network_graph  # the graph core imports this module

        return network_graph(self, batch=batch)

    def __str__(self) -> str:
        acts = sorted(set(self.activations))
        act = acts[0] if len(acts) == 1 else ",".join(self.activations)
        bias = "" if self.bias else ", no bias"
        return f"{self.spec} ({act}, {self.loss}, {self.reduction}{bias})"


def require_network(network: object, *, name: str = "network") -> Network:
    """Return ``network`` if it is a :class:`Network`, else raise InvalidArgument.

    Every public entry point that takes a network calls this first, so a
    width string or another object gets a message naming the fix instead of
    an AttributeError deep inside.
    """
    if isinstance(network, Network):
        return network
    hint = (
        f"build one with Network.parse({network!r})"
        if isinstance(network, str)
        else "build one with Network.parse('2-2-1') or Network((2, 2, 1))"
    )
    raise InvalidArgument(
        f"{name}={network!r} must be a symcheck.Network, not a {type(network).__name__}; {hint}"
    )


def require_layers(network: Network, params: object) -> Sequence:
    """Return ``params`` if it is a sequence of one ``(W, b)`` pair per layer of ``network``."""
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        raise InvalidArgument(
            f"params={params!r:.80} must be a list of (W, b) pairs, one per layer of "
            f"{network.spec}; build one with symcheck.initialize(network, 'he_normal', rng=...)"
        )
    if len(params) != network.depth:
        raise InvalidArgument(
            f"params has {len(params)} layers but network {network.spec} has {network.depth}; "
            "give one (W, b) pair per layer"
        )
    for layer, pair in enumerate(params, start=1):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise InvalidArgument(f"params[{layer - 1}] must be a (W, b) pair")
    return params


def _validate_widths(widths: object) -> tuple[int, ...]:
    if isinstance(widths, str):
        raise InvalidArgument(
            f"widths={widths!r} is a string; use Network.parse({widths!r}) or a tuple of ints"
        )
    try:
        values = tuple(widths)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArgument(f"widths={widths!r} must be a sequence of positive ints") from None
    if len(values) < 3:
        raise InvalidArgument(
            f"widths={values!r} has no hidden layer; a network needs an input, at least "
            "one hidden layer and an output, e.g. (2, 2, 1)"
        )
    for w in values:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise InvalidArgument(
                f"widths={values!r} contains {w!r}; every width must be a positive int"
            )
        if w > MAX_WIDTH:
            raise InvalidArgument(f"width {w} exceeds the limit of {MAX_WIDTH} neurons per layer")
    count = sum(values[i] * values[i + 1] + values[i + 1] for i in range(len(values) - 1))
    if count > MAX_PARAMETERS:
        raise InvalidArgument(
            f"widths={values!r} give {count} parameters, beyond the limit of {MAX_PARAMETERS}"
        )
    return values
