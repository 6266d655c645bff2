r"""Mean-field theory of signal propagation at initialisation (docs/theory.md T5).

For weights :math:`W^l_{ik} \sim \mathcal N(0, \sigma_w^2 / n_{l-1})` and biases
:math:`b^l_i \sim \mathcal N(0, \sigma_b^2)`, the second moment of a
pre-activation follows the **variance map**

.. math::

    q^{l} = \mathcal V(q^{l-1}) = \sigma_w^2\,
    \mathbb E_z\big[\varphi(\sqrt{q^{l-1}}\, z)^2\big] + \sigma_b^2,

whose attracting **fixed point** :math:`q^* = \mathcal V(q^*)` the layers
approach. Back-propagated deltas are multiplied, in mean square and per layer,
by

.. math::

    \chi_1 = \sigma_w^2\, \mathbb E_z\big[\varphi'(\sqrt{q^*}\, z)^2\big],

so gradient norms scale like :math:`\chi_1^{\text{depth}}`: :math:`\chi_1 < 1`
vanishes (ordered phase), :math:`\chi_1 > 1` explodes (chaotic phase), and
the **critical line** :math:`\chi_1 = 1` separates them. The **depth scale**
:math:`\xi = -1/\ln \chi_1` is the number of layers over which the squared
gradient changes by a factor :math:`e`.

References: B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein, S. Ganguli,
*Exponential expressivity in deep neural networks through transient chaos*,
NeurIPS 2016; S. Schoenholz, J. Gilmer, S. Ganguli, J. Sohl-Dickstein, *Deep
information propagation*, ICLR 2017.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

from symcheck.errors import InvalidArgument
from symcheck.measure.gaussian import moment
from symcheck.model.activations import Activation, get_activation

__all__ = [
    "REGIMES",
    "FixedPoint",
    "MeanField",
    "chi1",
    "critical_sigma_w2",
    "depth_scale",
    "fixed_point",
    "mean_field",
    "regime",
    "variance_map",
]

#: Verdicts of :func:`regime`, keyed by the sign of :math:`\ln \chi_1`.
REGIMES = ("vanishing", "critical", "exploding")

#: Above this :math:`q` the variance map is said to diverge (no finite :math:`q^*`).
Q_DIVERGES = 1e60
#: Below this :math:`q` the fixed point is taken to be 0 (:math:`\chi_1` is then
#: :math:`\sigma_w^2 \varphi'(0)^2` to double precision for smooth :math:`\varphi`).
Q_ZERO = 1e-30
#: Relative tolerance of the fixed point and of the critical line.
RELATIVE_TOLERANCE = 1e-13
_MAX_STEPS = 200
_SCAN = 16.0


def _check_variance(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"{name}={value!r:.80} must be a real number (a variance >= 0)")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise InvalidArgument(f"{name}={value!r} must be a finite variance >= 0")
    return v


def variance_map(
    activation: str | Activation, q: float, *, sigma_w2: float, sigma_b2: float = 0.0
) -> float:
    r""":math:`\mathcal V(q) = \sigma_w^2 \mathbb E[\varphi(\sqrt q z)^2] + \sigma_b^2`.

    Poole et al. (2016), eq. (3).
    """
    sw = _check_variance("sigma_w2", sigma_w2)
    sb = _check_variance("sigma_b2", sigma_b2)
    return sw * moment(activation, "second", q) + sb


@dataclass(frozen=True)
class FixedPoint:
    """The limit of the variance map iterated from ``q0``.

    ``q_star`` is ``math.inf`` when the iteration diverges (e.g. ReLU with
    :math:`\\sigma_w^2 > 2`); ``exact_everywhere`` is true when every ``q`` is
    a fixed point (ReLU at :math:`\\sigma_w^2 = 2, \\sigma_b^2 = 0`), so
    ``q_star == q0``.
    """

    q_star: float
    q0: float
    exact_everywhere: bool = False

    @property
    def diverges(self) -> bool:
        return math.isinf(self.q_star)


def _root_in(g: Callable[[float], float], lo: float, hi: float, scale: float) -> float:
    """A root of ``g`` in a sign-changing bracket, by the Illinois (regula falsi) method."""
    glo, ghi = g(lo), g(hi)
    for _ in range(_MAX_STEPS):
        if hi - lo <= RELATIVE_TOLERANCE * scale:
            break
        mid = hi - ghi * (hi - lo) / (ghi - glo) if ghi != glo else 0.5 * (lo + hi)
        if not lo < mid < hi:
            mid = 0.5 * (lo + hi)
        gm = g(mid)
        if gm == 0:
            return mid
        if (gm > 0) == (ghi > 0):
            hi, ghi = mid, gm
            glo *= 0.5
        else:
            lo, glo = mid, gm
            ghi *= 0.5
    return 0.5 * (lo + hi)


def fixed_point(
    activation: str | Activation, *, sigma_w2: float, sigma_b2: float = 0.0, q0: float = 1.0
) -> FixedPoint:
    r"""The fixed point :math:`q^*` that iterating :math:`\mathcal V` from ``q0`` reaches.

    :math:`\mathcal V` is increasing for the registered activations, so the
    iterates are monotone: they decrease to the largest root of
    :math:`g(q) = \mathcal V(q) - q` below ``q0`` when :math:`g(q_0) < 0`,
    and increase to the smallest root above ``q0``, or diverge, otherwise.
    The root is bracketed by a geometric scan from ``q0`` (factor 16; a
    bracket below :data:`Q_ZERO` counts as :math:`q^* = 0`, above
    :data:`Q_DIVERGES` as divergence) and refined by the Illinois method to a
    relative tolerance of ``RELATIVE_TOLERANCE``. Values of :math:`g` within
    rounding of zero (:math:`|g(q)| \le` ``RELATIVE_TOLERANCE`` :math:`q`) count as zero.
    A start ``q0 = 0`` is taken as :data:`Q_ZERO`.
    """
    q0 = _check_variance("q0", q0)
    sw = _check_variance("sigma_w2", sigma_w2)
    sb = _check_variance("sigma_b2", sigma_b2)
    q0 = max(q0, Q_ZERO)

    def g(q: float) -> float:
        value = variance_map(activation, q, sigma_w2=sw, sigma_b2=sb) - q
        return 0.0 if abs(value) <= RELATIVE_TOLERANCE * q else value

    g0 = g(q0)
    if g0 == 0:
        everywhere = sb == 0 and g(q0 * 1e-3) == 0 and g(q0 * 1e3) == 0
        return FixedPoint(q0, q0, everywhere)
    step = 1 / _SCAN if g0 < 0 else _SCAN
    prev, q = q0, q0 * step
    gq = g(q)
    while (gq < 0) == (g0 < 0) and gq != 0:
        if q < Q_ZERO:
            return FixedPoint(0.0, q0)
        if q > Q_DIVERGES:
            return FixedPoint(math.inf, q0)
        prev, q = q, q * step
        gq = g(q)
    lo, hi = sorted((prev, q))
    return FixedPoint(_root_in(g, lo, hi, hi), q0)


def chi1(
    activation: str | Activation,
    *,
    sigma_w2: float,
    sigma_b2: float = 0.0,
    q0: float = 1.0,
) -> float:
    r""":math:`\chi_1 = \sigma_w^2 \mathbb E[\varphi'(\sqrt{q^*} z)^2]` (Poole et al. 2016, eq. 7).

    At :math:`q^* = 0` it is evaluated at :data:`Q_ZERO`, the limit
    :math:`q \to 0^+` (ReLU keeps :math:`\mathbb E[\varphi'^2] = 1/2` there,
    whatever the convention at the kink). When :math:`q^*` diverges,
    :math:`\chi_1` is evaluated at the largest
    finite :math:`q` tried (:data:`Q_DIVERGES`): exact for positively
    homogeneous activations, whose :math:`\mathbb E[\varphi'^2]` does not
    depend on :math:`q`.
    """
    fp = fixed_point(activation, sigma_w2=sigma_w2, sigma_b2=sigma_b2, q0=q0)
    return _chi_at(activation, sigma_w2, fp)


def _chi_at(activation: str | Activation, sigma_w2: float, fp: FixedPoint) -> float:
    q = Q_DIVERGES if fp.diverges else max(fp.q_star, Q_ZERO)
    return float(sigma_w2) * moment(activation, "derivative", q)


def depth_scale(chi: float) -> float:
    r""":math:`\xi = -1/\ln \chi_1` (Schoenholz et al. 2017); ``inf`` at :math:`\chi_1 = 1`.

    Positive in the vanishing phase, negative in the exploding phase (there
    :math:`|\xi|` layers multiply the squared gradient by :math:`e`).
    """
    c = float(chi)
    if not c > 0:
        return 0.0
    return math.inf if c == 1.0 else -1.0 / math.log(c)


def regime(chi: float, *, tolerance: float = RELATIVE_TOLERANCE) -> str:
    """``vanishing`` (:math:`\\chi_1 < 1`), ``critical`` or ``exploding`` (:math:`\\chi_1 > 1`)."""
    c = float(chi)
    if abs(c - 1.0) <= tolerance:
        return REGIMES[1]
    return REGIMES[0] if c < 1.0 else REGIMES[2]


def critical_sigma_w2(activation: str | Activation, *, sigma_b2: float = 0.0) -> float:
    r"""The point of the critical line: the :math:`\sigma_w^2` with :math:`\chi_1 = 1`.

    Found by the Illinois method in :math:`\ln \sigma_w^2` on :math:`[10^{-6}, 10^{6}]`,
    using that :math:`\chi_1` increases with :math:`\sigma_w^2`; raises
    :class:`InvalidArgument` when :math:`\chi_1` never crosses 1 there, or
    jumps across it (``square``: :math:`q^*` jumps from 0 to :math:`\infty`
    at :math:`\sigma_w^2 = 1/3`).
    """
    act = get_activation(activation)

    def log_chi(log_sw: float) -> float:
        c = chi1(act, sigma_w2=math.exp(log_sw), sigma_b2=sigma_b2)
        return -math.log(c) if c > 0 else math.inf

    lo, hi = math.log(1e-6), math.log(1e6)
    if not (log_chi(lo) > 0 > log_chi(hi)):
        raise InvalidArgument(
            f"activation={act.name!r} has no critical sigma_w2 in [1e-6, 1e6] at "
            f"sigma_b2={sigma_b2}; chi_1 never crosses 1 there"
        )
    root = math.exp(_root_in(log_chi, lo, hi, 1.0))
    found = chi1(act, sigma_w2=root, sigma_b2=sigma_b2)
    if not abs(found - 1.0) <= math.sqrt(RELATIVE_TOLERANCE):
        raise InvalidArgument(
            f"activation={act.name!r} has no critical sigma_w2 at sigma_b2={sigma_b2}: chi_1 "
            f"jumps across 1 at sigma_w2 = {root:.6g} (it is {found:.3g} there)"
        )
    return root


@dataclass(frozen=True)
class MeanField:
    """Everything mean-field theory says about one ``(activation, sigma_w2, sigma_b2)``."""

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi1: float
    depth_scale: float
    regime: str

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def mean_field(
    activation: str | Activation, *, sigma_w2: float, sigma_b2: float = 0.0, q0: float = 1.0
) -> MeanField:
    """Fixed point, :math:`\\chi_1`, depth scale and regime in one record."""
    act = get_activation(activation)
    fp = fixed_point(act, sigma_w2=sigma_w2, sigma_b2=sigma_b2, q0=q0)
    c = _chi_at(act, sigma_w2, fp)
    return MeanField(
        act.name, float(sigma_w2), float(sigma_b2), fp.q_star, c, depth_scale(c), regime(c)
    )
