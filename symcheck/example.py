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
rate 1/2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from symcheck.network import Network
from symcheck.proof import PROVED, REFUTED, Proof, Step
from symcheck.symbolic import SymParams, layered_gradients
from symcheck.zerotest import ZERO, Uncertified, certified_value, zero_test

__all__ = ["SLIDE_INPUT", "SLIDE_RANDOM_W", "Claim", "classic_slide"]

R = sp.Rational
#: The slide's input :math:`x = (1, 2)`.
SLIDE_INPUT = (R(1), R(2))
#: The slide's random weights :math:`W = [[0.5, -0.3], [0.2, 0.4]]` as exact rationals.
SLIDE_RANDOM_W = ((R(1, 2), R(-3, 10)), (R(1, 5), R(2, 5)))
ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu")
#: Gradient steps from zero init (the claims concern how the symmetry evolves).
STEPS = 2
#: Gradient steps from the slide's random init (its claims concern the first gradient).
RANDOM_STEPS = 1
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


@dataclass(frozen=True)
class Claim:
    """One claim of the slide: how it is read, the correct statement, and the check."""

    text: str
    init: str
    correct: str
    holds: Callable[[SymParams, SymParams], bool]
    condition: str


def _equal(a: sp.Expr, b: sp.Expr) -> bool:
    """Exact equality: structurally equal, or a certified non-zero difference, or expand zero."""
    diff = a - b
    if diff == 0:
        return True
    try:
        certified_value(diff)
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


def _same(a: Callable, b: Callable) -> Callable[[SymParams, SymParams | None], bool | None]:
    return lambda p, g: None if g is None and a.__name__ == "grad" else _equal(a(p, g), b(p, g))


def _differ(a: Callable, b: Callable) -> Callable[[SymParams, SymParams | None], bool | None]:
    return lambda p, g: None if g is None and a.__name__ == "grad" else not _equal(a(p, g), b(p, g))


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


def _step(params: SymParams, grads: SymParams) -> SymParams:
    return tuple(
        (tuple(tuple(p - RATE * g for p, g in zip(pr, gr)) for pr, gr in zip(pw, gw)), None)
        for (pw, _), (gw, _) in zip(params, grads)
    )


def _trajectory(network: Network, start: SymParams, target: tuple, steps: int) -> list[tuple]:
    out = []
    params = start
    for _ in range(steps):
        grads, _ = layered_gradients(network, params, (SLIDE_INPUT,), (target,))
        out.append((params, grads))
        params = _step(params, grads)
    out.append((params, None))
    return out


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


@lru_cache(maxsize=1)
def classic_slide() -> Proof:
    """Reproduce the slide and classify each of its claims (see the module docstring)."""
    runs: dict[str, list[tuple[str, list]]] = {"zero": [], "random": []}
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
        held, failed = [], []
        for label, traj in runs[claim.init]:
            results = [claim.holds(p, g) for p, g in traj]
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
        claims_facts.append(
            {
                "claim": claim.text,
                "init": claim.init,
                "verdict": verdict,
                "correct": claim.correct,
                "held_in": held,
                "failed_in": failed,
            }
        )
        steps.append(
            Step(
                f"Slide claim ({claim.init} init): {claim.text}",
                f"{verdict}. Held at every step in: {'; '.join(held) or 'none'}. "
                f"Failed in: {'; '.join(failed) or 'none'}. Correct general statement: "
                f"{claim.correct}.",
            )
        )
    correct_ok = all(
        check(p, g) is not False
        for _, traj in runs["zero"]
        for p, g in traj
        for check in _CORRECT["zero"]
    ) and all(_CORRECT["random"][0](*traj[0]) for _, traj in runs["random"])
    return Proof(
        theorem="classic_slide",
        statement=(
            "The slide's forward values are reproduced exactly, and each of its gradient claims is "
            "checked literally under its own index convention (W_ij from x_j into h_i, x = (1, 2)) "
            f"for {len(ACTIVATIONS)} activations x {len(_OUTPUTS)} output layers, over {STEPS} "
            f"gradient steps from zero init and {RANDOM_STEPS} from the slide's random init."
        ),
        verdict=PROVED if correct_ok else REFUTED,
        network="2-2-1 and 2-2-2, no bias",
        assumptions=(
            "W_ij is the weight from x_j into h_i (the slide's convention), 1-based",
            "relu'(0) = 0 (as in PyTorch and JAX)",
            f"plain gradient descent, rate {RATE}, one sample x = (1, 2)",
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
