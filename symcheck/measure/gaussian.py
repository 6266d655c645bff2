r"""Gaussian expectations of activations: quadrature and SymPy closed forms.

Mean-field theory (docs/theory.md T5) needs three expectations of an activation
:math:`\varphi` under a centred Gaussian pre-activation of variance :math:`q`,

.. math::

    \mathbb E_z\big[\varphi(\sqrt q\, z)^2\big], \qquad
    \mathbb E_z\big[\varphi'(\sqrt q\, z)^2\big], \qquad
    \mathbb E_z\big[\varphi(\sqrt q\, z)\big], \qquad z \sim \mathcal N(0, 1),

registered in :data:`MOMENTS` as ``second``, ``derivative`` and ``mean``.

Numerically they are computed by quadrature (:data:`RULES`):

* ``hermite``: Gauss–Hermite with the probabilists' weight
  :math:`e^{-z^2/2}` (``numpy.polynomial.hermite_e``) and an even number of
  nodes. It is exact for polynomials of degree below twice the node count and,
  because the nodes are symmetric and none sits at 0, whenever
  :math:`f(z) + f(-z)` is such a polynomial (the second moments of ReLU and
  leaky ReLU, but not :math:`\mathbb E[\operatorname{relu}]`, which folds
  to :math:`|z|`). It converges slowly when :math:`\varphi(\sqrt q z)`
  varies on a scale much finer than 1 (large :math:`q` for tanh or sin).
* ``composite``: composite 16-point Gauss–Legendre on :math:`[-10, 10]` with
  panels of width :math:`\min(\tfrac12, 1/\sqrt q)` and a break at 0, so a
  feature of :math:`\varphi` at scale 1 is always resolved; the Gaussian mass
  outside :math:`|z| \le 10` is below :math:`2\cdot 10^{-23}`.
* ``auto`` (the default of :func:`moment`): ``hermite`` for analytic
  activations at :math:`q \le 1`, ``composite`` otherwise (measured in
  ``bench/scale.py``).

Closed forms (:func:`closed_form`) exist when :math:`\varphi` is a piecewise
polynomial whose pieces meet at 0 (identity, ReLU, leaky ReLU, square). They
are built through SymPy from the activation's own SymPy form: on the half line
:math:`w > 0` every piece condition decides itself, and

.. math::

    \mathbb E[f(z)] = \int_0^\infty \big(f(w) + f(-w)\big)
    \frac{e^{-w^2/2}}{\sqrt{2\pi}}\, dw, \qquad
    \int_0^\infty w^k \frac{e^{-w^2/2}}{\sqrt{2\pi}}\, dw
    = \frac{2^{k/2-1}\,\Gamma\!\big(\tfrac{k+1}{2}\big)}{\sqrt\pi}.

References: B. Poole et al., *Exponential expressivity in deep neural networks
through transient chaos*, NeurIPS 2016; S. Schoenholz et al., *Deep
information propagation*, ICLR 2017.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss

from symcheck.errors import InvalidArgument, choices_message
from symcheck.model.activations import Activation, get_activation

__all__ = [
    "MOMENTS",
    "RULES",
    "Moment",
    "Q",
    "closed_form",
    "gaussian_expectation",
    "moment",
]

NDArray = np.ndarray

#: The SymPy symbol for the pre-activation variance :math:`q` in closed forms.
Q = sp.Symbol("q", positive=True)

#: Gauss–Hermite node count (even: no node at the kink of ReLU).
HERMITE_NODES = 200
#: Half-width of the interval the composite rule integrates over.
COMPOSITE_HALF_WIDTH = 10.0
#: Nodes per panel of the composite rule.
COMPOSITE_ORDER = 16
#: Largest number of panels of the composite rule (bounds the cost at huge q).
COMPOSITE_MAX_PANELS = 2048
#: Above this variance ``auto`` switches from Gauss–Hermite to the composite rule.
AUTO_SWITCH_Q = 1.0


@dataclass(frozen=True)
class Moment:
    r"""One Gaussian moment of an activation: its integrand, numeric and symbolic.

    ``numeric(act)`` returns :math:`u \mapsto f(u)` on NumPy arrays and
    ``symbolic(act, u)`` the SymPy form of :math:`f(u)`; the moment is
    :math:`\mathbb E_z[f(\sqrt q z)]`.
    """

    name: str
    latex: str
    numeric: Callable[[Activation], Callable[[NDArray], NDArray]]
    symbolic: Callable[[Activation, sp.Expr], sp.Expr]


MOMENTS: dict[str, Moment] = {
    m.name: m
    for m in (
        Moment(
            "second",
            r"\mathbb E\big[\varphi(\sqrt q z)^2\big]",
            lambda a: lambda u: a.numpy(u) ** 2,
            lambda a, u: a.sympy(u) ** 2,
        ),
        Moment(
            "derivative",
            r"\mathbb E\big[\varphi'(\sqrt q z)^2\big]",
            lambda a: lambda u: a.numpy_derivative(u) ** 2,
            lambda a, u: a.symbolic_derivative(u) ** 2,
        ),
        Moment(
            "mean",
            r"\mathbb E\big[\varphi(\sqrt q z)\big]",
            lambda a: a.numpy,
            lambda a, u: a.sympy(u),
        ),
    )
}


@lru_cache(maxsize=8)
def _hermite_rule(nodes: int) -> tuple[NDArray, NDArray]:
    x, w = hermegauss(nodes)
    return x, w / np.sqrt(2.0 * np.pi)


@lru_cache(maxsize=64)
def _composite_rule(panels: int) -> tuple[NDArray, NDArray]:
    xg, wg = leggauss(COMPOSITE_ORDER)
    h = 2.0 * COMPOSITE_HALF_WIDTH / panels
    left = -COMPOSITE_HALF_WIDTH + h * np.arange(panels)[:, None]
    x = (left + 0.5 * h * (xg + 1.0)).ravel()
    w = (0.5 * h * np.broadcast_to(wg, (panels, COMPOSITE_ORDER))).ravel()
    return x, w * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def _hermite(q: float) -> tuple[NDArray, NDArray]:
    return _hermite_rule(HERMITE_NODES)


def _composite(q: float) -> tuple[NDArray, NDArray]:
    width = min(0.5, 1.0 / np.sqrt(q)) if q > 0 else 0.5
    half = int(np.ceil(COMPOSITE_HALF_WIDTH / width))
    return _composite_rule(2 * min(half, COMPOSITE_MAX_PANELS // 2))


#: Quadrature rules: name -> ``q -> (nodes z_i, weights w_i)`` with
#: :math:`\mathbb E[f(z)] \approx \sum_i w_i f(z_i)`.
RULES: dict[str, Callable[[float], tuple[NDArray, NDArray]]] = {
    "composite": _composite,
    "hermite": _hermite,
}


def _check_q(q: float) -> float:
    value = float(q)
    if not np.isfinite(value) or value < 0:
        raise InvalidArgument(f"q={q!r} must be a finite variance >= 0")
    return value


def gaussian_expectation(
    f: Callable[[NDArray], NDArray], q: float, *, rule: str = "composite"
) -> float:
    r""":math:`\mathbb E_z[f(\sqrt q\, z)]` for :math:`z \sim \mathcal N(0,1)` by quadrature."""
    q = _check_q(q)
    if rule not in RULES:
        raise InvalidArgument(choices_message("rule", rule, RULES))
    z, w = RULES[rule](q)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.dot(w, f(np.sqrt(q) * z)))


def moment(activation: str | Activation, kind: str, q: float, *, rule: str = "auto") -> float:
    r"""The Gaussian moment ``kind`` (a key of :data:`MOMENTS`) of an activation at variance q.

    ``rule="auto"`` picks ``hermite`` for analytic activations at
    :math:`q \le 1` and ``composite`` otherwise (see the module docstring).

    >>> round(moment("relu", "second", 2.0), 12)  # E[relu(sqrt(2) z)^2] = 1
    1.0
    """
    act = get_activation(activation)
    act.require_numeric()
    q = _check_q(q)
    if rule == "auto":
        rule = "hermite" if act.analytic and q <= AUTO_SWITCH_Q else "composite"
    return _cached_moment(act.name, _moment(kind).name, q, rule)


@lru_cache(maxsize=4096)
def _cached_moment(name: str, kind: str, q: float, rule: str) -> float:
    return gaussian_expectation(MOMENTS[kind].numeric(get_activation(name)), q, rule=rule)


def _moment(kind: str) -> Moment:
    if kind not in MOMENTS:
        raise InvalidArgument(choices_message("moment", kind, MOMENTS))
    return MOMENTS[kind]


def _half_line_moment(k: int) -> sp.Expr:
    return 2 ** sp.Rational(k - 2, 2) * sp.gamma(sp.Rational(k + 1, 2)) / sp.sqrt(sp.pi)


@lru_cache(maxsize=128)
def _closed_form(name: str, kind: str) -> sp.Expr | None:
    act = get_activation(name)
    if act.abstract:
        return None
    w = sp.Dummy("w", positive=True)
    spec = _moment(kind)
    folded = sp.expand(spec.symbolic(act, sp.sqrt(Q) * w) + spec.symbolic(act, -sp.sqrt(Q) * w))
    if folded.has(sp.Piecewise) or not folded.is_polynomial(w):
        return None
    poly = sp.Poly(folded, w)
    total = sp.Add(*[c * _half_line_moment(k) for (k,), c in poly.terms()])
    return sp.expand(total)


def closed_form(activation: str | Activation, kind: str) -> sp.Expr | None:
    r"""The moment ``kind`` as an exact SymPy expression in :data:`Q`, or ``None``.

    ``None`` means the activation is not a piecewise polynomial with its kink
    at 0 (tanh, sigmoid, ...): use :func:`moment` (quadrature) instead.

    >>> closed_form("relu", "second")
    q/2
    """
    _moment(kind)
    return _closed_form(get_activation(activation).name, kind)
