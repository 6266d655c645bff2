"""Witness points and the concrete stand-ins for the abstract ``sigma`` and ``ell``.

A refutation is only as good as its point: the points are small non-zero
rationals, reproducible from the seed and the symbol names alone, positive
for symbols declared positive; and the stand-ins used inside the layered
witness computation are exactly the forms substituted into a residual
(otherwise a witness could refute a true claim).
"""

from __future__ import annotations

import sympy as sp

from symcheck.model.activations import get_activation
from symcheck.model.losses import get_loss
from symcheck.prove.witness import (
    SIGMA_WITNESS,
    concrete_activation,
    concrete_loss,
    instantiate_abstract,
    rational_point,
    witness_sigma_latex,
)

u, v = sp.symbols("u v")
sigma, ell = sp.Function("sigma"), sp.Function("ell")


def test_points_are_small_nonzero_rationals_in_the_documented_range() -> None:
    symbols = sp.symbols("s0:40")
    seen_p, seen_q = set(), set()
    for seed in range(25):
        for value in rational_point(symbols, seed).values():
            assert isinstance(value, sp.Rational) and value != 0
            # p/q in lowest terms may shrink; the unreduced draw has |p| <= 9, q in 2..7
            assert abs(value) <= sp.Rational(9, 2)
            assert 2 <= value.q <= 7 or value.q == 1
            seen_p.add(abs(value.p))
            seen_q.add(value.q)
    assert max(seen_p) == 9 and {7, 5} <= seen_q
    drawn = [abs(v) for seed in range(25) for v in rational_point(symbols, seed).values()]
    assert (min(drawn), max(drawn)) == (sp.Rational(1, 7), sp.Rational(9, 2))
    assert any(v < 0 for v in rational_point(symbols, 0).values())


def test_points_depend_on_seed_and_names_not_on_order() -> None:
    a, b, c = sp.symbols("a b c")
    assert rational_point([a, b, c], 4) == rational_point([c, a, b], 4)
    assert rational_point({a, b, c}, 4) == rational_point((b, c, a), 4)
    assert rational_point([a, b, c], 4) != rational_point([a, b, c], 5)
    # the values follow the sorted names: a name sorting last leaves the others alone
    bigger = rational_point([a, b, c, sp.Symbol("z")], 4)
    assert {s: bigger[s] for s in (a, b, c)} == rational_point([a, b, c], 4)


def test_positive_symbols_get_positive_values() -> None:
    pos = sp.symbols("p0:30", positive=True)
    free = sp.symbols("p0:30")
    for seed in range(5):
        point, plain = rational_point(pos, seed), rational_point(free, seed)
        assert all(value > 0 for value in point.values())
        assert [abs(x) for x in point.values()] == [abs(x) for x in plain.values()]
    assert any(x < 0 for seed in range(5) for x in rational_point(free, seed).values())


def test_sigma_witness_is_the_documented_polynomial() -> None:
    assert sp.expand(SIGMA_WITNESS(u) - (1 + u) ** 2 / 2) == 0
    assert SIGMA_WITNESS(0) == sp.Rational(1, 2)
    assert sp.diff(SIGMA_WITNESS(u), u).subs(u, 0) == 1
    assert witness_sigma_latex() == r"\sigma(u) = " + sp.latex((1 + u) ** 2 / 2)


def test_instantiate_abstract_replaces_sigma_and_its_derivatives() -> None:
    expr = sigma(u) * v + sp.diff(sigma(u), u) - 3
    assert sp.expand(instantiate_abstract(expr) - ((1 + u) ** 2 * v / 2 + (1 + u) - 3)) == 0
    at_zero = sp.Subs(sp.diff(sigma(u), u), u, 0)
    assert instantiate_abstract(at_zero) == 1
    assert not instantiate_abstract(expr).has(sigma)


def test_instantiate_abstract_replaces_ell_by_half_squared_error() -> None:
    z, y = sp.symbols("z0:3"), sp.symbols("y0:3")
    value = instantiate_abstract(ell(*z, *y))
    want = sum((zi - yi) ** 2 for zi, yi in zip(z, y)) / 2
    assert sp.expand(value - want) == 0
    grad = instantiate_abstract(sp.diff(ell(*z, *y), z[1]))
    assert sp.expand(grad - (z[1] - y[1])) == 0
    one = instantiate_abstract(ell(z[0], y[0]))
    assert sp.expand(one - (z[0] - y[0]) ** 2 / 2) == 0


def test_an_expression_without_abstract_functions_is_returned_unchanged() -> None:
    expr = sp.Derivative(sp.Function("f")(u), u) + u
    assert instantiate_abstract(expr) is expr


def test_the_concrete_stand_ins_equal_the_substituted_forms() -> None:
    """The layered witness path (stand-ins) and the residual substitution agree."""
    act = concrete_activation(get_activation("sigma"))
    assert sp.expand(act.sympy(u) - instantiate_abstract(sigma(u))) == 0
    assert act.at_zero == SIGMA_WITNESS(0) and act.analytic and not act.abstract
    z, y = sp.symbols("z0:2"), sp.symbols("y0:2")
    loss = concrete_loss(get_loss("ell"))
    assert sp.expand(loss.sympy(z, y) - instantiate_abstract(ell(*z, *y))) == 0
    assert loss.output == "identity" and loss.analytic and not loss.abstract


def test_concrete_activations_and_losses_are_unchanged() -> None:
    for name in ("tanh", "relu", "sigmoid"):
        act = get_activation(name)
        assert concrete_activation(act) is act
    for name in ("mse", "bce", "cross_entropy"):
        loss = get_loss(name)
        assert concrete_loss(loss) is loss
