r"""The chain prover's T1 verdict, cross-checked by the graph core's structural proof.

:func:`symcheck.prove.theorems.prove_identical_updates` proves T1 on a
:class:`~symcheck.Network` by layered reverse mode (exact residuals per tied
pair). :func:`structural_check` proves the same claim a second way, on the
lowered graph (:mod:`symcheck.graph.lower`): every node is equivariant under
the permutations of every inferred unit space, the inputs and output are
fixed, and the cycle through each claimed class fixes the init point exactly
(docs/theory.md, T1: :math:`g\theta_0 = \theta_0 \Rightarrow
\nabla L(\theta_0) = g\,\nabla L(\theta_0)`). It reads neither the
activation's form nor the loss (a permutation that fixes the network function
fixes every loss of it), so the abstract ``sigma`` and ``ell`` are covered.

The claim is the chain's: for ``zero``, ``constant`` and ``tied`` init all
neurons of every hidden layer are tied. The graph's ``tied`` point gives one
free symbol per orbit of the whole symmetry group, which is the chain's
``tied`` point up to the names of the symbols. Other inits (``random``, a
given :class:`~symcheck.prove.symbolic.InitPoint`) are not cross-checked: a
structural proof certifies ties by permutations that fix the point, and the
generic point has none.

:func:`combine` never makes a verdict less sound: it keeps the chain's
verdict, except that a structural *proof* of the very classes the chain
*refutes* is a contradiction (one engine is wrong), reported as ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass

from symcheck.graph.evidence import structural
from symcheck.graph.lower import lower
from symcheck.graph.points import init_point
from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.ties import SpaceTies, TieCertificate, TieClasses, cycle, fixes
from symcheck.model.network import Network
from symcheck.prove.proof import PROVED, REFUTED, UNKNOWN, Residual

__all__ = ["CROSS_CHECKED_INITS", "CrossCheck", "combine", "structural_check"]

#: Init patterns whose claim the structural proof can certify.
CROSS_CHECKED_INITS = ("zero", "constant", "tied")

Classes = tuple[tuple[tuple[int, ...], ...], ...]


@dataclass(frozen=True)
class CrossCheck:
    """The structural verdict on the lowered graph and the classes it claimed.

    ``classes`` has one entry per hidden layer (as ``InitPoint.classes``): the
    tie classes the graph claims, read off the unit space acting on the rows
    of ``W{l}``; ``residuals`` are the structural proof's.
    """

    verdict: str
    classes: Classes
    residuals: tuple[Residual, ...]

    @property
    def tied_pairs(self) -> int:
        """Number of tied pairs claimed (each class of ``m`` units gives ``m - 1``)."""
        return sum(len(units) - 1 for layer in self.classes for units in layer)

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "tied_pairs": self.tied_pairs,
            "classes": [[list(c) for c in layer] for layer in self.classes],
        }


def structural_check(network: Network, *, init: object, value: object = None) -> CrossCheck | None:
    """The structural T1 proof on the lowered network, or ``None`` for an init it cannot check."""
    if not isinstance(init, str) or init not in CROSS_CHECKED_INITS:
        return None
    lowering = lower(network, loss=not network.loss_fn.abstract)
    graph = lowering.graph
    symmetries = infer_symmetries(graph)
    point = init_point(graph, init, value=value)
    rows = {lowering.names[f"W{layer}"]: layer for layer in network.hidden_layers}
    by_layer: dict[int, tuple[tuple[int, ...], ...]] = {}
    claims, spaces = [], []
    for space in symmetries.movable:
        layer = next(
            (rows[r.parameter] for r in space.axes if r.parameter in rows and r.axis == 0), None
        )
        if space.group != "symmetric" or layer is None or space.size < 2:
            continue  # not a hidden layer's neurons: the chain claims nothing here
        units = tuple(range(space.size))
        perm = cycle(space.size, units)
        certified = fixes(graph, point, space, perm)
        claims.append((space, (units,)))
        by_layer[layer] = (units,)
        spaces.append(
            SpaceTies(
                space.name,
                space.kind,
                space.size,
                space.group,
                (units,) if certified else (),
                (TieCertificate(space.name, units, perm),) if certified else (),
            )
        )
    ties = TieClasses(str(network), point.name, point.description, tuple(spaces))
    evidence = structural(graph, symmetries, point, ties, claims)
    classes = tuple(by_layer.get(layer, ()) for layer in network.hidden_layers)
    return CrossCheck(evidence.verdict, classes, evidence.residuals)


def combine(chain_verdict: str, chain_classes: Classes, check: CrossCheck | None) -> str:
    """The chain's verdict, or ``unknown`` when the structural proof contradicts it.

    A contradiction: the structural proof proves every class the chain claims
    (same classes, layer by layer) while the chain refutes one of them.
    """
    if check is None or chain_verdict != REFUTED or check.verdict != PROVED:
        return chain_verdict
    claimed = tuple(tuple(c for c in layer if len(c) > 1) for layer in chain_classes)
    return UNKNOWN if claimed == check.classes else chain_verdict
