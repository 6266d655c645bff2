"""The symbolic optimiser registry: each rule is the exact form of the numeric one."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.measure.optim import get_optimizer
from symcheck.model.optimizers import HYPER, SYMBOLIC_OPTIMIZERS, get_symbolic_optimizer

# Symbolic hyper-parameter -> (numeric option of symcheck.measure.optim, exact value).
_VALUES = {
    "eta": ("lr", sp.Rational(1, 2)),
    "mu": ("momentum", sp.Rational(3, 4)),
    "beta1": ("beta1", sp.Rational(1, 2)),
    "beta2": ("beta2", sp.Rational(3, 4)),
    "alpha": ("alpha", sp.Rational(1, 4)),
    "epsilon": ("eps", sp.Rational(1, 8)),
    "lam": ("weight_decay", sp.Rational(1, 4)),
    "lam1": ("l1", sp.Rational(1, 16)),
}
_THETA = (sp.Rational(3, 4), sp.Rational(-1, 2))
_GRADS = ((sp.Rational(1, 4), sp.Rational(-3, 2)), (sp.Rational(-5, 4), sp.Rational(1, 2)))
# A few operations per entry, each within half an ulp; sqrt adds one more.
_RTOL = 16 * np.finfo(np.float64).eps


def _symbolic_steps(name: str, *, weight_decay: bool, l1: bool) -> list[float]:
    opt = get_symbolic_optimizer(name)
    values = {HYPER[k]: v for k, (_, v) in _VALUES.items()}
    thetas = list(_THETA)
    states = [tuple(sp.Integer(0) for _ in opt.state) for _ in thetas]
    for t, grads in enumerate(_GRADS, start=1):
        point = values | {HYPER["t"]: sp.Integer(t)}
        for j, (theta, g) in enumerate(zip(thetas, grads)):
            new, state = opt.update(theta, g, states[j], weight_decay=weight_decay, l1=l1)
            thetas[j] = new.xreplace(point)
            states[j] = tuple(s.xreplace(point) for s in state)
    return [float(v) for v in thetas]


def _numeric_steps(name: str, *, weight_decay: bool, l1: bool) -> list[float]:
    rule_options = {"mu": "momentum", "beta1": "beta1", "beta2": "beta2", "alpha": "alpha"}
    hyper = {
        option: float(_VALUES[sym][1])
        for sym, option in rule_options.items()
        if HYPER[sym] in SYMBOLIC_OPTIMIZERS[name].hyper
    }
    if HYPER["epsilon"] in SYMBOLIC_OPTIMIZERS[name].hyper:
        hyper["eps"] = float(_VALUES["epsilon"][1])
    hyper["weight_decay"] = float(_VALUES["lam"][1]) if weight_decay else 0.0
    hyper["l1"] = float(_VALUES["lam1"][1]) if l1 else 0.0
    opt = get_optimizer(name, lr=float(_VALUES["eta"][1]), **hyper)
    params = [(np.array([float(v) for v in _THETA]), None)]
    state = opt.init(params)
    for grads in _GRADS:
        params, state = opt.step(params, [(np.array([float(g) for g in grads]), None)], state)
    return params[0][0].tolist()


@pytest.mark.parametrize("weight_decay", [False, True])
@pytest.mark.parametrize("l1", [False, True])
@pytest.mark.parametrize("name", sorted(SYMBOLIC_OPTIMIZERS))
def test_symbolic_rule_matches_the_numeric_optimiser_over_two_steps(
    name: str, weight_decay: bool, l1: bool
) -> None:
    exact = _symbolic_steps(name, weight_decay=weight_decay, l1=l1)
    numeric = _numeric_steps(name, weight_decay=weight_decay, l1=l1)
    assert numeric == pytest.approx(exact, rel=_RTOL, abs=0)


@pytest.mark.parametrize(("symbolic", "numeric"), [("momentum", "nesterov"), ("adam", "adamw")])
def test_the_comparison_tells_a_different_rule_apart(symbolic: str, numeric: str) -> None:
    # adam vs adamw differ only in where the weight decay goes.
    exact = _symbolic_steps(symbolic, weight_decay=True, l1=False)
    other = _numeric_steps(numeric, weight_decay=True, l1=False)
    assert other != pytest.approx(exact, rel=_RTOL, abs=0)


def test_every_rule_reads_only_its_declared_hyper_parameters() -> None:
    theta, g = sp.Symbol("theta", real=True), sp.Symbol("g", real=True)
    for opt in SYMBOLIC_OPTIMIZERS.values():
        state = tuple(sp.Symbol(f"s_{s}", real=True) for s in opt.state)
        new, new_state = opt.update(theta, g, state)
        used = set().union(*(e.free_symbols for e in (new, *new_state)))
        assert used - {theta, g, *state} == set(opt.hyper), opt.name
        assert len(new_state) == len(opt.state)


def test_unknown_symbolic_optimizer_names_the_choices() -> None:
    with pytest.raises(InvalidArgument, match=r"optimizer='lbfgs' is not supported.*'sgd'"):
        get_symbolic_optimizer("lbfgs")
