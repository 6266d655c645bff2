"""The three-valued zero test and the certified interval evaluation, called directly.

A table of residuals that are and are not identically zero, with the method
that must decide them (the method is recorded in every proof and certificate),
then the interval evaluation: each supported form encloses the true value,
Piecewise conditions at and around a kink (``>`` vs ``>=``, the ``True``
branch, no branch applying), and the enclosures that must not be certified
non-zero. See the soundness rule in ``docs/theory.md``: a residual that is not
zero must never be reported ``zero``.
"""

from __future__ import annotations

import dataclasses

import mpmath
import pytest
import sympy as sp

from symcheck.prove.zerotest import (
    MAX_EXPAND_NODES,
    NONZERO,
    UNKNOWN,
    ZERO,
    Uncertified,
    certified_value,
    interval,
    tree_size,
    zero_test,
)

x, y = sp.symbols("x y", real=True)
sigma = sp.Function("sigma")
RELU = sp.Piecewise((x, x > 0), (0, True))
STEP_GE = sp.Piecewise((1, x >= 0), (0, True))
STEP_GT = sp.Piecewise((1, x > 0), (0, True))
LOG_ZERO = sp.log(2) + sp.log(3) - sp.log(6)  # zero, but no rewrite here shows it
# A product of two Piecewise folds into one whose branches are zero only after expand.
PRODUCT = sp.Piecewise((x + 1, x > 0), (1, True)) * sp.Piecewise((x - 1, x > 0), (1, True))
SQUARE = sp.Piecewise((x**2 - 1, x > 0), (1, True))

# (residual, status, method): every row states the documented decision order
# structural -> expand -> piecewise -> constant evaluation -> cancel.
TABLE = [
    (sp.Integer(0), ZERO, "structural"),
    (x - x, ZERO, "structural"),
    ((x + 1) ** 2 - x**2 - 2 * x - 1, ZERO, "expand"),
    (sigma(x) * (x + 1) - sigma(x) * x - sigma(x), ZERO, "expand"),
    (x**2 - x, UNKNOWN, "expand"),
    ((x + y) ** 2 - x**2 - y**2, UNKNOWN, "expand"),
    (sigma(x) - sigma(y), UNKNOWN, "expand"),
    # rational functions: cancel decides the ones that cancel, and only those
    (x / (x + 1) + 1 / (x + 1) - 1, ZERO, "cancel"),
    ((x**2 - 1) / (x - 1) - x - 1, ZERO, "cancel"),
    (1 / (x + 1) - 1 / x, UNKNOWN, "expand"),
    (x / (x + 1) - 1, UNKNOWN, "expand"),
    # Piecewise: folded, every branch expanded
    (sp.Piecewise((2 * x, x > 0), (0, True)) - 2 * RELU, ZERO, "piecewise"),
    (x * RELU - sp.Piecewise((x**2, x > 0), (0, True)), ZERO, "piecewise"),
    (PRODUCT - SQUARE, ZERO, "piecewise"),
    (RELU + 1, UNKNOWN, "expand"),
    (PRODUCT - SQUARE + 1, UNKNOWN, "expand"),  # every folded branch is 1, not 0
    (RELU - x, UNKNOWN, "expand"),
    (x * RELU - sp.Piecewise((x**2, x > 0), (0, True)) + 1, UNKNOWN, "expand"),
    # differ only at the kink x = 0: not identically zero
    (STEP_GE - STEP_GT, UNKNOWN, "expand"),
    # constants: exact rationals, certified irrationals, undecided enclosures
    (sp.Rational(1, 3), NONZERO, "exact"),
    (sp.Integer(-2), NONZERO, "exact"),
    (sp.sqrt(2) - 1, NONZERO, "certified"),
    (sp.exp(1) - sp.Rational(2718, 1000), NONZERO, "certified"),
    (LOG_ZERO, UNKNOWN, "interval"),
    (sp.erf(1) - sp.Rational(1, 2), UNKNOWN, "interval"),
]


@pytest.mark.parametrize(("expr", "status", "method"), TABLE, ids=[str(r[0]) for r in TABLE])
def test_zero_test_table(expr: sp.Expr, status: str, method: str) -> None:
    d = zero_test(expr)
    assert (d.status, d.method) == (status, method)
    if status == ZERO:
        assert d.expression == 0
    else:
        assert d.expression != 0
        assert sp.expand(d.expression - expr) == 0 or d.expression.has(sp.Piecewise)


def test_a_nonzero_residual_is_never_zero_at_random_points() -> None:
    """Every row not decided zero really is non-zero somewhere (the table is honest)."""
    for expr, status, _ in TABLE:
        if status != ZERO and expr.free_symbols and not expr.has(sigma):
            values = [expr.subs(x, v).subs(y, 3) for v in (sp.Rational(-1, 2), 0, 2, 5)]
            assert any(sp.nsimplify(v) != 0 for v in values if v.is_finite), expr


def test_many_piecewise_atoms_are_not_folded() -> None:
    """Folding multiplies branches: up to 4 Piecewise atoms are folded, 5 are unknown."""
    ramps = [sp.Piecewise((k * x, x > 0), (0, True)) for k in range(1, 6)]
    four = sum(ramps[:4]) - sp.Piecewise((10 * x, x > 0), (0, True))
    assert len(four.atoms(sp.Piecewise)) == 5
    three = sum(ramps[:3]) - sp.Piecewise((6 * x, x > 0), (0, True))
    assert zero_test(three).status == ZERO
    assert zero_test(four).status == UNKNOWN


def _sized(n: int) -> sp.Expr:
    """A residual of exactly ``n`` tree nodes that expands to zero.

    ``g`` groups ``c*(s1 + ... + sk) - c*s1 - ... - c*sk`` (distinct ``c`` per group)
    in one sum have ``1 + 5K + 3g`` nodes for ``K`` summands in all.
    """
    for g in range(1, 6):
        total, rem = divmod(n - 1 - 3 * g, 5)
        if rem == 0 and total >= g:
            sizes = [total // g] * g
            sizes[0] += total - sum(sizes)
            terms = []
            for i, k in enumerate(sizes):
                c, xs = sp.Symbol(f"c{i}"), sp.symbols(f"s{i}_0:{k}")
                terms += [c * sp.Add(*xs), *(-c * s for s in xs)]
            out = sp.Add(*terms)
            assert tree_size(out) == n
            return out
    raise AssertionError(f"no residual of size {n}")


def test_a_decision_is_an_immutable_value() -> None:
    d = zero_test(x - x)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.status = NONZERO  # type: ignore[misc]
    assert d == zero_test(sp.Integer(0)) and hash(d) == hash(zero_test(sp.Integer(0)))


def test_tree_size_counts_shared_nodes_once_per_use() -> None:
    assert tree_size(x) == 1
    assert tree_size(x + y) == 3
    assert tree_size((x + y) * (x + y + 1)) == 1 + 3 + 4  # x + y + 1 is one Add
    shared = sp.Mul(x + y, sp.sin(x + y), evaluate=False)
    assert tree_size(shared) == 1 + 3 + 4


def test_the_size_limit_is_inclusive() -> None:
    """A residual of MAX_EXPAND_NODES nodes is expanded; one node more is unknown."""
    assert MAX_EXPAND_NODES == 20_000
    at_limit = _sized(MAX_EXPAND_NODES)
    assert tree_size(at_limit) == MAX_EXPAND_NODES
    assert zero_test(at_limit).status == ZERO
    over = _sized(MAX_EXPAND_NODES + 1)
    assert tree_size(over) == MAX_EXPAND_NODES + 1
    assert (zero_test(over).status, zero_test(over).method) == (UNKNOWN, "too large to expand")


# --- interval evaluation -----------------------------------------------------------

ENCLOSED = [
    sp.Rational(1, 3),
    sp.Rational(-7, 5),
    sp.pi,
    sp.E,
    sp.pi + sp.E + 1,
    2 * sp.pi * sp.E,
    sp.pi / sp.E,
    (sp.pi + 1) ** 3,
    (sp.pi + 1) ** -2,
    sp.sqrt(sp.pi),
    sp.cbrt(sp.pi + 1),
    sp.pi**sp.E,
    sp.exp(sp.Rational(3, 2)),
    sp.log(sp.pi),
    sp.sin(sp.Rational(1, 3)),
    sp.cos(sp.Rational(5, 2)),
    sp.tanh(sp.Rational(1, 2)),
    sp.tanh(-sp.pi),
    sp.exp(sp.sin(sp.pi / 7)) * sp.log(3) - sp.tanh(sp.Rational(3, 4)),
]


@pytest.mark.parametrize("expr", ENCLOSED, ids=str)
def test_interval_encloses_the_value_tightly(expr: sp.Expr) -> None:
    iv = interval(expr)
    with mpmath.workprec(400):
        true = mpmath.mpf(str(sp.N(expr, 100)))
        assert iv.a <= true <= iv.b
        assert iv.delta < mpmath.mpf(2) ** -180


def test_interval_runs_at_200_bits() -> None:
    """About 60 decimal digits: the enclosure of 1/3 is that narrow, not much narrower."""
    width = interval(sp.Rational(1, 3)).delta
    assert width == interval(sp.Rational(1, 3), bits=200).delta
    assert mpmath.mpf(2) ** -205 < width < mpmath.mpf(2) ** -195
    coarse = interval(sp.Rational(1, 3), bits=30).delta
    assert mpmath.mpf(2) ** -35 < coarse < mpmath.mpf(2) ** -25


def test_interval_uses_the_enclosures_of_env() -> None:
    env = {x: mpmath.iv.mpf([1, 2]), y: mpmath.iv.mpf(3)}
    iv = interval(x * y + 1, env=env)
    assert (iv.a, iv.b) == (4, 7)
    with pytest.raises(Uncertified, match=r"has no interval form$"):
        interval(x * y + 1)


def _at(expr: sp.Expr, lo: float, hi: float | None = None) -> object:
    return interval(expr, env={x: mpmath.iv.mpf([lo, lo if hi is None else hi])})


@pytest.mark.parametrize(
    ("cond", "below", "at_zero", "above"),
    [
        (x > 0, 2, 2, 1),
        (x >= 0, 2, 1, 1),
        (x < 0, 1, 2, 2),
        (x <= 0, 1, 1, 2),
        (x - 1 > -1, 2, 2, 1),
        (0 < x, 2, 2, 1),
        (-x >= 0, 1, 1, 2),
    ],
    ids=str,
)
def test_piecewise_conditions_below_at_and_above_the_kink(cond, below, at_zero, above) -> None:
    """The first branch whose condition holds is taken; otherwise the ``True`` branch."""
    expr = sp.Piecewise((1, cond), (2, True))
    for point, want in ((-1, below), (0, at_zero), (sp.Rational(1, 2), above)):
        iv = _at(expr, float(point))
        assert (iv.a, iv.b) == (want, want), (cond, point)


def test_piecewise_relu_at_the_kink_and_on_either_side() -> None:
    assert _at(RELU, 0).b == 0
    assert (_at(RELU, 3).a, _at(RELU, 3).b) == (3, 3)
    assert _at(RELU, -3).b == 0
    assert _at(RELU + 1, 0).a == 1
    # both branches apply where the first one does: the first is taken
    first = sp.Piecewise((5, x > 0), (7, x > -1), (9, True))
    assert (_at(first, 1).a, _at(first, -0.5).a, _at(first, -2).a) == (5, 7, 9)


def test_piecewise_without_an_applying_branch_is_uncertified() -> None:
    partial = sp.Piecewise((1, x > 0), (2, x < -1))
    assert _at(partial, 1).a == 1
    assert _at(partial, -2).a == 2
    with pytest.raises(Uncertified, match=r"^no branch of a Piecewise applies$"):
        _at(partial, -0.5)


def test_a_condition_undecided_by_the_enclosure_is_uncertified() -> None:
    with pytest.raises(Uncertified, match=r"^the sign of a condition"):
        _at(RELU, -1, 1)
    with pytest.raises(Uncertified, match=r"^the sign of a condition"):
        _at(STEP_GE, 0, 1)  # x >= 0 holds, but a straddling sign is refused
    # an enclosure on one side of 0 decides it
    assert _at(STEP_GE, 0.25, 1).a == 1
    assert _at(STEP_GE, -1, -0.25).a == 0


@pytest.mark.parametrize(
    ("cond", "at_zero", "elsewhere"),
    [(sp.Eq(x, 0), 1, 2), (sp.Ne(x, 0), 2, 1)],
    ids=["Eq", "Ne"],
)
def test_equality_conditions_are_decided_exactly(cond, at_zero, elsewhere) -> None:
    expr = sp.Piecewise((1, cond), (2, True))
    assert _at(expr, 0).a == at_zero
    assert _at(expr, 1).a == elsewhere
    assert _at(expr, -1).a == elsewhere


def test_unsupported_conditions_and_functions_are_uncertified() -> None:
    both = sp.Piecewise((1, (x > 0) & (x < 2)), (2, True))
    with pytest.raises(Uncertified, match=r"^condition .* is not supported$"):
        _at(both, 1)
    with pytest.raises(Uncertified, match=r"has no interval form$"):
        interval(sp.erf(1))
    with pytest.raises(Uncertified, match="interval evaluation failed"):
        interval(sp.sqrt(x), env={x: mpmath.iv.mpf([-2, -1])})
    with pytest.raises(Uncertified, match="interval evaluation failed"):
        interval(sp.cbrt(x), env={x: mpmath.iv.mpf([-2, -1])})


# --- certified values ----------------------------------------------------------------


def test_rationals_are_exact_and_exact_zero_is_refused() -> None:
    assert certified_value(sp.Rational(-3, 7)) == (sp.Rational(-3, 7), "exact")
    assert certified_value(5) == (5, "exact")
    with pytest.raises(Uncertified, match="exactly 0"):
        certified_value(sp.Integer(0))
    assert certified_value(sp.Integer(0), allow_zero=True) == (0, "exact")


def test_a_certified_value_has_50_digits_and_an_error_bound() -> None:
    value, bound = certified_value(sp.pi)
    assert str(value) == mpmath.nstr(mpmath.mp.pi, 50).rstrip("0") or str(value).startswith(
        "3.14159265358979323846264338327950288419716939937"
    )
    assert value._prec == sp.Float("1", 50)._prec
    assert abs(value - sp.pi) < sp.Float("1e-48")
    assert bound.startswith("interval arithmetic, |error| <= ")
    assert 0 < float(bound.rsplit(" ", 1)[1]) < 1e-55
    low, _ = certified_value(sp.pi, 10)
    assert str(low) == "3.141592654"


def test_an_enclosure_that_contains_zero_is_never_certified() -> None:
    with pytest.raises(Uncertified, match="contains 0"):
        certified_value(LOG_ZERO)
    value, _ = certified_value(LOG_ZERO, allow_zero=True)
    assert abs(value) < sp.Float("1e-55")
    # enclosures that touch 0 at one end are not certified either
    for lo, hi in ((0, 1), (-1, 0), (0, 0)):
        with pytest.raises(Uncertified, match="contains 0"):
            certified_value(x, env={x: mpmath.iv.mpf([lo, hi])})
    third = mpmath.mpf(1) / 3
    value, bound = certified_value(x, env={x: mpmath.iv.mpf([1, 1 + third])})
    assert bound == "interval arithmetic, |error| <= 0.167"  # 3 significant digits
    assert abs(value - sp.Rational(7, 6)) < 1e-15  # the enclosure was built at 53 bits
    for lo, hi, mid in ((0.5, 1.5, 1), (-1.5, -0.5, -1)):
        value, bound = certified_value(x, env={x: mpmath.iv.mpf([lo, hi])})
        assert float(value) == mid and bound == "interval arithmetic, |error| <= 0.5"


def test_an_uncomputable_value_is_uncertified() -> None:
    with pytest.raises(Uncertified):
        certified_value(sp.erf(sp.pi))
    with pytest.raises(Uncertified):
        certified_value(sp.Piecewise((1, x > 0)), env={x: mpmath.iv.mpf(-1)})
