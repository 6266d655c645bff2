r"""The two kinds of evidence for the theorems on graphs (theory: docs/theory.md, T1, T2, T4).

* :func:`structural` (any size): every node is equivariant under the
  generators of every unit space (:mod:`symcheck.graph.equivariance`), the
  network's inputs and output carry no movable class, and every claimed tie
  class is certified by a permutation fixing the init point
  (:mod:`symcheck.graph.ties`). Then :math:`f(g\theta, x) = f(\theta, x)`, so
  :math:`\nabla L(g\theta) = g\nabla L(\theta)` and :math:`g\theta_0 =
  \theta_0` gives :math:`\nabla L(\theta_0) = g \nabla L(\theta_0)`: tied units
  get identical gradients (T1). For T2 the optimiser's rule is checked to be
  equivariant (:math:`U(g\theta, gg, gs) = gU(\theta, g, s)` on a symbolic
  vector) and its state starts at 0, so every step lands on a point ``g``
  fixes again.
* :func:`computational` (small graphs): the loss and its gradients (and one
  optimiser step) on the SymPy backend, reverse mode through the kernels'
  ``_backward``; for every claimed pair :math:`(u, v)` the residual
  :math:`Q - \tau_{uv} Q` of every quantity :math:`Q` laid out like the
  parameters is zero-tested (:func:`symcheck.prove.zerotest.zero_test`), and a
  pair that differs is refuted by a rational point where a residual entry is
  certified non-zero (:func:`symcheck.prove.zerotest.certified_value`).

Both return an :class:`Evidence`: a verdict, residuals, a witness, facts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import SYMPY
from symcheck.graph.enclose import Enclosures
from symcheck.graph.equivariance import boundary_is_fixed, certify_ops
from symcheck.graph.evaluate import loss_and_gradients
from symcheck.graph.ir import Graph
from symcheck.graph.ops import get_op
from symcheck.graph.points import Point
from symcheck.graph.symmetry import Symmetries, UnitSpace, apply_permutation
from symcheck.graph.ties import TieClasses, cycle
from symcheck.model.activations import ACTIVATIONS
from symcheck.model.optimizers import HYPER, SymbolicOptimizer
from symcheck.prove.proof import PROVED, REFUTED, UNKNOWN, Residual
from symcheck.prove.witness import rational_point, witness_sigma_latex
from symcheck.prove.zerotest import NONZERO, ZERO, Uncertified, certified_value, zero_test

__all__ = [
    "MAX_COMPUTATIONAL_PARAMETERS",
    "Claim",
    "Evidence",
    "abstract_activations",
    "computational",
    "optimizer_equivariant",
    "stand_in_note",
    "step_equivariant",
    "structural",
]

#: Largest graph (parameter entries) the computational proof takes on.
MAX_COMPUTATIONAL_PARAMETERS = 2000
#: Seeded rational points tried before and after the symbolic zero test.
WITNESS_SEEDS = 6

# Op checks are pure functions of their key (op, attributes, axis structure,
# generator); one cache serves every proof of the process.
_OP_CACHE: dict = {}

#: A claim: (space, classes of units that should be tied).
Claim = tuple[UnitSpace, tuple[tuple[int, ...], ...]]


@dataclass(frozen=True)
class Evidence:
    """The outcome of one kind of proof."""

    kind: str
    verdict: str
    residuals: tuple[Residual, ...]
    witness: dict[str, str] | None = None
    facts: dict[str, Any] = field(default_factory=dict)


VectorStep = Callable[[list, list, list], tuple[list, list]]


def step_equivariant(step: VectorStep, states: int, units: int = 3) -> tuple[str, str]:
    r"""Does a vector step ``step(theta, grad, states)`` commute with permutations?

    Checked exactly on ``units`` symbolic entries for the transposition
    :math:`(0\,1)` and the cycle :math:`(0 \ldots n-1)`, which generate
    :math:`S_n`: :math:`U(\pi\theta, \pi g, \pi s) = \pi U(\theta, g, s)`.
    """
    theta = [sp.Symbol(f"theta_{k}") for k in range(units)]
    grad = [sp.Symbol(f"g_{k}") for k in range(units)]
    state = [[sp.Symbol(f"s{j}_{k}") for k in range(units)] for j in range(states)]
    plain_theta, plain_state = step(theta, grad, state)
    for perm in ((1, 0, *range(2, units)), (*range(1, units), 0)):
        moved_theta, moved_state = step(
            [theta[j] for j in perm], [grad[j] for j in perm], [[s[j] for j in perm] for s in state]
        )
        pairs = list(zip(moved_theta, [plain_theta[j] for j in perm]))
        for new, old in zip(moved_state, plain_state):
            pairs += list(zip(new, [old[j] for j in perm]))
        for a, b in pairs:
            if a != b and zero_test(sp.sympify(a) - sp.sympify(b)).status != ZERO:
                return UNKNOWN, f"not shown for permutation {perm}"
    return ZERO, "structural"


def optimizer_equivariant(opt: SymbolicOptimizer, units: int = 3) -> tuple[str, str]:
    """Is one step of ``opt``, applied entry by entry, equivariant (:func:`step_equivariant`)?"""

    def step(theta: list, grad: list, state: list) -> tuple[list, list]:
        results = [
            opt.update(theta[k], grad[k], tuple(s[k] for s in state)) for k in range(len(theta))
        ]
        new_state = [[r[1][j] for r in results] for j in range(len(opt.state))]
        return [r[0] for r in results], new_state

    return step_equivariant(step, len(opt.state), units)


def structural(
    graph: Graph,
    symmetries: Symmetries,
    point: Point,
    ties: TieClasses,
    claims: Sequence[Claim],
    *,
    optimizer: SymbolicOptimizer | None = None,
) -> Evidence:
    """T1 (and T2 with ``optimizer``) from the op-by-op certificate and the tie certificates."""
    checks = certify_ops(graph, symmetries, _OP_CACHE)
    residuals: list[Residual] = []
    for c in checks:
        if c.cached and c.status == ZERO:
            continue  # the same check was listed for an earlier node of this graph
        residuals.append(
            Residual(
                f"op {c.op} at {c.node}, {c.space}, {c.generator}",
                f"op(g x, g theta) - g op(x, theta) on {c.instance}",
                c.status,
                c.method,
            )
        )
    boundary = boundary_is_fixed(graph, symmetries)
    residuals.append(
        Residual(
            "inputs, output and target carry no permuted axis",
            "fixed by the union-find",
            ZERO if boundary else UNKNOWN,
            "structural",
        )
    )
    certified = {s.space: s.classes for s in ties.spaces}
    checked = {c.space for c in checks}
    for space, _ in claims:
        if space.name not in checked:  # no op was certified for this space: nothing is proved
            residuals.append(
                Residual(
                    f"op certificates for {space.name}",
                    "no node was checked for this space",
                    UNKNOWN,
                    "not checked",
                )
            )
    for space, classes in claims:
        for units in classes:
            ok = any(set(units) <= set(found) for found in certified.get(space.name, ()))
            residuals.append(
                Residual(
                    f"g theta0 = theta0 for {space.name} units {list(units)}",
                    f"g = cycle {list(units)} of {space.name}",
                    ZERO if ok else UNKNOWN,
                    "permutation" if ok else "no certificate",
                )
            )
    if optimizer is not None:
        status, method = optimizer_equivariant(optimizer)
        residuals.append(
            Residual(
                f"{optimizer.name} is equivariant",
                "U(g theta, g grad, g s) - g U(theta, grad, s) on 3 symbolic entries",
                status,
                method,
            )
        )
        # The state starts at 0 in every entry: a constant, fixed by every permutation.
        residuals.append(
            Residual(
                "the optimiser state starts at 0, fixed by every g", "g 0 - 0", ZERO, "constant"
            )
        )
    verdict = PROVED if all(r.status == ZERO for r in residuals) else UNKNOWN
    facts = {
        "op_checks": len(checks),
        "op_checks_distinct": sum(not c.cached for c in checks),
        "op_checks_not_zero": sum(c.status != ZERO for c in checks),
    }
    return Evidence("structural", verdict, tuple(residuals), None, facts)


# ---------------------------------------------------------------- computational


def _symbols(shape: tuple[int, ...], tag: str) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for k, index in enumerate(np.ndindex(*shape)):
        out[index] = sp.Symbol(f"{tag}_{k}")
    return out


def _data(graph: Graph) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """Symbolic float inputs and target; token ids fixed (listed in the assumptions)."""
    vocab = {}
    for node in graph.nodes:
        for position in get_op(node.op).int_inputs:
            vocab[node.inputs[position]] = graph.shape(node.params[0])[0]
    inputs, notes = {}, []
    for i in graph.inputs:
        if i.dtype == "int":
            ids = np.arange(int(np.prod(i.shape)), dtype=np.int64).reshape(i.shape) % vocab[i.name]
            inputs[i.name] = ids
            notes.append(f"token ids {i.name} fixed at {ids.tolist()}")
        else:
            inputs[i.name] = _symbols(i.shape, i.name)
    target = _symbols(graph.shape(graph.output), "y") if graph.loss is not None else None
    return inputs, target, notes


def _state_point(point: Point, prefix: str) -> np.ndarray:
    """A tied optimiser state: a symbol per free value of the point, 0 for numbers."""
    table = np.empty(len(point.values), dtype=object)
    table[:] = [
        sp.Symbol(f"{prefix}_{k}") if v.free_symbols else sp.Integer(0)
        for k, v in enumerate(point.values)
    ]
    return table


def _subs(array: np.ndarray, subs: dict | None) -> np.ndarray:
    if subs is None or array.dtype != object:
        return array
    out = np.empty(array.shape, dtype=object)
    for index, v in np.ndenumerate(array):
        out[index] = sp.sympify(v).xreplace(subs)
    return out


Quantities = Callable[[dict | None, Enclosures | None], dict[str, dict[str, np.ndarray]]]


def _quantities(
    graph: Graph, point: Point, optimizer: SymbolicOptimizer | None
) -> tuple[Quantities, set, list[str]]:
    """``compute(subs, enclosures)``: the gradients (or the step) laid out like the parameters.

    Symbolic with ``subs=None``; at the rational point ``subs`` otherwise, every
    value enclosed node by node (:class:`~symcheck.graph.enclose.Enclosures`).
    """
    params = point.arrays()
    inputs, target, notes = _data(graph)
    states = []
    if optimizer is not None:
        for prefix in optimizer.state:
            table = _state_point(point, prefix)
            states.append({name: table[code] for name, code in point.codes.items()})
    symbols = set(point.symbols)
    for array in (*inputs.values(), target, *(s for st in states for s in st.values())):
        if array is not None and array.dtype == object:
            for v in array.reshape(-1):
                symbols |= sp.sympify(v).free_symbols
    if optimizer is not None:
        symbols |= set(optimizer.hyper)

    def compute(
        subs: dict | None, enclosures: Enclosures | None
    ) -> dict[str, dict[str, np.ndarray]]:
        p = {k: _subs(v, subs) for k, v in params.items()}
        x = {k: _subs(v, subs) for k, v in inputs.items()}
        y = _subs(target, subs)
        if enclosures is None:
            _, raw = loss_and_gradients(graph, p, x, y, xp=SYMPY)
        else:
            raw = enclosures.loss_and_gradients(graph, p, x, y)
        grads = {k: np.asarray(v, dtype=object) for k, v in raw.items()}
        if optimizer is None:
            return {"grad": grads}
        hyper = {k: (sp.sympify(v).xreplace(subs) if subs else v) for k, v in HYPER.items()}
        out: dict[str, dict[str, np.ndarray]] = {"theta'": {}}
        out.update({f"{s}'": {} for s in optimizer.state})
        st = [{k: _subs(v, subs) for k, v in s.items()} for s in states]
        for name in graph.parameter_names:
            new = np.empty(graph.shape(name), dtype=object)
            new_states = [np.empty(graph.shape(name), dtype=object) for _ in optimizer.state]
            for index in np.ndindex(*graph.shape(name)):
                theta, state = optimizer.update(
                    sp.sympify(p[name][index]),
                    sp.sympify(grads[name][index]),
                    tuple(sp.sympify(s[name][index]) for s in st),
                    hyper=hyper,
                )
                new[index] = theta
                for k, v in enumerate(state):
                    new_states[k][index] = v
            out["theta'"][name] = new
            for k, s in enumerate(optimizer.state):
                out[f"{s}'"][name] = new_states[k]
        return out

    return compute, symbols, notes


def _entries(
    graph: Graph, layouts: dict[str, dict[str, np.ndarray]], claims: Sequence[Claim]
) -> list[tuple[str, tuple, sp.Expr]]:
    """Every residual entry ``Q - tau Q`` that is not structurally zero: (label, address, value)."""
    out = []
    for label, layout in layouts.items():
        for space, classes in claims:
            for units in classes:
                for u in units[1:]:
                    perm = cycle(space.size, (units[0], u))
                    moved = apply_permutation(graph, layout, space, perm)
                    for name in dict.fromkeys(ref.parameter for ref in space.axes):
                        for index, a in np.ndenumerate(layout[name]):
                            b = moved[name][index]
                            if a != b:
                                where = (label, space.name, units[0], u, name, index)
                                text = f"{label} {space.name} ({units[0]} {u}) {name}"
                                diff = sp.sympify(a) - sp.sympify(b)
                                out.append((f"{text}{list(index)}", where, diff))
    return out


def abstract_activations(graph: Graph) -> tuple[str, ...]:
    """The abstract activations (``sigma``) of the graph's activation nodes, once each."""
    names = (n.attr_dict.get("name") for n in graph.nodes if n.op == "activation")
    return tuple(
        dict.fromkeys(
            str(name)
            for name in names
            if name in ACTIVATIONS and ACTIVATIONS[name].abstract  # type: ignore[index]
        )
    )


def stand_in_note() -> str:
    """What a witness with the sigma stand-in refutes (for the proof's assumptions)."""
    return (
        f"at a witness the abstract sigma is the stand-in ${witness_sigma_latex()}$: a "
        "difference found there holds for that sigma, so it refutes a claim made for every "
        "sigma (one sigma is a counterexample), not one about a particular activation"
    )


def _witness(
    graph: Graph, compute: Quantities, symbols: set, claims: Sequence[Claim], seeds: range
) -> tuple[dict | None, Residual | None]:
    stand_in = bool(abstract_activations(graph))
    for seed in seeds:
        point = rational_point(symbols, seed)
        enclosures = Enclosures(stand_in=stand_in)
        try:
            layouts = compute(point, enclosures)
        except (ValueError, ArithmeticError, TypeError):  # an uncertain branch or enclosure
            continue
        for label, _, value in _entries(graph, layouts, claims):
            try:
                number, how = certified_value(value, env=enclosures.env)
            except (Uncertified, ArithmeticError, ValueError, TypeError):
                continue
            witness = {s.name: str(v) for s, v in sorted(point.items(), key=lambda kv: kv[0].name)}
            how = f"{how}; sigma stand-in" if stand_in else how
            return witness, Residual(label, str(number), NONZERO, f"witness ({how})")
    return None, None


def check_size(graph: Graph) -> None:
    """Refuse a graph too large for the computational proof (before any work)."""
    count = graph.parameter_count()
    if count > MAX_COMPUTATIONAL_PARAMETERS:
        raise InvalidArgument(
            f"the computational proof takes graphs of at most {MAX_COMPUTATIONAL_PARAMETERS} "
            f"parameter entries, this one has {count}; use kind='structural' (any size) or a "
            "smaller model"
        )


def computational(
    graph: Graph,
    point: Point,
    claims: Sequence[Claim],
    *,
    optimizer: SymbolicOptimizer | None = None,
    symbolic: bool = True,
) -> Evidence:
    """Zero-test the tie residuals of the exact gradients (or step); refute with a witness.

    ``symbolic=False`` skips the symbolic stage (a random point, where only a
    witness can decide and the symbolic gradients are far too large).
    """
    check_size(graph)
    compute, symbols, notes = _quantities(graph, point, optimizer)
    if abstract_activations(graph):
        notes = [*notes, stand_in_note()]
    facts: dict[str, Any] = {"assumptions": notes}
    witness, hit = _witness(graph, compute, symbols, claims, range(2))
    if hit is not None:
        return Evidence("computational", REFUTED, (hit,), witness, facts)
    if not symbolic:
        residual = Residual("witness search", "no certified difference found", UNKNOWN, "witness")
        return Evidence("computational", UNKNOWN, (residual,), None, facts)
    try:
        layouts = compute(None, None)
    except ValueError as exc:  # an undecidable branch (a kink) on symbolic values
        residual = Residual("symbolic gradients", str(exc), UNKNOWN, "not computed")
        return Evidence("computational", UNKNOWN, (residual,), None, facts)
    except RecursionError:  # SymPy recursing through deeply nested Piecewise forms
        why = "the symbolic gradients nest too deeply for SymPy (RecursionError)"
        residual = Residual("symbolic gradients", why, UNKNOWN, "not computed")
        return Evidence("computational", UNKNOWN, (residual,), None, facts)
    residuals, undecided = [], 0
    entries = _entries(graph, layouts, claims)
    for label, _, value in entries:
        decision = zero_test(value)
        if decision.status != ZERO:
            undecided += 1
            residuals.append(Residual(label, str(decision.expression), UNKNOWN, decision.method))
    facts["residual_entries"] = len(entries)
    if undecided:
        witness, hit = _witness(graph, compute, symbols, claims, range(2, WITNESS_SEEDS))
        if hit is not None:
            return Evidence("computational", REFUTED, (hit,), witness, facts)
        return Evidence("computational", UNKNOWN, tuple(residuals[:20]), None, facts)
    pairs = sum(len(units) - 1 for _, classes in claims for units in classes)
    summary = Residual(
        f"{pairs} tied pairs, every quantity laid out like the parameters",
        "Q - tau Q",
        ZERO,
        "structural/expand" if entries else "structural",
    )
    return Evidence("computational", PROVED, (summary,), None, facts)
