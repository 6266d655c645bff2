r"""Exact comparison of piecewise expressions by region splitting.

A ReLU-type network is analytic on each region where the sign of every
pre-activation is fixed, so two expressions built from ``Piecewise`` nodes
(say, the gradients of the two paths of :mod:`symcheck.prove.symbolic`) are equal
as functions exactly when their branches agree region by region.

Every relational atom :math:`u \bowtie v` is read as a condition on the sign
of one polynomial: :math:`u - v = c\,s\,p` with :math:`c > 0` rational,
:math:`s = \pm 1` and :math:`p` expanded, primitive and normalised in sign.
So ``z > 0``, ``0 < z``, ``-z < 0``, ``2 z >= 0`` and ``Eq(z, 0)`` all talk
about the same :math:`p = z`. :func:`regions` repeatedly takes an atom with
no ``Piecewise`` inside (preferring one that a ``Piecewise`` or the test of an
``ITE`` reads first, so the first hidden layer is split before the second)
and splits on the three exhaustive cases

.. math::

    p > 0, \qquad p = 0, \qquad p < 0,

replacing every atom with that :math:`p` by its truth value (``xreplace``),
so the ``Piecewise`` and ``ITE`` nodes that test it collapse; nested
conditions (a second hidden layer) become atoms without ``Piecewise`` and are
split in turn. The boundary :math:`p = 0` is a case of its own, so a
convention such as ``relu'(0) = 0`` is compared too. On the boundary, when
:math:`p = a\,t + r` for a symbol :math:`t` with a rational :math:`a \ne 0`
(and :math:`r` free of :math:`t`), :math:`t = -r/a` is substituted, so the
branches are compared on the surface :math:`p = 0` itself; otherwise they
are compared everywhere (a zero there is a zero on the surface too).

:func:`piecewise_equal` decides each region's residual with
:func:`~symcheck.prove.zerotest.zero_test` (structural, expand, cancel; never
``simplify``). Equality holds when every residual is zero (a region that is
empty is vacuously fine). ``nonzero`` is only reported with an exact rational
witness point, found in a region and checked on the *original* expressions:
their conditions are decided exactly there and the difference is certified by
interval arithmetic. Anything else, including forms this module cannot split
(``Abs``, ``sign``, ``DiracDelta``, conditions that are not relationals) or
more than :data:`MAX_REGIONS` regions, is ``unknown``, never ``equal``.
``Heaviside``, ``Max`` and ``Min`` are rewritten as ``Piecewise`` first.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.core.relational import Relational
from sympy.logic.boolalg import BooleanFunction

from symcheck.prove.zerotest import (
    NONZERO,
    SIGN_RELATIONS,
    UNKNOWN,
    ZERO,
    Uncertified,
    certified_value,
    zero_test,
)

__all__ = [
    "MAX_REGIONS",
    "WITNESS_TRIES",
    "Comparison",
    "Region",
    "Unsplittable",
    "piecewise_equal",
    "regions",
]

#: Most regions :func:`regions` enumerates before the comparison is ``unknown``.
MAX_REGIONS = 1000
#: Rational points tried per region when looking for a witness of a difference.
WITNESS_TRIES = 24

_REWRITE = (sp.Heaviside, sp.Max, sp.Min)
_UNSUPPORTED = (sp.Piecewise, sp.Abs, sp.sign, sp.DiracDelta, sp.Heaviside, sp.Max, sp.Min)


class Unsplittable(ValueError):
    """A form that the region split does not handle, or too many regions."""


@dataclass(frozen=True)
class Region:
    """One region: ``signs`` are ``(p, sign of p)``; ``exprs`` the branches there.

    ``solved`` lists the boundary substitutions ``(t, value)`` in the order
    they were made (a later value never mentions an earlier ``t``).
    """

    signs: tuple[tuple[sp.Expr, int], ...]
    solved: tuple[tuple[sp.Symbol, sp.Expr], ...]
    exprs: tuple[sp.Expr, ...]


@dataclass(frozen=True)
class Comparison:
    """Outcome of :func:`piecewise_equal`.

    ``status`` is ``zero`` (equal in every region), ``nonzero`` (they differ at
    ``witness``) or ``unknown``; ``entry`` is the flat index of the first
    entry not shown equal and ``region`` its sign conditions.
    """

    status: str
    regions: int
    reason: str
    entry: int | None = None
    region: tuple[tuple[sp.Expr, int], ...] = ()
    witness: dict | None = None


def _key(rel: Relational) -> tuple[sp.Expr, int]:
    """``(p, s)`` with ``lhs - rhs`` a positive multiple of ``s * p``."""
    c, p = sp.expand(rel.lhs - rel.rhs).as_content_primitive()
    s = 1 if c > 0 else -1
    if p.could_extract_minus_sign():
        return -p, -s
    return p, s


def _solvable(p: sp.Expr, exprs: Sequence[sp.Expr]) -> tuple[sp.Symbol, sp.Expr] | None:
    """``(t, value)`` with ``p = 0`` iff ``t = value``, for a ``t`` no derivative binds."""
    binders = (sp.Derivative, sp.Subs)
    bound = {v for n in _nodes(exprs) if isinstance(n, binders) for v in n.variables}
    for t in sorted(p.free_symbols - bound, key=lambda s: s.name):
        a = sp.diff(p, t)
        if a.is_Rational and a != 0:
            return t, -p.xreplace({t: 0}) / a
    return None


def _leading(cond: sp.Basic) -> set[Relational]:
    """The atoms a condition tests first (an ``ITE``'s branches only after its test)."""
    if isinstance(cond, Relational):
        return {cond}
    if isinstance(cond, sp.ITE):
        return _leading(cond.args[0])
    if isinstance(cond, BooleanFunction):
        return set().union(*(_leading(c) for c in cond.args))
    return set()


def _nodes(exprs: Sequence[sp.Basic]) -> Iterator[sp.Basic]:
    """Every distinct node of ``exprs``, each shared sub-expression once."""
    seen: set[sp.Basic] = set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if e not in seen:
            seen.add(e)
            yield e
            stack.extend(e.args)


def _atoms(exprs: Sequence[sp.Expr]) -> tuple[set[Relational], set[Relational]]:
    """Relational atoms without ``Piecewise`` inside: all of them, and the leading ones."""
    found: set[Relational] = set()
    lead: set[Relational] = set()
    for e in _nodes(exprs):
        if isinstance(e, Relational) and not e.has(sp.Piecewise):
            found.add(e)
        elif isinstance(e, sp.Piecewise):
            for _, cond in e.args:
                lead |= _leading(cond)
    return found, lead & found


def _replace(exprs: Sequence[sp.Expr], mapping: dict) -> tuple[sp.Expr, ...]:
    """``xreplace`` of every expression, memoised over the shared sub-expressions."""
    memo = dict(mapping)

    def go(e: sp.Basic) -> sp.Basic:
        hit = memo.get(e)
        if hit is None:
            args = tuple(go(a) for a in e.args)
            changed = any(new is not old for new, old in zip(args, e.args))
            hit = memo[e] = e.func(*args) if changed else e
        return hit

    return tuple(go(e) for e in exprs)


def regions(exprs: Sequence[sp.Expr]) -> Iterator[Region]:
    """Enumerate the sign regions of ``exprs`` (see the module docstring).

    Raises :class:`Unsplittable` on a form that cannot be split or beyond
    :data:`MAX_REGIONS` regions.
    """
    count = 0

    def rewrite(e: sp.Expr) -> sp.Expr:
        e = sp.sympify(e)
        if e.has(*_REWRITE):
            e = e.replace(lambda n: isinstance(n, _REWRITE), lambda n: n.rewrite(sp.Piecewise))
        return e

    def walk(exprs: tuple, signs: tuple, solved: tuple) -> Iterator[Region]:
        nonlocal count
        atoms, lead = _atoms(exprs)
        if not atoms:
            if any(e.has(*_UNSUPPORTED, Relational, BooleanFunction) for e in exprs):
                raise Unsplittable("a piecewise form without a relational condition to split")
            count += 1
            if count > MAX_REGIONS:
                raise Unsplittable(f"more than {MAX_REGIONS} regions")
            yield Region(signs, solved, exprs)
            return
        pick = min(lead or atoms, key=lambda r: (sp.count_ops(r), sp.default_sort_key(r)))
        p, _ = _key(pick)
        same = {r: s for r in atoms for q, s in [_key(r)] if q == p}
        for sign in (1, 0, -1):
            truth = {r: sp.sympify(SIGN_RELATIONS[r.rel_op](s * sign)) for r, s in same.items()}
            now = _replace(exprs, truth)
            sub = _solvable(p, now) if sign == 0 else None
            if sub is None:
                yield from walk(now, (*signs, (p, sign)), solved)
            else:
                t, value = sub
                done = _replace(now, {t: value})
                kept = tuple((q.xreplace({t: value}), s) for q, s in signs)
                yield from walk(done, (*kept, (p, sign)), (*solved, sub))

    yield from walk(tuple(rewrite(e) for e in exprs), (), ())


def _flat(value: object) -> list:
    if value is None or isinstance(value, (sp.Basic, int)):
        return [value]
    return [leaf for item in value for leaf in _flat(item)]  # type: ignore[attr-defined]


def _witness(a: sp.Expr, b: sp.Expr, region: Region, seed: int) -> dict | None:
    """An exact point of ``region`` where ``a != b`` (certified), or ``None``."""
    free = set().union(a.free_symbols, b.free_symbols, *(q.free_symbols for q, _ in region.signs))
    free -= {t for t, _ in region.solved}
    names = sorted(free, key=lambda s: s.name)
    rng = random.Random(seed)
    for _ in range(WITNESS_TRIES):
        point = {s: sp.Rational(rng.randint(-9, 9), rng.randint(1, 4)) for s in names}
        for t, value in reversed(region.solved):
            point[t] = value.xreplace(point)
        if any(sp.sign(q.xreplace(point)) != s for q, s in region.signs):
            continue
        try:
            value, _ = certified_value(a.xreplace(point) - b.xreplace(point))
        except (Uncertified, TypeError):
            continue
        if value != 0:  # an exact rational 0 comes back as a value, not as Uncertified
            return point
    return None


def piecewise_equal(a: object, b: object) -> Comparison:
    """Decide whether ``a`` and ``b`` are equal as functions, region by region.

    ``a`` and ``b`` are SymPy expressions or nested sequences of them with the
    same layout (``None`` entries must match), e.g. two gradient layouts; the
    regions are enumerated once for all entries.
    """
    fa, fb = _flat(a), _flat(b)
    if len(fa) != len(fb) or any((x is None) != (y is None) for x, y in zip(fa, fb)):
        raise ValueError("a and b have different layouts")
    pairs = [
        (k, sp.sympify(x), sp.sympify(y))
        for k, (x, y) in enumerate(zip(fa, fb))
        if x is not None and sp.sympify(x) != sp.sympify(y)
    ]
    exprs = tuple(e for _, x, y in pairs for e in (x, y))
    seen = 0
    unknown: Comparison | None = None
    decided: dict[sp.Expr, str] = {}  # regions often repeat a residual
    try:
        for region in regions(exprs):
            seen += 1
            for n, (k, x, y) in enumerate(pairs):
                residual = region.exprs[2 * n] - region.exprs[2 * n + 1]
                if residual not in decided:
                    decided[residual] = zero_test(residual).status
                if decided[residual] == ZERO:
                    continue
                # An unknown function (sigma, ell) has no value at a point: no witness.
                abstract = residual.has(AppliedUndef)
                point = None if abstract else _witness(x, y, region, seed=k)
                if point is not None:
                    reason = "the entries differ at an exact point of this region"
                    return Comparison(NONZERO, seen, reason, k, region.signs, point)
                if unknown is None:
                    reason = "the residual of this region is not shown zero and no witness found"
                    unknown = Comparison(UNKNOWN, seen, reason, k, region.signs)
    except Unsplittable as exc:
        return Comparison(UNKNOWN, seen, str(exc))
    if unknown is not None:
        return Comparison(UNKNOWN, seen, unknown.reason, unknown.entry, unknown.region)
    return Comparison(ZERO, seen, "every region's residual is zero")
