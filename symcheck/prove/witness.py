r"""Exact rational witness points, and the concrete stand-ins for ``sigma`` and ``ell``.

A witness refutes "this residual is identically zero" by one point where it
is not: every free symbol gets a small rational value (drawn from a fixed,
seeded sequence so that certificates are reproducible), and the residual is
evaluated exactly or certified to 50 digits (:mod:`symcheck.prove.zerotest`).

The abstract activation ``sigma`` and loss ``ell`` have no values. A claim
"for every :math:`\sigma`" is refuted by one :math:`\sigma`; the witness uses
the polynomial :math:`\sigma(u) = (1 + u)^2/2` (analytic, exact on rationals,
:math:`\sigma(0) = 1/2`, :math:`\sigma'(0) = 1`)
and :math:`\ell(z, y) = \tfrac12 \sum_k (z_k - y_k)^2`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import sympy as sp

from symcheck.model.activations import Activation
from symcheck.model.losses import LOSSES, Loss

__all__ = [
    "SIGMA_WITNESS",
    "concrete_activation",
    "concrete_loss",
    "instantiate_abstract",
    "rational_point",
    "witness_sigma_latex",
]

_SIGMA = sp.Function("sigma")
_ELL = sp.Function("ell")
_U = sp.Symbol("u")

#: The concrete activation that stands in for ``sigma`` at a witness.
SIGMA_WITNESS = sp.Lambda(_U, (1 + _U) ** 2 / 2)


def witness_sigma_latex() -> str:
    r"""LaTeX of the witness activation, e.g. :math:`\sigma(u) = u + u^2/2`."""
    return r"\sigma(u) = " + sp.latex(SIGMA_WITNESS.expr)


def _ell_lambda(nargs: int) -> sp.Lambda:
    m = nargs // 2
    zs = sp.symbols(f"zz0:{m}")
    ys = sp.symbols(f"yy0:{m}")
    return sp.Lambda(
        (*zs, *ys), sp.Rational(1, 2) * sp.Add(*[(z - y) ** 2 for z, y in zip(zs, ys)])
    )


def instantiate_abstract(expr: sp.Expr) -> sp.Expr:
    """Replace ``sigma`` and ``ell`` by their witness forms and evaluate the derivatives."""
    if not expr.has(_SIGMA, _ELL):
        return expr
    out = expr.replace(_SIGMA, SIGMA_WITNESS)
    applied = [a for a in out.atoms(sp.core.function.AppliedUndef) if a.func == _ELL]
    if applied:
        out = out.replace(_ELL, _ell_lambda(len(applied[0].args)))
    return out.doit()


def rational_point(symbols: Iterable[sp.Symbol], seed: int) -> dict[sp.Symbol, sp.Rational]:
    """Small non-zero rationals ``p/q`` (``|p| <= 9``, ``q`` in 2..7) for ``symbols`` by name.

    The same names and seed always give the same point; a symbol declared
    positive gets a positive value.
    """
    rng = random.Random(seed)
    point: dict[sp.Symbol, sp.Rational] = {}
    for s in sorted(symbols, key=lambda v: v.name):
        p = rng.choice([v for v in range(-9, 10) if v != 0])
        q = rng.randint(2, 7)
        point[s] = sp.Rational(abs(p) if s.is_positive else p, q)
    return point


_SIGMA_ACT = Activation(
    "sigma_witness",
    r"\sigma_{\mathrm{w}}",
    lambda z: (1 + z) ** 2 / 2,
    None,
    None,
    True,
    sp.Rational(1, 2),
)
_ELL_LOSS = Loss(
    "ell_witness",
    "identity",
    LOSSES["mse"].latex,
    LOSSES["mse"].sympy,
    None,
    None,
    True,
)


def concrete_activation(act: Activation) -> Activation:
    """The witness stand-in for an abstract activation; any other is returned unchanged."""
    return _SIGMA_ACT if act.abstract else act


def concrete_loss(loss: Loss) -> Loss:
    """The witness stand-in (squared error) for the abstract loss; any other unchanged."""
    return _ELL_LOSS if loss.abstract else loss
