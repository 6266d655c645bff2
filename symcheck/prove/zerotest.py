r"""Three-valued zero tests for symbolic residuals, and certified evaluation.

A residual :math:`r` is decided in this order (docs/theory.md §4), never with
``simplify``:

1. *structural*: ``r == 0`` as a tree (the two sides were built from the very
   same sub-expressions);
2. *expand*: ``sympy.expand(r) == 0`` (canonical for polynomials in the
   symbols and the opaque function values);
3. *piecewise*: for ReLU-type activations, ``piecewise_fold`` and expand of
   every branch;
4. *cancel*: ``sympy.cancel(r) == 0`` when :math:`r` is a rational function.

A constant residual (no free symbols) that survives these is evaluated:
exactly when it is a rational number, otherwise in interval arithmetic
(``mpmath.iv``) at :data:`PRECISION_BITS` bits, memoised over the shared
expression graph: the interval encloses the true value, so an interval that
excludes 0 certifies a non-zero value, and its half-width is the error bound.
The value is reported to :data:`DIGITS` significant digits. Anything else is
``unknown``: never a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import sympy as sp

__all__ = [
    "DIGITS",
    "MAX_EXPAND_NODES",
    "NONZERO",
    "PRECISION_BITS",
    "SIGN_RELATIONS",
    "UNKNOWN",
    "ZERO",
    "Decision",
    "Uncertified",
    "certified_value",
    "interval",
    "tree_size",
    "zero_test",
]

ZERO = "zero"
NONZERO = "nonzero"
UNKNOWN = "unknown"
#: Significant digits of a certified evaluation.
DIGITS = 50
#: Working precision of the interval evaluation (about 60 decimal digits).
PRECISION_BITS = 200
#: Largest tree size (nodes, counting shared sub-expressions once per use) that
#: ``zero_test`` expands; beyond it the answer is ``unknown`` rather than a hang.
MAX_EXPAND_NODES = 20_000


class Uncertified(ArithmeticError):
    """An interval evaluation could not decide (it straddles a kink or zero)."""


@dataclass(frozen=True)
class Decision:
    """The outcome of a zero test: ``status`` in {zero, nonzero, unknown}, the method, the value."""

    status: str
    method: str
    expression: sp.Expr


def _iv_tanh(x: object) -> object:
    return 1 - 2 / (mpmath.iv.exp(2 * x) + 1)


_IV_FUNCTIONS = {
    sp.exp: lambda x: mpmath.iv.exp(x),
    sp.log: lambda x: mpmath.iv.log(x),
    sp.sin: lambda x: mpmath.iv.sin(x),
    sp.cos: lambda x: mpmath.iv.cos(x),
    sp.tanh: _iv_tanh,
}


def _sign(iv: object) -> int:
    if iv.a > 0:  # type: ignore[attr-defined]
        return 1
    if iv.b < 0:  # type: ignore[attr-defined]
        return -1
    if iv.a == 0 and iv.b == 0:  # type: ignore[attr-defined]
        return 0
    raise Uncertified("the sign of a condition is not decided by the interval")


#: A relation ``lhs op rhs`` as a test of the sign (-1, 0 or 1) of ``lhs - rhs``.
SIGN_RELATIONS: dict[str, Callable[[int], bool]] = {
    ">": lambda sign: sign > 0,
    ">=": lambda sign: sign >= 0,
    "<": lambda sign: sign < 0,
    "<=": lambda sign: sign <= 0,
    "==": lambda sign: sign == 0,
    "!=": lambda sign: sign != 0,
}


def _condition(cond: sp.Basic, ev: object) -> bool:
    if cond is sp.true:
        return True
    if cond is sp.false:
        return False
    if isinstance(cond, sp.core.relational.Relational) and cond.rel_op in SIGN_RELATIONS:
        return SIGN_RELATIONS[cond.rel_op](_sign(ev(cond.lhs - cond.rhs)))  # type: ignore[operator]
    raise Uncertified(f"condition {cond} is not supported")


def interval(expr: sp.Expr, bits: int = PRECISION_BITS, env: dict | None = None) -> object:
    """An ``mpmath.iv`` interval that encloses the value of the constant ``expr``.

    ``env`` maps symbols to intervals that enclose their values (computed at
    ``bits``); ``expr`` may then contain those symbols.
    """
    memo: dict = dict(env or {})
    ctx = mpmath.iv

    def ev(e: sp.Expr) -> object:
        hit = memo.get(e)
        if hit is not None:
            return hit
        if e.is_Rational:
            out = ctx.mpf(int(e.p)) / int(e.q)
        elif e is sp.pi:
            out = ctx.pi
        elif e is sp.E:
            out = ctx.e
        elif e.is_Add:
            out = sum((ev(a) for a in e.args[1:]), ev(e.args[0]))
        elif e.is_Mul:
            out = ev(e.args[0])
            for a in e.args[1:]:
                out = out * ev(a)
        elif e.is_Pow:
            base, exp = e.args
            if exp.is_Integer:
                out = ev(base) ** int(exp)
            elif exp == sp.S.Half:
                out = ctx.sqrt(ev(base))
            else:
                out = ctx.exp(ev(exp) * ctx.log(ev(base)))
        elif isinstance(e, sp.Piecewise):
            for value, cond in e.args:
                if _condition(cond, ev):
                    out = ev(value)
                    break
            else:
                raise Uncertified("no branch of a Piecewise applies")
        elif e.func in _IV_FUNCTIONS:
            out = _IV_FUNCTIONS[e.func](ev(e.args[0]))
        else:
            raise Uncertified(f"{e.func} has no interval form")
        memo[e] = out
        return out

    with mpmath.workprec(bits):
        ctx.prec = bits
        try:
            return ev(sp.sympify(expr))
        except (ArithmeticError, ValueError) as exc:
            if isinstance(exc, Uncertified):
                raise
            raise Uncertified(f"interval evaluation failed: {exc}") from None


def certified_value(
    value: sp.Expr, digits: int = DIGITS, *, allow_zero: bool = False, env: dict | None = None
) -> tuple[sp.Expr, str]:
    """Evaluate a constant exactly (rational) or as a certified enclosure.

    Returns the value (exact, or the midpoint to ``digits`` digits) and a
    description of its error bound. Raises :class:`Uncertified` when the
    enclosure contains 0 (the value may be zero; with ``allow_zero`` the
    midpoint is returned anyway, e.g. for rounding) or cannot be computed; an
    exact 0 is refused the same way, so a returned value is certified non-zero
    unless ``allow_zero`` is given.
    ``env`` encloses the symbols of ``value`` (see :func:`interval`).
    """
    value = sp.sympify(value)
    if value.is_Rational:
        if value == 0 and not allow_zero:
            raise Uncertified("the value is exactly 0")
        return value, "exact"
    enclosure = interval(value, env=env)
    if not allow_zero and enclosure.a <= 0 <= enclosure.b:  # type: ignore[attr-defined]
        raise Uncertified("the enclosure contains 0")
    with mpmath.workprec(PRECISION_BITS):
        lo = mpmath.mpf(enclosure.a)  # type: ignore[attr-defined]
        hi = mpmath.mpf(enclosure.b)  # type: ignore[attr-defined]
        text = mpmath.nstr((lo + hi) / 2, digits)
        bound = mpmath.nstr(mpmath.mpf(mpmath.mpf(hi - lo) / 2), 3, strip_zeros=True)
    return sp.Float(text, digits), f"interval arithmetic, |error| <= {bound}"


#: Most Piecewise sub-expressions ``zero_test`` folds (folding multiplies branches).
MAX_PIECEWISE = 4


def _piecewise_zero(expr: sp.Expr) -> bool:
    if len(expr.atoms(sp.Piecewise)) > MAX_PIECEWISE:
        return False
    folded = sp.piecewise_fold(expr)
    if isinstance(folded, sp.Piecewise):
        return all(sp.expand(branch) == 0 for branch, _ in folded.args)
    return sp.expand(folded) == 0


def tree_size(expr: sp.Basic) -> int:
    """Number of nodes of ``expr`` as a tree, computed on the shared graph."""
    memo: dict = {}

    def size(e: sp.Basic) -> int:
        hit = memo.get(e)
        if hit is None:
            hit = memo[e] = 1 + sum(size(a) for a in e.args)
        return hit

    return size(expr)


def zero_test(expr: sp.Expr) -> Decision:
    """Decide whether ``expr`` is identically zero (see the module docstring)."""
    expr = sp.sympify(expr)
    if expr == 0:
        return Decision(ZERO, "structural", sp.Integer(0))
    if tree_size(expr) > MAX_EXPAND_NODES:
        return Decision(UNKNOWN, "too large to expand", expr)
    expanded = sp.expand(expr)
    if expanded == 0:
        return Decision(ZERO, "expand", expanded)
    if expanded.has(sp.Piecewise) and _piecewise_zero(expanded):
        return Decision(ZERO, "piecewise", sp.Integer(0))
    if not expanded.free_symbols:
        if expanded.is_Rational:
            return Decision(NONZERO, "exact", expanded)
        try:
            certified_value(expanded)
        except Uncertified:
            return Decision(UNKNOWN, "interval", expanded)
        return Decision(NONZERO, "certified", expanded)
    if expanded.is_rational_function() and sp.cancel(expanded) == 0:
        return Decision(ZERO, "cancel", sp.Integer(0))
    return Decision(UNKNOWN, "expand", expanded)
