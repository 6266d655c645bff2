r"""Derivations: the gradient formulas of a network, as a :class:`~symcheck.prove.proof.Proof`.

Each distinct gradient expression is listed once, with every parameter that
receives it (at a tied init the tied parameters share one line, which is the
symmetry made visible), in LaTeX:
:math:`\partial L/\partial W^l[i,k] = \dots`.
"""

from __future__ import annotations

import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.limits import LIMITS
from symcheck.model.network import Network, require_network
from symcheck.prove.proof import PROVED, Proof, Step
from symcheck.prove.symbolic import InitPoint, init_point, layered_gradients

__all__ = ["MAX_DERIVE_PARAMETERS", "derive"]

#: Largest network whose formulas ``derive`` prints (``LIMITS.derive_parameters``).
MAX_DERIVE_PARAMETERS = LIMITS.derive_parameters


def _name(layer: int, kind: str, i: int, k: int | None) -> str:
    return f"W^{{{layer}}}_{{{i},{k}}}" if kind == "w" else f"b^{{{layer}}}_{{{i}}}"


def derive(network: Network, *, init: str | InitPoint = "random", value: object = None) -> Proof:
    """The gradient of the loss of one symbolic sample with respect to every parameter."""
    require_network(network)
    if network.parameter_count > MAX_DERIVE_PARAMETERS:
        raise InvalidArgument(
            f"network {network.spec} has {network.parameter_count} parameters, beyond the "
            f"derive limit of {MAX_DERIVE_PARAMETERS}; use a smaller network"
        )
    point = init_point(network, init, value=value)
    grads, _ = layered_gradients(network, point.params)
    groups: dict[sp.Expr, list[str]] = {}
    for layer, (w, b) in enumerate(grads, start=1):
        for i, row in enumerate(w):
            for k, g in enumerate(row):
                groups.setdefault(g, []).append(_name(layer, "w", i, k))
        for i, g in enumerate(b or ()):
            groups.setdefault(g, []).append(_name(layer, "b", i, None))
    math = tuple(
        " = ".join(rf"\frac{{\partial L}}{{\partial {n}}}" for n in names) + " = " + sp.latex(g)
        for g, names in groups.items()
    )
    conventions = [
        network.activation(layer).convention
        for layer in network.hidden_layers
        if network.activation(layer).convention
    ]
    return Proof(
        theorem="derivation",
        statement=f"Gradient formulas of {network} at the '{point.name}' point, one sample.",
        verdict=PROVED,
        network=str(network),
        assumptions=tuple(dict.fromkeys(conventions)),
        steps=(
            Step(
                "Point",
                f"{point.description}. Symbols: W<l>_<i>_<k>, b<l>_<i>, x0_<k>, y0_<k> "
                "(a 't' marks an index shared by tied neurons).",
            ),
            Step(
                "Gradients",
                f"{len(groups)} distinct expressions for {network.parameter_count} parameters "
                "(layered reverse mode).",
                math,
            ),
        ),
        conclusion=f"{len(groups)} distinct gradient expressions.",
        facts={"distinct": len(groups), "parameters": network.parameter_count},
    )
