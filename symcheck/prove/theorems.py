r"""The symmetry theorems (docs/theory.md T1, T2, T4), each returning a Proof record.

* :func:`prove_identical_updates` (T1): at a point where the init ties the
  neurons of a hidden layer, every tied pair receives identical gradients
  (incoming row, bias, outgoing column), for all inputs and targets — and for
  the abstract ``sigma``/``ell``, for every activation and loss.
* :func:`prove_preserved` (T2, the induction step): one step of any
  optimiser of :data:`~symcheck.model.optimizers.SYMBOLIC_OPTIMIZERS` (``sgd``,
  ``momentum``, ``adam``, ...) from a tied point with tied optimiser state
  lands on a tied point with tied state, so the symmetry holds for every step.
* :func:`prove_symmetry_breaks` (T4): at the generic point two neurons' gradient
  rows are not identically equal; an exact rational witness proves it, and for
  analytic :math:`\varphi` and :math:`\ell` the difference vanishes only on a
  null set, so random init breaks the symmetry almost surely.

Every proof records in ``facts["recipe"]`` what is needed to re-derive it
(:mod:`symcheck.prove.certificate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.graph.crosscheck import combine, structural_check
from symcheck.model.network import Network, require_network
from symcheck.model.optimizers import get_symbolic_optimizer
from symcheck.prove.proof import PROVED, REFUTED, UNKNOWN, Proof, Residual, Step
from symcheck.prove.symbolic import (
    InitPoint,
    SymParams,
    check_proof_cost,
    check_symbolic_size,
    data_symbols,
    init_point,
    layered_gradients,
    symbolic_forward,
)
from symcheck.prove.ties import TieCheck, Witnesses, _at, check_ties, decide
from symcheck.prove.witness import witness_sigma_latex
from symcheck.prove.zerotest import NONZERO, ZERO

__all__ = ["THEOREMS", "prove_identical_updates", "prove_preserved", "prove_symmetry_breaks"]

_BACKPROP = (
    r"\delta^L_o = \frac{\partial \ell}{\partial z^L_o}, \quad "
    r"\delta^l_k = \varphi_l'(z^l_k) \sum_i W^{l+1}[i,k]\,\delta^{l+1}_i",
    r"\frac{\partial L}{\partial W^l[i,k]} = c \sum_s \delta^l_i(s)\, h^{l-1}_k(s), \quad "
    r"\frac{\partial L}{\partial b^l_i} = c \sum_s \delta^l_i(s)",
)


def _recipe(theorem: str, network: Network, init: object, value: object, **extra: Any) -> dict:
    return {
        "theorem": theorem,
        "network": {
            "widths": list(network.widths),
            "activations": list(network.activations),
            "loss": network.loss,
            "bias": network.bias,
            "reduction": network.reduction,
        },
        "init": init if isinstance(init, str) else None,
        "value": None if value is None else str(value),
        **extra,
    }


def _assumptions(network: Network) -> tuple[str, ...]:
    out = [
        f"loss {network.loss} with {network.loss_fn.output} output, "
        f"{network.reduction} over the batch",
    ]
    for name in dict.fromkeys(network.activations):
        act = network.activation(network.activations.index(name) + 1)
        if act.convention:
            out.append(act.convention)
    if network.loss_fn.abstract:
        out.append("ell is an arbitrary differentiable function of the outputs and targets")
    return tuple(out)


def _kink_filter(network: Network, params: SymParams, xs: Sequence) -> Any:
    """Reject witness points that put a pre-activation of a non-analytic layer on its kink."""
    rough = [
        layer
        for layer in network.hidden_layers
        if not network.activation(layer).analytic and not network.activation(layer).abstract
    ]
    if not rough:
        return lambda point: True
    run = symbolic_forward(network, params, xs)

    def valid(point: dict) -> bool:
        return all(
            z.xreplace(point) != 0
            for sample in run.pre
            for layer in rough
            for z in sample[layer - 1]
        )

    return valid


def _free(point: InitPoint, xs: Sequence, ys: Sequence, extra: Sequence[sp.Symbol] = ()) -> set:
    found = set(point.symbols) | set(extra)
    for row in (*xs, *ys):
        for v in row:
            found |= sp.sympify(v).free_symbols
    return found


def _subs_layout(layout: SymParams, point: dict) -> SymParams:
    return tuple(
        (
            tuple(tuple(v.xreplace(point) for v in row) for row in w),
            None if b is None else tuple(v.xreplace(point) for v in b),
        )
        for w, b in layout
    )


def _subs_rows(rows: Sequence, point: dict) -> tuple:
    return tuple(tuple(sp.sympify(v).xreplace(point) for v in row) for row in rows)


def _gradient_witnesses(
    network: Network, params: SymParams, xs: Sequence, ys: Sequence, symbols: set, valid: Any
) -> Witnesses:
    def evaluate(point: dict) -> SymParams:
        return layered_gradients(
            network,
            _subs_layout(params, point),
            _subs_rows(xs, point),
            _subs_rows(ys, point),
            witness_forms=True,
        )[0]

    return Witnesses(symbols, evaluate, valid)


def _update_status(network: Network, grads: SymParams, witnesses: Witnesses) -> dict[str, str]:
    """Are the gradients of the hidden neurons' incoming and outgoing weights all zero?"""
    groups = {
        "hidden_incoming": [
            (layer - 1, kind, i, k)
            for layer in network.hidden_layers
            for kind, i, k in _positions(grads[layer - 1])
        ],
        "hidden_outgoing": [
            (network.depth - 1, "w", i, k)
            for i, row in enumerate(grads[-1][0])
            for k in range(len(row))
        ],
    }
    out = {}
    for key, positions in groups.items():
        status = ZERO
        seen: set = set()
        for pos in positions:
            g = _at(grads, pos)
            if g in seen:
                continue
            seen.add(g)
            s, _, _, _ = decide(g, lambda lay, pos=pos: _at(lay, pos), witnesses)
            if s == NONZERO:
                status = NONZERO
                break
            if s != ZERO:
                status = UNKNOWN
        out[key] = {ZERO: "zero", NONZERO: "nonzero", UNKNOWN: "unknown"}[status]
    return out


def _positions(layer: tuple) -> list[tuple[str, int, int | None]]:
    w, b = layer
    out: list[tuple[str, int, int | None]] = [
        ("w", i, k) for i, row in enumerate(w) for k in range(len(row))
    ]
    return out + [("b", i, None) for i in range(len(b or ()))]


def _verdict(check: TieCheck, *, claim_holds_when_zero: bool = True) -> str:
    if check.status == ZERO:
        return PROVED
    if check.status == NONZERO:
        return REFUTED
    return UNKNOWN


def _update_sentence(status: dict[str, str]) -> str:
    incoming = status["hidden_incoming"]
    if incoming == "zero":
        return (
            "degenerate case: the gradients of every hidden neuron's incoming weights and biases "
            "are identically zero, so the hidden layers do not move at all in this step"
        )
    if incoming == "nonzero":
        return "the tied hidden neurons receive identical, non-zero updates"
    return "whether the hidden gradients vanish is undecided"


def _prepare(network: Network, init: str | InitPoint, value: object, batch: int) -> tuple:
    """Validate the arguments and every limit, then build the point and the data symbols.

    The batch and size limits are checked before any symbol is built, the
    proof cost model (:mod:`symcheck.limits`) before any gradient.
    """
    require_network(network)
    check_symbolic_size(network, batch=batch)
    point = init_point(network, init, value=value)
    check_proof_cost(network, point, batch=batch)
    return (point, *data_symbols(network, batch))


def _point_step(point: InitPoint, network: Network, batch: int) -> Step:
    return Step(
        "Point",
        f"Init '{point.name}': {point.description}. Inputs and targets are the free symbols "
        f"x{{s}}_{{k}}, y{{s}}_{{k}} of {batch} sample(s); the batch gradient is "
        f"c times the sum of per-sample gradients, so the claim for every batch follows.",
        (
            r"z^l = W^l h^{l-1} + b^l,\quad h^l = \varphi_l(z^l),\quad "
            r"L = c\sum_s \ell(z^L(s), y(s))",
        ),
    )


def prove_identical_updates(
    network: Network,
    *,
    init: str | InitPoint = "zero",
    value: object = None,
    batch: int = 1,
    cross_check: bool = True,
) -> Proof:
    """T1: every pair of neurons that ``init`` ties receives identical gradients.

    Residuals: one per tied pair (see :mod:`symcheck.prove.ties`). ``proved`` when all
    vanish (structurally or after expand/cancel), ``refuted`` with a witness,
    ``unknown`` otherwise.

    With ``cross_check`` (the default) the verdict for ``zero``, ``constant``
    and ``tied`` init is cross-checked by the structural proof on the lowered
    graph (:mod:`symcheck.graph.crosscheck`, about a millisecond; recorded in
    ``facts["graph_structural"]``): a contradiction turns the verdict into
    ``unknown``. ``cross_check=False`` runs the chain prover alone.
    """
    if not isinstance(cross_check, bool):
        raise InvalidArgument(f"cross_check={cross_check!r} must be True or False")
    point, xs, ys = _prepare(network, init, value, batch)
    grads, _ = layered_gradients(network, point.params, xs, ys)
    witnesses = _gradient_witnesses(
        network, point.params, xs, ys, _free(point, xs, ys), _kink_filter(network, point.params, xs)
    )
    check = check_ties(network, grads, point.classes, witnesses)
    cross = structural_check(network, init=init, value=value) if cross_check else None
    verdict = combine(_verdict(check), point.classes, cross)
    status = _update_status(network, grads, witnesses) if verdict == PROVED else {}
    pairs = len(check.residuals)
    statement = (
        f"At the '{point.name}' init of {network}, every pair of tied hidden neurons receives "
        "identical gradients of its incoming weights, bias and outgoing weights, for all inputs "
        "and targets."
    )
    steps = [
        _point_step(point, network, batch),
        Step(
            "Layered reverse mode",
            "Local derivatives by sympy.diff, composed by the chain rule.",
            _BACKPROP,
        ),
        Step(
            "Residuals",
            f"For each of the {pairs} tied pairs (i, j) the residual is the difference of the "
            "incoming rows, biases and outgoing columns of the gradient; each is tested for zero "
            "structurally, then by expand/cancel, never simplify.",
            (
                r"r_{ij} = \left(\nabla_{W^l[i,:]} - \nabla_{W^l[j,:]},\ "
                r"\nabla_{b^l_i} - \nabla_{b^l_j},\ "
                r"\nabla_{W^{l+1}[:,i]} - \nabla_{W^{l+1}[:,j]}\right)L",
            ),
        ),
    ]
    if cross is not None:
        steps.append(
            Step(
                "Cross-check",
                "The structural proof on the lowered graph (symcheck.graph.crosscheck): every "
                "node is equivariant under the permutations of each hidden layer, the inputs "
                "and outputs are fixed, and the cycle through each claimed class fixes the "
                f"init exactly. Verdict: {cross.verdict}, {cross.tied_pairs} tied pairs.",
            )
        )
    if verdict == PROVED:
        conclusion = "All residuals vanish: " + _update_sentence(status) + "."
    elif verdict == REFUTED:
        conclusion = "A tied pair receives different gradients at the exact rational witness."
    elif _verdict(check) == REFUTED:
        conclusion = (
            "The two engines contradict each other: the residuals are refuted at a witness, "
            "the structural proof proves the same ties; this is a bug, reported as unknown."
        )
    else:
        conclusion = "Some residual could be neither shown zero nor refuted by a witness."
    return Proof(
        theorem="identical_updates",
        statement=statement,
        verdict=verdict,
        network=str(network),
        assumptions=_assumptions(network),
        steps=tuple(steps),
        residuals=check.residuals,
        witness=check.witness,
        conclusion=conclusion,
        facts={
            "recipe": _recipe(
                "identical_updates",
                network,
                init,
                value,
                batch=batch,
                **({} if cross_check else {"cross_check": False}),
            ),
            "tied_pairs": pairs,
            **({"update": status} if status else {}),
            **({"graph_structural": cross.to_json()} if cross is not None else {}),
        },
    )


def _state_like(point: InitPoint, prefix: str) -> SymParams:
    def entry(v: sp.Expr) -> sp.Expr:
        return sp.Symbol(f"{prefix}_{v.name}") if isinstance(v, sp.Symbol) else sp.Integer(0)

    return tuple(
        (
            tuple(tuple(entry(v) for v in row) for row in w),
            None if b is None else tuple(entry(v) for v in b),
        )
        for w, b in point.params
    )


def _map_layout(fn: Any, n: int, *layouts: SymParams) -> list[SymParams]:
    """Apply ``fn(*entries) -> n-tuple`` entrywise; return one layout per output."""
    results: list[list] = []
    for layers in zip(*layouts):
        ws = [lay[0] for lay in layers]
        bs = [lay[1] for lay in layers]
        rows = [[fn(*vals) for vals in zip(*rows)] for rows in zip(*ws)]
        biases = None if bs[0] is None else [fn(*vals) for vals in zip(*bs)]
        results.append((rows, biases))
    out = []
    for idx in range(n):
        out.append(
            tuple(
                (
                    tuple(tuple(cell[idx] for cell in row) for row in rows),
                    None if biases is None else tuple(cell[idx] for cell in biases),
                )
                for rows, biases in results
            )
        )
    return out


def prove_preserved(
    network: Network,
    *,
    init: str | InitPoint = "tied",
    optimizer: str = "sgd",
    value: object = None,
    batch: int = 1,
) -> Proof:
    """T2, the induction step: one optimiser step from a tied point lands on a tied point.

    The optimiser state starts tied as well: a free symbol ``m_<name>`` per free
    parameter symbol (zero where the parameter is a number). Reports
    separately whether the hidden neurons receive no update at all (degenerate)
    or identical non-zero updates.
    """
    opt = get_symbolic_optimizer(optimizer)
    point, xs, ys = _prepare(network, init, value, batch)
    states = [_state_like(point, prefix) for prefix in opt.state]

    def after_step(subs: dict | None, forms: bool) -> list[SymParams]:
        params = point.params if subs is None else _subs_layout(point.params, subs)
        st = states if subs is None else [_subs_layout(x, subs) for x in states]
        x = xs if subs is None else _subs_rows(xs, subs)
        y = ys if subs is None else _subs_rows(ys, subs)
        grads = layered_gradients(network, params, x, y, witness_forms=forms)[0]

        def step(theta: sp.Expr, g: sp.Expr, *state: sp.Expr) -> tuple:
            new_theta, new_state = opt.update(theta, g, tuple(state))
            if subs is not None:
                return tuple(v.xreplace(subs) for v in (new_theta, *new_state))
            return (new_theta, *new_state)

        return [grads, *_map_layout(step, 1 + len(opt.state), params, grads, *st)]

    grads, *new = after_step(None, False)
    state_symbols = {s for layout in states for s in _free_of_layout(layout)}
    symbols = _free(point, xs, ys, (*opt.hyper, *state_symbols))
    valid = _kink_filter(network, point.params, xs)
    names = ["theta'", *(f"{s}'" for s in opt.state)]
    residuals: list[Residual] = []
    witness = None
    for index, (label, layout) in enumerate(zip(names, new), start=1):
        witnesses = Witnesses(
            symbols, lambda subs, index=index: after_step(subs, True)[index], valid
        )
        check = check_ties(network, layout, point.classes, witnesses, name=f"{label} ")
        residuals.extend(
            Residual(f"{label} {r.label}", r.expression, r.status, r.method)
            for r in check.residuals
        )
        witness = witness or check.witness
    combined = TieCheck(tuple(residuals), witness)
    verdict = _verdict(combined)
    status = _update_status(
        network, grads, _gradient_witnesses(network, point.params, xs, ys, symbols, valid)
    )
    statement = (
        f"One {opt.name} step from the '{point.name}' point of {network}, with tied optimiser "
        "state, lands on a point where the same neurons are tied and the state is tied again; "
        "by induction the symmetry holds after every step."
    )
    steps = (
        _point_step(point, network, batch),
        Step("Gradients", "Layered reverse mode.", _BACKPROP),
        Step(
            "Update",
            f"{opt.name} is elementwise; hyper-parameters are the free symbols "
            + ", ".join(s.name for s in opt.hyper)
            + ".",
            (opt.latex,),
        ),
        Step(
            "Residuals",
            "For every tied pair: the differences of the new incoming rows, biases and outgoing "
            "columns, of the parameters and of every state buffer.",
        ),
    )
    if verdict == PROVED:
        conclusion = "The step preserves every tie: " + _update_sentence(status) + "."
    elif verdict == REFUTED:
        conclusion = "The step produces untied neurons at the exact rational witness."
    else:
        conclusion = "Some residual could be neither shown zero nor refuted."
    return Proof(
        theorem="preserved",
        statement=statement,
        verdict=verdict,
        network=str(network),
        assumptions=(*_assumptions(network), f"optimizer {opt.name} with tied initial state"),
        steps=steps,
        residuals=tuple(residuals),
        witness=witness,
        conclusion=conclusion,
        facts={
            "recipe": _recipe("preserved", network, init, value, batch=batch, optimizer=opt.name),
            "update": status,
        },
    )


def _free_of_layout(layout: SymParams) -> set:
    found: set = set()
    for w, b in layout:
        for v in [*(x for row in w for x in row), *(b or ())]:
            found |= v.free_symbols
    return found


def _almost_sure(network: Network) -> tuple[str, str]:
    """What the witness proves for this network's activations and loss, and what is only tested."""
    acts = [network.activation(layer) for layer in network.hidden_layers]
    if any(a.abstract for a in acts) or network.loss_fn.abstract:
        return (
            "Refutes 'tied gradients for every activation and loss' with the witness "
            f"${witness_sigma_latex()}$ and the squared error for ell. For any analytic "
            "activation and loss with a witness point the same almost-sure conclusion follows.",
            "",
        )
    if all(a.analytic for a in acts) and network.loss_fn.analytic:
        return (
            "The activations and the loss are real-analytic, so the residual is a real-analytic "
            "function of (theta, x, y) that is not identically zero (witness); its zero set has "
            "Lebesgue measure zero. Hence, for almost every input and target, random init with "
            "any density breaks the symmetry almost surely.",
            "",
        )
    return (
        "The activation is only piecewise analytic. Proved: the witness lies inside one "
        "activation region (no pre-activation on a kink), where the residual is a rational "
        "function that is not identically zero, so the neurons differ for almost every point of "
        "that region (a set of positive measure).",
        "Only tested (properties/): that the symmetry breaks almost surely over the whole space.",
    )


def prove_symmetry_breaks(network: Network, *, batch: int = 1) -> Proof:
    """T4: at the generic point, neurons 1 and 0 of every hidden layer get different gradients."""
    require_network(network)
    layers = [layer for layer in network.hidden_layers if network.widths[layer] >= 2]
    if not layers:
        raise InvalidArgument(
            f"network {network.spec} has no hidden layer with two neurons; symmetry breaking "
            "needs a pair, e.g. '2-2-1'"
        )
    point, xs, ys = _prepare(network, "random", None, batch)
    grads, _ = layered_gradients(network, point.params, xs, ys)
    classes = tuple(((0, 1),) if layer in layers else () for layer in network.hidden_layers)
    witnesses = _gradient_witnesses(
        network, point.params, xs, ys, _free(point, xs, ys), _kink_filter(network, point.params, xs)
    )
    check = check_ties(network, grads, classes, witnesses)
    if check.status == NONZERO and all(r.status == NONZERO for r in check.residuals):
        verdict = PROVED
    else:
        verdict = UNKNOWN
    proved, tested = _almost_sure(network)
    statement = (
        f"At the generic point of {network}, neurons 0 and 1 of every hidden layer with two or "
        "more neurons receive gradients that are not identically equal."
    )
    return Proof(
        theorem="symmetry_breaks",
        statement=statement,
        verdict=verdict,
        network=str(network),
        assumptions=_assumptions(network),
        steps=(
            _point_step(point, network, batch),
            Step("Layered reverse mode", "", _BACKPROP),
            Step(
                "Witness",
                "Every free symbol takes a small rational value (seeded); the residual is "
                "evaluated exactly, or to 50 certified digits when transcendental.",
            ),
            Step("Almost surely", proved + (" " + tested if tested else "")),
        ),
        residuals=check.residuals,
        witness=check.witness,
        conclusion=(
            "The symmetry breaks at the witness. " + proved
            if verdict == PROVED
            else "No witness was found for some layer."
        ),
        facts={"recipe": _recipe("symmetry_breaks", network, "random", None, batch=batch)},
    )


#: Theorem name -> function, for certificates and the command line.
THEOREMS = {
    "identical_updates": prove_identical_updates,
    "preserved": prove_preserved,
    "symmetry_breaks": prove_symmetry_breaks,
}
