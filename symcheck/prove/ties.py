r"""Tie residuals: do two neurons of a hidden layer carry the same numbers?

For a quantity laid out like the parameters (the gradient, the next point of
an optimiser, an optimiser state) and two neurons :math:`i, j` of hidden layer
:math:`l`, the tie residual is the list

.. math::

    \bigl(Q^l[i,:] - Q^l[j,:],\; q^l_i - q^l_j,\; Q^{l+1}[:,i] - Q^{l+1}[:,j]\bigr)

(incoming row, bias, outgoing column; docs/theory.md §1). :func:`check_ties`
decides each residual with :func:`symcheck.prove.zerotest.zero_test` and refutes
the ones that are not zero with an exact rational witness
(:mod:`symcheck.prove.witness`). The checker never trusts the claimed classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import sympy as sp

from symcheck.model.network import Network
from symcheck.prove.proof import Residual
from symcheck.prove.symbolic import SymParams
from symcheck.prove.witness import instantiate_abstract, rational_point
from symcheck.prove.zerotest import NONZERO, UNKNOWN, ZERO, Uncertified, certified_value, zero_test

__all__ = [
    "WITNESS_SEEDS",
    "TieCheck",
    "Witnesses",
    "check_ties",
    "decide",
    "gradient_mismatches",
    "tie_pairs",
]

#: How many seeded rational points a refutation tries before answering unknown.
WITNESS_SEEDS = 16

#: An entry position: (layer index 0-based, "w" or "b", row, column or None).
Position = tuple[int, str, int, int | None]
Entry = tuple[str, Position, Position]
Evaluate = Callable[[dict], SymParams]


def tie_pairs(classes: Sequence[Sequence[Sequence[int]]]) -> list[tuple[int, int, int]]:
    """``(layer, j, rep)`` for every neuron ``j`` of a class and its first member ``rep``."""
    return [
        (layer, j, block[0])
        for layer, blocks in enumerate(classes, start=1)
        for block in blocks
        for j in block[1:]
    ]


def _at(layout: SymParams, pos: Position) -> sp.Expr:
    layer, kind, row, col = pos
    w, b = layout[layer]
    return w[row][col] if kind == "w" else b[row]  # type: ignore[index]


def _entries(layout: SymParams, layer: int, j: int, rep: int, name: str) -> list[Entry]:
    w, b = layout[layer - 1]
    w_next = layout[layer][0]
    out: list[Entry] = [
        (
            f"{name}W{layer}[{j},{k}] - {name}W{layer}[{rep},{k}]",
            (layer - 1, "w", j, k),
            (layer - 1, "w", rep, k),
        )
        for k in range(len(w[j]))
    ]
    if b is not None:
        out.append(
            (
                f"{name}b{layer}[{j}] - {name}b{layer}[{rep}]",
                (layer - 1, "b", j, None),
                (layer - 1, "b", rep, None),
            )
        )
    out.extend(
        (
            f"{name}W{layer + 1}[{o},{j}] - {name}W{layer + 1}[{o},{rep}]",
            (layer, "w", o, j),
            (layer, "w", o, rep),
        )
        for o in range(len(w_next))
    )
    return out


class Witnesses:
    """Seeded rational points over a fixed symbol set, and the layout evaluated there.

    ``evaluate(point)`` recomputes the layout with every symbol replaced by its
    value (cheap: the numbers flow through the layered computation); ``valid``
    rejects a point (e.g. one on a ReLU kink).
    """

    def __init__(
        self,
        symbols: Iterable[sp.Symbol],
        evaluate: Evaluate,
        valid: Callable[[dict], bool] = lambda point: True,
    ) -> None:
        self.symbols = frozenset(symbols)
        self.evaluate = evaluate
        self.valid = valid
        self._points: dict[int, dict | None] = {}
        self._layouts: dict[int, SymParams] = {}

    def point(self, seed: int) -> dict | None:
        if seed not in self._points:
            point = rational_point(self.symbols, seed)
            self._points[seed] = point if self.valid(point) else None
        return self._points[seed]

    def layout(self, seed: int) -> SymParams | None:
        point = self.point(seed)
        if point is None:
            return None
        if seed not in self._layouts:
            self._layouts[seed] = self.evaluate(point)
        return self._layouts[seed]

    def refute(self, pick: Callable[[SymParams], sp.Expr]) -> tuple[str, str, int] | None:
        """The first seed where ``pick(layout)`` is certified non-zero: ``(value, bound, seed)``."""
        for seed in range(WITNESS_SEEDS):
            layout = self.layout(seed)
            if layout is None:
                continue
            value = instantiate_abstract(pick(layout))
            if value.free_symbols:
                continue
            try:
                v, bound = certified_value(value)
            except Uncertified:
                continue
            if v != 0:
                return str(v), bound, seed
        return None


def decide(
    expr: sp.Expr, pick: Callable[[SymParams], sp.Expr], witnesses: Witnesses
) -> tuple[str, str, str, int | None]:
    """Decide whether ``expr`` is identically zero: ``(status, method, expression, seed)``.

    Structural zero first; then a witness (``pick`` takes the same quantity
    from the layout evaluated at a seeded point) to refute; only when every
    point gives zero, the expand / piecewise / cancel tests of
    :func:`~symcheck.prove.zerotest.zero_test`.
    """
    if expr == 0:
        return ZERO, "structural", "0", None
    found = witnesses.refute(pick)
    if found is not None:
        value, bound, seed = found
        return NONZERO, f"witness seed {seed}; {bound}", value, seed
    d = zero_test(expr)
    if d.status == ZERO:
        return ZERO, d.method, "0", None
    return d.status, d.method, str(d.expression), None


@dataclass(frozen=True)
class TieCheck:
    """The residuals of a tie check and the witness point of the first refuted one."""

    residuals: tuple[Residual, ...]
    witness: dict[str, str] | None

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.residuals}
        if NONZERO in statuses:
            return NONZERO
        if UNKNOWN in statuses:
            return UNKNOWN
        return ZERO


_ORDER = ("structural", "expand", "piecewise", "cancel")


def _residual(
    label: str, layout: SymParams, entries: list[Entry], witnesses: Witnesses
) -> tuple[Residual, int | None]:
    """Witnesses for every differing entry first (cheap), zero tests only afterwards."""
    differing = []
    for name, left_pos, right_pos in entries:
        left, right = _at(layout, left_pos), _at(layout, right_pos)
        if left is right or left == right:
            continue

        def pick(lay: SymParams, a: Position = left_pos, b: Position = right_pos) -> sp.Expr:
            return _at(lay, a) - _at(lay, b)

        found = witnesses.refute(pick)
        if found is not None:
            value, bound, seed = found
            return Residual(
                f"{label}: {name}", value, NONZERO, f"witness seed {seed}; {bound}"
            ), seed
        differing.append((name, left - right))
    methods = ["structural"]
    for name, diff in differing:
        d = zero_test(diff)
        if d.status != ZERO:
            return Residual(f"{label}: {name}", str(d.expression), UNKNOWN, d.method), None
        methods.append(d.method)
    strongest = max(methods, key=_ORDER.index)
    return Residual(label, "0", ZERO, strongest), None


def check_ties(
    network: Network,
    layout: SymParams,
    classes: Sequence[Sequence[Sequence[int]]],
    witnesses: Witnesses,
    *,
    name: str = "dL/d",
) -> TieCheck:
    """Check that every claimed tied pair carries identical entries in ``layout``.

    One residual per tied pair; ``witnesses`` evaluates ``layout`` at seeded
    rational points to refute a pair that is not tied.
    """
    residuals: list[Residual] = []
    witness: dict[str, str] | None = None
    for layer, j, rep in tie_pairs(classes):
        if layer >= network.depth:
            continue
        label = f"layer {layer}: neuron {j} vs neuron {rep}"
        residual, seed = _residual(label, layout, _entries(layout, layer, j, rep, name), witnesses)
        residuals.append(residual)
        if seed is not None and witness is None:
            point = witnesses.point(seed) or {}
            witness = {s.name: str(v) for s, v in point.items()}
    return TieCheck(tuple(residuals), witness)


def gradient_mismatches(first: SymParams, second: SymParams) -> list[tuple[Position, str, str]]:
    """Entries where two gradient layouts are not shown equal: ``(position, status, method)``.

    Each difference goes through :func:`~symcheck.prove.zerotest.zero_test`; an entry
    is reported unless the difference is proved zero. Used to test the layered
    path against the plain one (and to see a wrong factor refused).
    """
    out = []
    for layer, ((wa, ba), (wb, bb)) in enumerate(zip(first, second)):
        pairs = [
            ((layer, "w", i, k), a, b)
            for i, (ra, rb) in enumerate(zip(wa, wb))
            for k, (a, b) in enumerate(zip(ra, rb))
        ]
        pairs += [((layer, "b", i, None), a, b) for i, (a, b) in enumerate(zip(ba or (), bb or ()))]
        for pos, a, b in pairs:
            d = zero_test(a - b)
            if d.status != ZERO:
                out.append((pos, d.status, d.method))
    return out
