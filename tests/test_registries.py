"""Activation and loss registries: every recipe's forms agree with each other."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symcheck import ACTIVATIONS, LOSSES, InvalidArgument, get_activation, get_loss

CONCRETE = [a for a in ACTIVATIONS.values() if not a.abstract]
POINTS = [-2.5, -0.75, 0.3, 1.25, 3.0]  # away from the ReLU kink


@pytest.mark.parametrize("act", CONCRETE, ids=lambda a: a.name)
def test_numpy_form_matches_sympy_form(act) -> None:
    z = sp.Symbol("z")
    exact = sp.lambdify(z, act.sympy(z), "mpmath")
    for p in POINTS:
        assert act.numpy(np.float64(p)) == pytest.approx(float(exact(p)), rel=1e-14, abs=1e-15)


@pytest.mark.parametrize("act", CONCRETE, ids=lambda a: a.name)
def test_numpy_derivative_matches_symbolic_derivative(act) -> None:
    z = sp.Symbol("z")
    exact = sp.lambdify(z, act.symbolic_derivative(z), "mpmath")
    for p in POINTS:
        got = act.numpy_derivative(np.float64(p))
        assert got == pytest.approx(float(exact(p)), rel=1e-14, abs=1e-15)


@pytest.mark.parametrize("act", CONCRETE, ids=lambda a: a.name)
def test_value_at_zero_is_recorded_exactly(act) -> None:
    assert sp.nsimplify(act.sympy(sp.Integer(0))) == act.at_zero
    assert float(act.numpy(np.float64(0.0))) == pytest.approx(float(act.at_zero), abs=0)


def test_relu_derivative_at_the_kink_is_zero_by_convention() -> None:
    relu = get_activation("relu")
    assert relu.symbolic_derivative(sp.Integer(0)) == 0
    assert relu.numpy_derivative(np.float64(0.0)) == 0.0
    assert "relu'(0) = 0" in relu.convention


def test_leaky_relu_derivative_at_the_kink_is_the_left_slope() -> None:
    leaky = get_activation("leaky_relu(1/5)")
    assert leaky.symbolic_derivative(sp.Integer(0)) == sp.Rational(1, 5)
    assert leaky.numpy_derivative(np.float64(0.0)) == 0.2


def test_sigmoid_is_stable_for_large_arguments() -> None:
    sig = get_activation("sigmoid")
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = sig.numpy(np.array([-1000.0, 0.0, 1000.0]))
    assert values.tolist() == [0.0, 0.5, 1.0]


def test_abstract_activation_refuses_numeric_use() -> None:
    with pytest.raises(InvalidArgument, match="abstract"):
        get_activation("sigma").require_numeric()
    with pytest.raises(InvalidArgument, match="abstract"):
        get_loss("ell").require_numeric()


@pytest.mark.parametrize(
    "loss", [v for v in LOSSES.values() if not v.abstract], ids=lambda v: v.name
)
def test_loss_numpy_gradient_matches_sympy_gradient(loss) -> None:
    z = sp.symbols("z0:3")
    y = (sp.Rational(1, 5), sp.Rational(3, 10), sp.Rational(1, 2))
    expr = loss.sympy(z, y)
    point = {z[0]: sp.Rational(1, 3), z[1]: sp.Rational(-2, 7), z[2]: sp.Rational(5, 4)}
    zz = np.array([[float(point[s]) for s in z]])
    yy = np.array([[float(v) for v in y]])
    assert loss.numpy(zz, yy)[0] == pytest.approx(float(expr.subs(point)), rel=1e-14)
    grad = loss.numpy_grad(zz, yy)[0]
    for k, s in enumerate(z):
        assert grad[k] == pytest.approx(float(sp.diff(expr, s).subs(point)), rel=1e-13)


def test_loss_outputs_name_the_output_map() -> None:
    assert {n: v.output for n, v in LOSSES.items()} == {
        "mse": "identity",
        "cross_entropy": "softmax",
        "bce": "sigmoid",
        "ell": "identity",
    }


def _term_is_the_summand(loss, n_out: int = 3) -> bool:
    """The loss equals the sum of its ``term`` and each output's derivative is the term's."""
    zs = sp.symbols(f"z0:{n_out}")
    ys = sp.symbols(f"y0:{n_out}")
    full = loss.sympy(zs, ys)
    if sp.expand(full - sp.Add(*[loss.term(z, y) for z, y in zip(zs, ys)])) != 0:
        return False
    z, y = sp.symbols("z y")
    d = sp.diff(loss.term(z, y), z)
    return all(
        sp.expand(sp.diff(full, zk) - d.xreplace({z: zk, y: yk})) == 0 for zk, yk in zip(zs, ys)
    )


@pytest.mark.parametrize("loss", [v for v in LOSSES.values() if v.term], ids=lambda v: v.name)
def test_separable_losses_give_their_exact_summand(loss) -> None:
    assert _term_is_the_summand(loss)


def test_separable_summand_check_refuses_a_wrong_term() -> None:
    import dataclasses

    mse = get_loss("mse")
    assert not _term_is_the_summand(dataclasses.replace(mse, term=lambda z, y: (z - y) ** 2))
    assert not _term_is_the_summand(dataclasses.replace(mse, term=get_loss("bce").term))


def test_coupled_and_abstract_losses_have_no_summand() -> None:
    assert get_loss("cross_entropy").term is None and get_loss("ell").term is None
