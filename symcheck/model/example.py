r"""The classic slide, reproduced exactly and checked literally.

The slide (``reference/classic-slide.md`` of the design notes) uses two
inputs :math:`x = (1, 2)`, two hidden neurons and the index convention
:math:`W_{ij}` = weight from :math:`x_j` into :math:`h_i` (1-based), so
:math:`h_i = W_{i1} x_1 + W_{i2} x_2` — the same convention as
:math:`W^1[i-1, j-1]` here. Its claims are checked with exact numbers
(Rationals, closed forms certified by interval arithmetic) for several output
layers and activations over several gradient steps.

Under that convention :math:`\partial L/\partial W_{ij} = \delta_i x_j`, so

* ":math:`\partial L/\partial W_{11} = \partial L/\partial W_{12}`" means
  :math:`\delta_1 x_1 = \delta_1 x_2`, which with :math:`x = (1, 2)` holds only
  when :math:`\delta_1 = 0`;
* the correct general statement ties the two *neurons*: at a symmetric point
  :math:`\delta_1 = \delta_2`, so :math:`\partial L/\partial W_{11} =
  \partial L/\partial W_{21}` and :math:`\partial L/\partial W_{12} =
  \partial L/\partial W_{22}` (same input, the two tied neurons).

The slide says nothing about the output layer; the scenarios here use a
linear output with squared error (target 1) and a 2-way softmax with cross
entropy (target (1, 0)), no biases (the slide has none), output weights 0 at
zero init and :math:`(3/10, -1/5)` (rows :math:`(3/10, -1/5), (1/10, 2/5)`
for two outputs) at the slide's random init, and plain gradient descent with
rate 1/2, for :data:`STEPS` steps from zero init and :data:`RANDOM_STEPS` from
the random init.

Later steps without nesting
---------------------------
Written out, the weights after step :math:`k` nest the activation :math:`k`
deep (tanh of sums of tanh of ...), and SymPy's automatic evaluation of such
trees grows exponentially with :math:`k`. So every weight that a step makes
non-rational is *named* (:class:`StepValues`): a fresh symbol stands for its
closed form, which is written in the symbols of the previous step, and carries
an ``mpmath.iv`` interval (:func:`symcheck.prove.zerotest.interval`, 200 bits) that
encloses its value. Equal closed forms get the same symbol, so tied weights
stay structurally tied; rational weights stay exact Rationals (identity and
ReLU with squared error throughout; at zero init identity, tanh and ReLU never
move and sigmoid's first step is rational). Each step's gradients are then
small expressions in these symbols, whatever the step.

A claim "A = B" is decided exactly, never from a float (:func:`_equal`):
"equal" when :math:`A - B` is structurally 0 or identically 0 by
:func:`symcheck.prove.zerotest.zero_test` (which treats the step symbols as free, so
it holds for their values too); "differ" only when :math:`A - B` is a non-zero
rational or its enclosure, computed from the enclosures of the symbols,
excludes 0. Anything else raises ``ArithmeticError`` (an enclosure that
cannot be computed, e.g. a ReLU kink straddled, raises
:class:`~symcheck.prove.zerotest.Uncertified`): it is never read as either verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from symcheck.model.network import Network
from symcheck.prove.proof import PROVED, REFUTED, Proof, Step
from symcheck.prove.symbolic import SymParams, layered_gradients
from symcheck.prove.zerotest import ZERO, Uncertified, certified_value, interval, zero_test

__all__ = [
    "RANDOM_STEPS",
    "SLIDE_INPUT",
    "SLIDE_RANDOM_W",
    "STEPS",
    "Claim",
    "StepValues",
    "classic_slide",
]

R = sp.Rational
#: The slide's input :math:`x = (1, 2)`.
SLIDE_INPUT = (R(1), R(2))
#: The slide's random weights :math:`W = [[0.5, -0.3], [0.2, 0.4]]` as exact rationals.
SLIDE_RANDOM_W = ((R(1, 2), R(-3, 10)), (R(1, 5), R(2, 5)))
ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu")
#: Gradient steps from zero init (the claims concern how the symmetry evolves).
STEPS = 5
#: Gradient steps from the slide's random init (its claims concern the first gradient;
#: the later steps check that they keep holding).
RANDOM_STEPS = 5
RATE = R(1, 2)

_OUTPUTS: dict[str, tuple[str, int, tuple, tuple]] = {
    # name: (loss, n_out, target, random output weights)
    "linear output, squared error": ("mse", 1, (R(1),), ((R(3, 10), R(-1, 5)),)),
    "softmax output, cross entropy": (
        "cross_entropy",
        2,
        (R(1), R(0)),
        ((R(3, 10), R(-1, 5)), (R(1, 10), R(2, 5))),
    ),
}


class StepValues:
    """Symbols naming the non-rational parameter values of later steps, with certified enclosures.

    Each symbol stands for one closed form (equal closed forms share a symbol,
    so ties stay structural) and carries an ``mpmath.iv`` interval enclosing
    its value, computed from the enclosures of the symbols that closed form is
    written in. Gradients of the next step are then built in these symbols, so
    the closed forms never nest.
    """

    def __init__(self) -> None:
        self.symbols: dict[sp.Expr, sp.Symbol] = {}
        self.enclosures: dict[sp.Symbol, object] = {}

    def name(self, value: sp.Expr) -> sp.Expr:
        """``value`` itself when it is rational, else the symbol naming it.

        Raises :class:`~symcheck.prove.zerotest.Uncertified` when no enclosure of
        ``value`` can be computed (e.g. a ReLU condition it cannot decide).
        """
        if value.is_Rational:
            return value
        symbol = self.symbols.get(value)
        if symbol is None:
            enclosure = interval(value, env=self.enclosures)
            symbol = self.symbols[value] = sp.Dummy(f"v{len(self.symbols)}")
            self.enclosures[symbol] = enclosure
        return symbol


#: A claim's check at one step: (parameters, gradients or None, step values) -> verdict.
Check = Callable[[SymParams, SymParams | None, StepValues], bool | None]


@dataclass(frozen=True)
class Claim:
    """One claim of the slide: how it is read, the correct statement, and the check."""

    text: str
    init: str
    correct: str
    holds: Check
    condition: str


def _equal(a: sp.Expr, b: sp.Expr, values: StepValues | None = None) -> bool:
    """Decide ``a = b`` exactly; raise ``ArithmeticError`` when it cannot be decided.

    True when ``a - b`` is structurally 0 or :func:`~symcheck.prove.zerotest.zero_test`
    finds it identically 0 (the step symbols of ``values`` are treated as free,
    so this holds for their values too); False when ``a - b`` is a non-zero
    rational or its interval enclosure (from ``values``) excludes 0.
    """
    diff = a - b
    if diff == 0:
        return True
    try:
        certified_value(diff, env=None if values is None else values.enclosures)
        return False
    except Uncertified:
        pass
    if zero_test(diff).status == ZERO:
        return True
    raise ArithmeticError(f"cannot decide whether {a} = {b}")


def _g(i: int, j: int) -> Callable[[SymParams, SymParams], sp.Expr]:
    def grad(params: SymParams, grads: SymParams) -> sp.Expr:
        return grads[0][0][i - 1][j - 1]

    return grad


def _w(i: int, j: int) -> Callable[[SymParams, SymParams], sp.Expr]:
    return lambda params, grads: params[0][0][i - 1][j - 1]


def _same(a: Callable, b: Callable) -> Check:
    def check(p: SymParams, g: SymParams | None, values: StepValues) -> bool | None:
        if g is None and a.__name__ == "grad":
            return None
        return _equal(a(p, g), b(p, g), values)

    return check


def _differ(a: Callable, b: Callable) -> Check:
    same = _same(a, b)

    def check(p: SymParams, g: SymParams | None, values: StepValues) -> bool | None:
        result = same(p, g, values)
        return None if result is None else not result

    return check


CLAIMS = (
    Claim(
        "dL/dW_11 = dL/dW_12",
        "zero",
        "dL/dW_11 = dL/dW_21",
        _same(_g(1, 1), _g(1, 2)),
        "delta_1 = 0 (then both are 0)",
    ),
    Claim(
        "dL/dW_21 = dL/dW_22",
        "zero",
        "dL/dW_12 = dL/dW_22",
        _same(_g(2, 1), _g(2, 2)),
        "delta_2 = 0 (then both are 0)",
    ),
    Claim(
        "W_11 and W_12 stay identical",
        "zero",
        "W_11 = W_21 and W_12 = W_22 stay identical",
        _same(_w(1, 1), _w(1, 2)),
        "delta_1 = 0 at every earlier step",
    ),
    Claim(
        "W_21 and W_22 stay identical",
        "zero",
        "W_11 = W_21 and W_12 = W_22 stay identical",
        _same(_w(2, 1), _w(2, 2)),
        "delta_2 = 0 at every earlier step",
    ),
    Claim(
        "dL/dW_11 != dL/dW_12",
        "random",
        "dL/dW_11 != dL/dW_21 (delta_1 != delta_2)",
        _differ(_g(1, 1), _g(1, 2)),
        "delta_1 != 0",
    ),
    Claim(
        "dL/dW_21 != dL/dW_22",
        "random",
        "dL/dW_12 != dL/dW_22 (delta_1 != delta_2)",
        _differ(_g(2, 1), _g(2, 2)),
        "delta_2 != 0",
    ),
)
_CORRECT = {
    "zero": (_same(_g(1, 1), _g(2, 1)), _same(_g(1, 2), _g(2, 2)), _same(_w(1, 1), _w(2, 1))),
    "random": (_differ(_g(1, 1), _g(2, 1)),),
}


def _start(init: str, n_out: int, w_out: tuple) -> SymParams:
    if init == "zero":
        return (
            (((R(0), R(0)), (R(0), R(0))), None),
            (tuple((R(0), R(0)) for _ in range(n_out)), None),
        )
    return ((SLIDE_RANDOM_W, None), (w_out, None))


def _descend(rows: tuple, grad_rows: tuple, values: StepValues) -> tuple:
    return tuple(
        tuple(values.name(p - RATE * g) for p, g in zip(row, grad_row))
        for row, grad_row in zip(rows, grad_rows)
    )


def _step(params: SymParams, grads: SymParams, values: StepValues) -> SymParams:
    return tuple((_descend(w, gw, values), None) for (w, _), (gw, _) in zip(params, grads))


@dataclass(frozen=True)
class _Trajectory:
    """``points[t]`` = (parameters, gradients) at step t (no gradients at the last)."""

    points: list[tuple[SymParams, SymParams | None]]
    values: StepValues


def _trajectory(network: Network, start: SymParams, target: tuple, steps: int) -> _Trajectory:
    points: list[tuple[SymParams, SymParams | None]] = []
    values = StepValues()
    params = start
    for _ in range(steps):
        grads, _ = layered_gradients(network, params, (SLIDE_INPUT,), (target,))
        points.append((params, grads))
        params = _step(params, grads, values)
    points.append((params, None))
    return _Trajectory(points, values)


def _forward_claims() -> Step:
    x1, x2 = SLIDE_INPUT
    zero_h = [R(0) * x1 + R(0) * x2] * 2
    (w11, w12), (w21, w22) = SLIDE_RANDOM_W
    h1, h2 = w11 * x1 + w12 * x2, w21 * x1 + w22 * x2
    ok = zero_h == [0, 0] and (h1, h2) == (R(-1, 10), R(1))
    return Step(
        "Forward values " + ("reproduced" if ok else "NOT reproduced"),
        "Zero init gives h_1 = h_2 = 0; W = [[1/2, -3/10], [1/5, 2/5]] gives exactly "
        f"h_1 = {h1}, h_2 = {h2} (the slide: -0.1 and 1.0).",
        (
            r"h_1 = W_{11} x_1 + W_{12} x_2 = \tfrac12 \cdot 1 - \tfrac{3}{10} \cdot 2 = "
            + sp.latex(h1),
            r"h_2 = W_{21} x_1 + W_{22} x_2 = \tfrac15 \cdot 1 + \tfrac25 \cdot 2 = "
            + sp.latex(h2),
        ),
    )


def _classify(claim: Claim, runs: list[tuple[str, _Trajectory]]) -> dict:
    held, failed = [], []
    for label, traj in runs:
        results = [claim.holds(p, g, traj.values) for p, g in traj.points]
        results = [r for r in results if r is not None]
        ok_steps = [t for t, r in enumerate(results) if r]
        if len(ok_steps) == len(results):
            held.append(label)
        elif ok_steps:
            failed.append(f"{label} (held at steps {ok_steps} of 0..{len(results) - 1})")
        else:
            failed.append(label)
    if held or any("held at steps" in f for f in failed):
        verdict = f"holds only under a condition: {claim.condition}"
    else:
        verdict = "fails"
    return {
        "claim": claim.text,
        "init": claim.init,
        "verdict": verdict,
        "correct": claim.correct,
        "held_in": held,
        "failed_in": failed,
    }


def _claim_step(claim: Claim, fact: dict) -> Step:
    held = "; ".join(fact["held_in"]) or "none"
    failed = "; ".join(fact["failed_in"]) or "none"
    return Step(
        f"Slide claim ({claim.init} init): {claim.text}",
        f"{fact['verdict']}. Held at every step in: {held}. Failed in: {failed}. "
        f"Correct general statement: {claim.correct}.",
    )


@lru_cache(maxsize=1)
def classic_slide() -> Proof:
    """Reproduce the slide and classify each of its claims (see the module docstring)."""
    runs: dict[str, list[tuple[str, _Trajectory]]] = {"zero": [], "random": []}
    for out_name, (loss, n_out, target, w_out) in _OUTPUTS.items():
        for act in ACTIVATIONS:
            net = Network((2, 2, n_out), act, loss, bias=False)
            for init in runs:
                label = f"{act}, {out_name}"
                steps = STEPS if init == "zero" else RANDOM_STEPS
                traj = _trajectory(net, _start(init, n_out, w_out), target, steps)
                runs[init].append((label, traj))
    steps = [_forward_claims()]
    claims_facts = []
    for claim in CLAIMS:
        fact = _classify(claim, runs[claim.init])
        claims_facts.append(fact)
        steps.append(_claim_step(claim, fact))
    correct_ok = all(
        check(p, g, traj.values) is not False
        for _, traj in runs["zero"]
        for p, g in traj.points
        for check in _CORRECT["zero"]
    ) and all(_CORRECT["random"][0](*traj.points[0], traj.values) for _, traj in runs["random"])
    return Proof(
        theorem="classic_slide",
        statement=(
            "The slide's forward values are reproduced exactly, and each of its gradient claims is "
            "checked literally under its own index convention (W_ij from x_j into h_i, x = (1, 2)) "
            f"for {len(ACTIVATIONS)} activations x {len(_OUTPUTS)} output layers, over {STEPS} "
            f"gradient steps from zero init and {RANDOM_STEPS} from the slide's random init; "
            "every verdict is exact or certified by interval arithmetic."
        ),
        verdict=PROVED if correct_ok else REFUTED,
        network="2-2-1 and 2-2-2, no bias",
        assumptions=(
            "W_ij is the weight from x_j into h_i (the slide's convention), 1-based",
            "relu'(0) = 0 (as in PyTorch and JAX)",
            f"plain gradient descent, rate {RATE}, one sample x = (1, 2)",
            "a non-rational weight after a step is a symbol standing for its closed form in the "
            "previous step's symbols, with an interval (mpmath.iv) enclosing its value",
        ),
        steps=tuple(steps),
        conclusion=(
            "dL/dW_ij = delta_i x_j: the pairs (W_11, W_12) and (W_21, W_22) share a neuron, not "
            "an input, so their gradients agree only when that neuron's delta is 0. The correct "
            "statements (dL/dW_11 = dL/dW_21, dL/dW_12 = dL/dW_22 at zero init, and their "
            "failure at random init) "
            + ("hold in every scenario and step." if correct_ok else "FAILED somewhere.")
        ),
        facts={"claims": claims_facts},
    )
