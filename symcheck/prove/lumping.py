r"""Theorem T3 in code: one optimiser step keeps an equitable partition.

:func:`prove_lumping_preserved` takes a small network and a partition of its
hidden layers and proves symbolically (SymPy) that one optimiser step maps
weights satisfying the block-sum constraints of the partition to weights that
satisfy them again, so the effective width never grows. The argument has two
parts.

**A. The gradient is constant on every block pair.** The weights are
parametrised to satisfy the constraints exactly: on a block pair
:math:`(I \subseteq \text{layer } l,\ K \subseteq \text{layer } l-1)` of sizes
:math:`p \times q`,

.. math::

    W^l_{ik} = a_{IK} + N_{ik}, \qquad \sum_{k \in K} N_{ik} = 0 = \sum_{i \in I} N_{ik},

with :math:`a_{IK}` and the :math:`(p-1)(q-1)` entries :math:`N_{ik}`,
:math:`i, k` not last, free (the last row and column of :math:`N` are minus
the sums of the others), and biases :math:`b^l_i = b_I`. This is every
solution of the constraints (``mode="lumped"``); ``mode="tied"`` sets
:math:`N = 0` (exact ties, T1). A forward and a backward pass over one
symbolic sample :math:`(x, y)` give :math:`h^{l-1}` constant on the blocks of
layer ``l-1`` and :math:`\delta^l` constant on the blocks of layer ``l``
(each pre-activation and delta is expanded, so equal sums become structurally
equal), hence :math:`\partial\ell/\partial W^l_{ik} = \delta^l_i h^{l-1}_k` is
constant on :math:`I \times K`; a batch gradient is a sum of such terms.
Every residual :math:`G_{ik} - G_{i_0k_0}` must expand to 0.

**B. The step keeps the constraints.** With the gradient :math:`g_{IK}` of
each block pair and every optimiser slot constant on block pairs (true at
the start, where slots are 0, and kept by induction), the update of each
entry is computed by the optimiser's rule
(:data:`~symcheck.model.optimizers.SYMBOLIC_OPTIMIZERS`), with
coupled L2 decay :math:`g + \lambda W` and L1 decay
:math:`g + \lambda_1 \operatorname{sign} W` when asked. The residuals are the
differences of the new row sums, column sums, biases and slots inside each
block. All zero after ``expand``: proved. Otherwise the residual is evaluated
at exact rational points (first step, zero slots, where Adam's
:math:`\sqrt{\hat s} = |g|` is rational): a non-zero value is a witness and
the claim is refuted for that optimiser. This is how coupled L2 under Adam
and L1 decay break a lumped partition while exact ties survive them
(docs/theory.md T3).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from random import Random
from types import MappingProxyType

import sympy as sp

from symcheck.errors import InvalidArgument, choices_message
from symcheck.limits import GROWTH, LIMITS, activation_kind, proof_cost
from symcheck.model.network import Network, require_network
from symcheck.model.optimizers import HYPER, SYMBOLIC_OPTIMIZERS, SymbolicOptimizer
from symcheck.prove.partition import Partition
from symcheck.prove.proof import PROVED, REFUTED, UNKNOWN, Proof, Residual, Step
from symcheck.prove.symbolic import check_symbolic_size, layered_gradients

__all__ = ["MODES", "prove_lumping_preserved"]

MODES = ("lumped", "tied")

Expr = sp.Expr
Blocks = tuple[tuple[int, ...], ...]


#: The hyper-parameters of :data:`~symcheck.model.optimizers.HYPER`, except Adam's
#: bias corrections :math:`1/(1-\beta^t)`: here they are the free positive
#: symbols ``c1``, ``c2``, so the proof covers every step :math:`t` at once.
_HYPER: Mapping[str, Expr] = MappingProxyType(
    {**HYPER, "c1": sp.Symbol("c1", positive=True), "c2": sp.Symbol("c2", positive=True)}
)
# The first step from zero slots: beta = 1/2 gives c = 1/(1 - beta) = 2.
_FIRST_STEP = {"beta1": Fraction(1, 2), "beta2": Fraction(1, 2), "c1": 2, "c2": 2}


# --------------------------------------------------------------------------- inputs


def _layer_blocks(network: Network, partition: Partition | Sequence) -> list[Blocks]:
    """Blocks of every layer 0..L: inputs and outputs are singletons."""
    if not isinstance(partition, Partition):
        try:
            partition = Partition.from_labels(partition)
        except (TypeError, ValueError):
            raise InvalidArgument(
                "partition must be a symcheck.prove.partition.Partition or one label list per "
                "hidden layer, e.g. [[0, 0], [0, 1]]"
            ) from None
    hidden = network.depth - 1
    if len(partition.layers) != hidden:
        raise InvalidArgument(
            f"partition has {len(partition.layers)} hidden layers, network {network.spec} "
            f"has {hidden}"
        )
    blocks = [tuple((i,) for i in range(network.widths[0]))]
    for layer, part in enumerate(partition.layers, start=1):
        if part.width != network.widths[layer]:
            raise InvalidArgument(
                f"partition layer {layer} has {part.width} neurons, network {network.spec} "
                f"has {network.widths[layer]}"
            )
        blocks.append(part.blocks)
    blocks.append(tuple((i,) for i in range(network.widths[-1])))
    return blocks


# --------------------------------------------------------------------------- parametrisation


@dataclass(frozen=True)
class _Weights:
    w: list[list[list[Expr]]]  # w[l-1][i][k]
    b: list[list[Expr] | None]
    block_of: list[dict[int, int]]  # per layer 0..L: neuron -> block index


def _parametrise(network: Network, blocks: list[Blocks], mode: str) -> _Weights:
    block_of = [{i: j for j, blk in enumerate(bl) for i in blk} for bl in blocks]
    ws, bs = [], []
    for layer in range(1, network.depth + 1):
        rows, cols = blocks[layer], blocks[layer - 1]
        n_out, n_in = network.widths[layer], network.widths[layer - 1]
        w: list[list[Expr]] = [[sp.S.Zero] * n_in for _ in range(n_out)]
        for (bi, rblock), (bk, cblock) in itertools.product(enumerate(rows), enumerate(cols)):
            a = sp.Symbol(f"a{layer}_{bi}_{bk}", real=True)
            free = {}
            if mode == "lumped":
                for i, k in itertools.product(rblock[:-1], cblock[:-1]):
                    free[i, k] = sp.Symbol(f"n{layer}_{i}_{k}", real=True)
            for i, k in itertools.product(rblock, cblock):
                w[i][k] = a + _deviation(free, i, k, rblock, cblock)
        ws.append(w)
        if network.bias:
            bias = [sp.Symbol(f"b{layer}_{block_of[layer][i]}", real=True) for i in range(n_out)]
            bs.append(bias)
        else:
            bs.append(None)
    return _Weights(ws, bs, block_of)


def _deviation(
    free: Mapping[tuple[int, int], Expr],
    i: int,
    k: int,
    rows: tuple[int, ...],
    cols: tuple[int, ...],
) -> Expr:
    """:math:`N_{ik}` with zero row and column sums (free entries off the last row/column)."""
    if not free:
        return sp.S.Zero
    last_i, last_k = i == rows[-1], k == cols[-1]
    if not last_i and not last_k:
        return free[i, k]
    if not last_i:  # last column: minus the row's free entries
        return -sp.Add(*(free[i, c] for c in cols[:-1]))
    if not last_k:  # last row: minus the column's free entries
        return -sp.Add(*(free[r, k] for r in rows[:-1]))
    return sp.Add(*(free[r, c] for r in rows[:-1] for c in cols[:-1]))


# --------------------------------------------------------------------------- part A


def _part_a(network: Network, blocks: list[Blocks], weights: _Weights) -> list[Residual]:
    """Per-sample gradients of one symbolic sample ``(x, y)``, every entry expanded."""
    x = [sp.Symbol(f"x{k}", real=True) for k in range(network.widths[0])]
    y = [sp.Symbol(f"y{j}", real=True) for j in range(network.widths[-1])]
    params = list(zip(weights.w, weights.b))
    grads, (deltas,) = layered_gradients(network, params, [x], [y], canonical=sp.expand)
    out = []
    for layer in range(1, network.depth + 1):
        g = grads[layer - 1][0]
        for rblock, cblock in itertools.product(blocks[layer], blocks[layer - 1]):
            i0, k0 = rblock[0], cblock[0]
            for i, k in itertools.product(rblock, cblock):
                if (i, k) != (i0, k0):
                    diff = sp.expand(g[i][k] - g[i0][k0])
                    out.append(_residual(f"dL/dW{layer}[{i},{k}] - dL/dW{layer}[{i0},{k0}]", diff))
        if network.bias:
            for rblock in blocks[layer]:
                for i in rblock[1:]:
                    diff = sp.expand(deltas[layer - 1][i] - deltas[layer - 1][rblock[0]])
                    out.append(_residual(f"dL/db{layer}[{i}] - dL/db{layer}[{rblock[0]}]", diff))
    return out


def _residual(label: str, expr: Expr) -> Residual:
    if expr == 0:
        return Residual(label, "0", "zero", "expand")
    return Residual(label, str(expr), "unknown", "expand")


# --------------------------------------------------------------------------- part B


def _part_b(
    network: Network,
    blocks: list[Blocks],
    weights: _Weights,
    rule: SymbolicOptimizer,
    *,
    weight_decay: bool,
    l1: bool,
) -> list[tuple[str, Expr]]:
    out: list[tuple[str, Expr]] = []

    def step(value: Expr, grad: Expr, slots: tuple[Expr, ...]) -> tuple[Expr, tuple[Expr, ...]]:
        return rule.update(value, grad, slots, hyper=_HYPER, weight_decay=weight_decay, l1=l1)

    for layer in range(1, network.depth + 1):
        w = weights.w[layer - 1]
        new_w: dict[tuple[int, int], Expr] = {}
        new_slots: dict[tuple[int, int], tuple[Expr, ...]] = {}
        for (bi, rblock), (bk, cblock) in itertools.product(
            enumerate(blocks[layer]), enumerate(blocks[layer - 1])
        ):
            grad = sp.Symbol(f"g{layer}_{bi}_{bk}", real=True)
            slots = _slot_symbols(f"{layer}_{bi}_{bk}", len(rule.state))
            for i, k in itertools.product(rblock, cblock):
                new_w[i, k], new_slots[i, k] = step(w[i][k], grad, slots)
            out.extend(_block_residuals(layer, rblock, cblock, new_w, new_slots))
        if network.bias:
            b = weights.b[layer - 1]
            for bi, rblock in enumerate(blocks[layer]):
                grad = sp.Symbol(f"gb{layer}_{bi}", real=True)
                slots = _slot_symbols(f"b{layer}_{bi}", len(rule.state))
                first = step(b[rblock[0]], grad, slots)[0]  # type: ignore[index]
                for i in rblock[1:]:
                    other = step(b[i], grad, slots)[0]  # type: ignore[index]
                    out.append((f"b{layer}'[{i}] - b{layer}'[{rblock[0]}]", other - first))
    return out


def _slot_symbols(suffix: str, count: int) -> tuple[sp.Symbol, ...]:
    """Slot symbols ``s<j>_<suffix>``: the first real (a moment), the others positive."""
    return tuple(
        sp.Symbol(f"s{j}_{suffix}", **({"positive": True} if j else {"real": True}))
        for j in range(count)
    )


def _block_residuals(
    layer: int,
    rows: tuple[int, ...],
    cols: tuple[int, ...],
    new_w: Mapping[tuple[int, int], Expr],
    new_slots: Mapping[tuple[int, int], tuple[Expr, ...]],
) -> list[tuple[str, Expr]]:
    out = []
    i0, k0 = rows[0], cols[0]
    first_row = sp.Add(*(new_w[i0, k] for k in cols))
    for i in rows[1:]:
        row = sp.Add(*(new_w[i, k] for k in cols))
        label = f"row sum of W{layer}'[{i},K] - W{layer}'[{i0},K], K={list(cols)}"
        out.append((label, row - first_row))
    first_col = sp.Add(*(new_w[i, k0] for i in rows))
    for k in cols[1:]:
        col = sp.Add(*(new_w[i, k] for i in rows))
        label = f"column sum of W{layer}'[I,{k}] - W{layer}'[I,{k0}], I={list(rows)}"
        out.append((label, col - first_col))
    for i, k in itertools.product(rows, cols):
        for j, (slot, ref) in enumerate(zip(new_slots[i, k], new_slots[i0, k0])):
            if (i, k) != (i0, k0):
                out.append((f"slot {j} of W{layer}[{i},{k}] - of W{layer}[{i0},{k0}]", slot - ref))
    return out


def _points(residuals: Sequence[tuple[str, Expr]], count: int = 4) -> list[dict]:
    """Exact rational points of the first step: zero slots, ``c = 1/(1 - beta) = 2``."""
    symbols = sorted(
        set().union(*(expr.free_symbols for _, expr in residuals)), key=lambda s: s.name
    )
    points = []
    for seed in range(count):
        rng = Random(seed)
        point: dict[sp.Symbol, sp.Rational] = {}
        for sym in symbols:
            if sym.name in _FIRST_STEP:
                point[sym] = sp.Rational(_FIRST_STEP[sym.name])
            elif sym.name.startswith("s") and "_" in sym.name:
                point[sym] = sp.S.Zero
            elif sym.is_positive:
                point[sym] = sp.Rational(rng.randint(1, 9), rng.randint(1, 9))
            else:
                point[sym] = sp.Rational(rng.randint(-9, 9), rng.randint(1, 9))
        points.append(point)
    return points


def _nonzero_at(expr: Expr, points: Sequence[dict]) -> tuple[int, Expr] | None:
    for index, point in enumerate(points):
        value = expr.xreplace(point)
        if value.is_number and value.is_zero is False:
            return index, value
    return None


def _classify(
    residuals: Sequence[tuple[str, Expr]],
) -> tuple[list[Residual], tuple[dict, str, Expr] | None]:
    """Zero structurally, non-zero at an exact point, zero after ``expand``, or unknown.

    Exact rational points are tried before ``expand``: expanding Adam's square
    roots is slow, and a point where a residual is non-zero settles it. The
    witness of the proof is the first point that breaks a row or column sum
    (a broken slot only breaks the induction), else the first that breaks
    anything.
    """
    out = [Residual(label, "0", "zero", "structural") for label, expr in residuals if expr == 0]
    rest = [(label, expr) for label, expr in residuals if expr != 0]
    points = _points(rest) if rest else []
    witness: tuple[dict, str, Expr] | None = None
    for label, expr in sorted(rest, key=lambda item: item[0].startswith("slot")):
        found = _nonzero_at(expr, points)
        if found is not None:
            index, value = found
            if witness is None:
                witness = (points[index], label, value)
            out.append(Residual(label, f"{value} at point {index}", "nonzero", "witness"))
            continue
        expanded = sp.expand(expr)
        status = "zero" if expanded == 0 else "unknown"
        out.append(Residual(label, "0" if expanded == 0 else str(expanded), status, "expand"))
    return out, witness


# --------------------------------------------------------------------------- the theorem


def _check_size(network: Network) -> None:
    check_symbolic_size(network)
    hidden = network.depth - 1
    if hidden > LIMITS.lumping_hidden_layers:
        raise InvalidArgument(
            f"network {network.spec} has {hidden} hidden layers, beyond the lumping limit of "
            f"{LIMITS.lumping_hidden_layers}; one step's symbolic update grows exponentially "
            "with depth, so prove the lumping on a shallower network"
        )


def _check_cost(network: Network, blocks: list[Blocks], mode: str) -> None:
    """The proof cost model of :mod:`symcheck.limits`: lumped weights are generic, tied ones
    have one value per block."""
    factors = [
        GROWTH[activation_kind(network.activation(layer))]
        * (network.widths[layer] if mode == "lumped" else len(blocks[layer - 1]))
        for layer in network.hidden_layers
    ]
    cost = proof_cost(factors=factors, batch=1)
    if cost > LIMITS.proof_cost:
        raise InvalidArgument(
            f"a lumping proof on {network.spec} in mode {mode!r} has estimated cost {cost}, "
            f"beyond the limit of {LIMITS.proof_cost} (symbolic work grows exponentially with "
            "the hidden layers); use fewer hidden layers or narrower ones"
        )


def prove_lumping_preserved(
    network: Network,
    partition: Partition | Sequence[Sequence[int]],
    *,
    optimizer: str = "sgd",
    weight_decay: bool = False,
    l1: bool = False,
    mode: str = "lumped",
) -> Proof:
    """Prove (or refute) that one ``optimizer`` step keeps ``partition`` equitable.

    ``partition`` is a :class:`~symcheck.prove.partition.Partition` or one label
    list per hidden layer. ``weight_decay`` adds the symbolic L2 decay
    (coupled, or decoupled for ``adamw``), ``l1`` the L1 decay. ``mode`` is
    ``"lumped"`` (any weights meeting the block-sum constraints) or
    ``"tied"`` (weights constant on block pairs: exact ties).
    """
    require_network(network)
    if not isinstance(mode, str) or mode not in MODES:
        raise InvalidArgument(choices_message("mode", mode, MODES))
    if not isinstance(optimizer, str) or optimizer not in SYMBOLIC_OPTIMIZERS:
        raise InvalidArgument(choices_message("optimizer", optimizer, SYMBOLIC_OPTIMIZERS))
    for name, flag in (("weight_decay", weight_decay), ("l1", l1)):
        if not isinstance(flag, bool):
            raise InvalidArgument(f"{name}={flag!r} must be True or False")
    _check_size(network)
    blocks = _layer_blocks(network, partition)
    _check_cost(network, blocks, mode)
    rule = SYMBOLIC_OPTIMIZERS[optimizer]
    weights = _parametrise(network, blocks, mode)
    part_a = _part_a(network, blocks, weights)
    raw_b = _part_b(network, blocks, weights, rule, weight_decay=weight_decay, l1=l1)
    part_b, witness = _classify(raw_b)
    nonzero = [r for r in part_b if r.status != "zero"]
    a_ok = all(r.status == "zero" for r in part_a)
    if not nonzero and a_ok:
        verdict = PROVED
    elif witness is not None and a_ok:
        verdict = REFUTED
    else:
        verdict = UNKNOWN
    decay = _decay_text(rule, weight_decay, l1)
    widths = [len(b) for b in blocks[1:-1]]
    statement = (
        f"One {optimizer}{decay} step keeps the {mode} partition with blocks "
        f"{[list(map(list, b)) for b in blocks[1:-1]]} equitable on {network}, "
        "so the effective width of no hidden layer grows."
    )
    steps = (
        Step(
            "Parametrise the constraints",
            "Every weight on a block pair is the block mean plus a deviation with zero row "
            "and column sums"
            + (" (here zero: exact ties)" if mode == "tied" else "")
            + "; biases are constant on blocks.",
            (r"W^l_{ik} = a_{IK} + N_{ik},\quad \sum_{k\in K} N_{ik} = \sum_{i\in I} N_{ik} = 0",),
        ),
        Step(
            "A. The gradient is constant on block pairs",
            f"{len(part_a)} residuals of the per-sample gradient, each expanded: "
            f"{sum(r.status == 'zero' for r in part_a)} are identically zero.",
            (
                r"\frac{\partial \ell}{\partial W^l_{ik}} = \delta^l_i\, h^{l-1}_k,\quad "
                r"\delta^l_i = \delta^l_I,\ h^{l-1}_k = h^{l-1}_K",
            ),
        ),
        Step(
            "B. The step keeps row sums, column sums, biases and slots on blocks",
            f"{len(part_b)} residuals after one {optimizer}{decay} step from block-constant "
            f"slots: {len(part_b) - len(nonzero)} are zero (structurally or after expand)"
            + (f"; {witness[1]} is {witness[2]} at the witness" if witness else "")
            + ".",
            (r"W'^l = W^l - \eta\, d(g_{IK} + \text{decay}(W^l), s_{IK})",),
        ),
    )
    conclusion = {
        PROVED: "The partition stays equitable after every step (by induction on steps); "
        "the effective width never grows.",
        REFUTED: "The step breaks the partition: the witness is an exact counterexample.",
        UNKNOWN: "Some residual could neither be shown zero nor given a witness.",
    }[verdict]
    return Proof(
        theorem="lumping_preserved",
        statement=statement,
        verdict=verdict,
        network=str(network),
        assumptions=(
            f"partition: effective widths {widths} of {list(network.widths[1:-1])}",
            "optimiser slots start at zero, hence constant on block pairs",
            "one sample; a batch gradient is a sum of per-sample gradients",
        ),
        steps=steps,
        residuals=tuple(part_a) + tuple(part_b),
        witness={str(k): str(v) for k, v in witness[0].items()} if witness else None,
        conclusion=conclusion,
        facts={
            "optimizer": optimizer,
            "weight_decay": weight_decay,
            "l1": l1,
            "mode": mode,
            "effective_widths": widths,
        },
    )


def _decay_text(rule: SymbolicOptimizer, weight_decay: bool, l1: bool) -> str:
    parts = []
    if weight_decay:
        parts.append("decoupled weight decay" if rule.decoupled else "coupled L2 decay")
    if l1:
        parts.append("L1 decay")
    return f" (with {' and '.join(parts)})" if parts else ""
