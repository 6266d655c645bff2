r"""Derivations of the classic initialisation scales, as :class:`~symcheck.prove.proof.Proof`
records.

* :func:`derive_critical_init`: the weight variance that keeps mean-field
  signal propagation critical for an activation. For positively homogeneous
  activations the second moment :math:`\mathbb E[\varphi(\sqrt q z)^2] = c\,q`
  is preserved iff :math:`\sigma_w^2 = 1/c`: He et al. (2015) for ReLU
  (:math:`\operatorname{Var} W = 2/n_{\text{in}}`), leaky ReLU
  (:math:`2/((1+a^2) n_{\text{in}})`), LeCun et al. (1998) for the identity
  (:math:`1/n_{\text{in}}`). For smooth odd-like activations with
  :math:`\varphi(0) = 0` (tanh, sin) the fixed point :math:`q^* = 0` is critical
  iff :math:`\sigma_w^2 \varphi'(0)^2 = 1`. Other activations get the numeric
  critical point and the verdict ``unknown``.
* :func:`derive_glorot`: Glorot & Bengio (2010): the forward condition
  :math:`n_{\text{in}} \operatorname{Var} W = 1`, the backward condition
  :math:`n_{\text{out}} \operatorname{Var} W = 1` and their compromise
  :math:`\operatorname{Var} W = 2/(n_{\text{in}} + n_{\text{out}})`.
* :func:`derive_preset`: :math:`\chi_1` of the classic presets
  (:data:`PRESETS`: "N(0, 0.01)" read as standard deviation 0.01 or as
  variance 0.01, and U(-0.01, 0.01)) at a given width, with the verdict.

Mean-field equations: Poole et al. (2016), Schoenholz et al. (2017); see
:mod:`symcheck.measure.scale`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sympy as sp

from symcheck.errors import InvalidArgument, choices_message
from symcheck.measure.gaussian import Q, closed_form
from symcheck.measure.scale import critical_sigma_w2, depth_scale, mean_field
from symcheck.model.activations import Activation, get_activation
from symcheck.prove.proof import PROVED, REFUTED, UNKNOWN, Proof, Residual, Step

__all__ = [
    "PRESETS",
    "Preset",
    "Recommendation",
    "catalogue",
    "critical_variance",
    "derive_critical_init",
    "derive_glorot",
    "derive_preset",
    "recommend_init",
]

_SW2 = sp.Symbol(r"sigma_w^2", positive=True)
_NIN = sp.Symbol("n_in", positive=True, integer=True)
_NOUT = sp.Symbol("n_out", positive=True, integer=True)
_VAR = sp.Symbol(r"\operatorname{Var}W", positive=True)

_MEAN_FIELD = (
    r"z^l_i = \sum_{k=1}^{n_{l-1}} W^l_{ik} h^{l-1}_k, \quad "
    r"W^l_{ik} \sim \mathcal N\!\left(0, \tfrac{\sigma_w^2}{n_{l-1}}\right)"
    r"\ \Longrightarrow\ q^l = \sigma_w^2\, \mathbb E_z\!\left[\varphi(\sqrt{q^{l-1}} z)^2\right]"
)
_CITE = "Poole et al. 2016; Schoenholz et al. 2017"


def _latex(expr: sp.Expr) -> str:
    return sp.latex(expr)


def _zero_residual(label: str, expr: sp.Expr) -> Residual:
    """Residual that must expand to zero; status ``zero`` only when it does."""
    normal = sp.expand(sp.cancel(expr))
    status = "zero" if normal == 0 else "nonzero"
    return Residual(label, str(normal), status, "expand")


@dataclass(frozen=True)
class _Route:
    """One way to derive the critical variance of an activation."""

    name: str
    applies: Callable[[Activation], bool]
    derive: Callable[[Activation], Proof]


def _homogeneous_constant(act: Activation) -> sp.Expr | None:
    second = closed_form(act, "second")
    if second is None:
        return None
    c = sp.cancel(second / Q)
    return c if not c.has(Q) and c != 0 else None


def _derive_homogeneous(act: Activation) -> Proof:
    second = closed_form(act, "second")
    slope = closed_form(act, "derivative")
    c = _homogeneous_constant(act)
    sw2 = 1 / c
    name = _RULE_NAMES.get(sw2, "He initialisation")
    steps = (
        Step(
            "Mean-field variance map",
            "Pre-activations are sums of many independent terms, hence Gaussian "
            f"in the wide limit ({_CITE}); biases are zero.",
            (_MEAN_FIELD,),
        ),
        Step(
            "Gaussian moments in closed form",
            "Integrated exactly through SymPy on the two half lines.",
            (
                rf"\mathbb E_z\!\left[{act.latex}(\sqrt q z)^2\right] = {_latex(second)}",
                rf"\mathbb E_z\!\left[{act.latex}'(\sqrt q z)^2\right] = {_latex(slope)}",
            ),
        ),
        Step(
            "Preserve the second moment",
            "The map is linear in q, so it keeps every q fixed iff its slope is 1.",
            (
                rf"q^l = {_latex(c)}\, \sigma_w^2\, q^{{l-1}} = q^{{l-1}}"
                rf"\iff \sigma_w^2 = {_latex(sw2)}"
                rf"\iff \operatorname{{Var}} W = \frac{{{_latex(sw2)}}}{{n_{{\text{{in}}}}}}",
            ),
        ),
        Step(
            "Gradients are critical at the same point",
            "chi_1 does not depend on q for a positively homogeneous activation.",
            (rf"\chi_1 = \sigma_w^2 \cdot {_latex(slope)} = {_latex(sw2 * slope)}",),
        ),
    )
    residual = _zero_residual(
        "sigma_w^2 E[phi(sqrt(q) z)^2] - q at the derived sigma_w^2", sw2 * second - Q
    )
    return _checked_proof(
        act,
        residual,
        theorem=f"{name} for {act.name}",
        statement=(
            f"For {act.name}, Var(W) = {_per_fan(sw2)} keeps the pre-activation second "
            "moment q^l constant through depth."
        ),
        steps=steps,
        conclusion=f"sigma_w^2 = {sw2}: Var(W) = {_per_fan(sw2)}; chi_1 = {sw2 * slope}.",
        facts={"sigma_w2": str(sw2), "chi1": str(sw2 * slope), "route": "homogeneous"},
    )


def _checked_proof(act: Activation, residual: Residual, **fields: Any) -> Proof:
    """A derivation proved iff its residual vanished, with the activation's assumptions."""
    return Proof(
        verdict=PROVED if residual.status == "zero" else REFUTED,
        assumptions=_assumptions(act),
        residuals=(residual,),
        **fields,
    )


def _per_fan(sw2: sp.Expr) -> str:
    return f"{sw2}/n_in" if sw2.is_integer else f"({sw2})/n_in"


def _slope_at_zero(act: Activation) -> sp.Expr:
    return sp.nsimplify(act.symbolic_derivative(sp.Integer(0)))


def _linearisable(act: Activation) -> bool:
    return act.analytic and act.at_zero == 0 and _slope_at_zero(act) != 0


def _derive_linearised(act: Activation) -> Proof:
    d0 = _slope_at_zero(act)
    sw2 = 1 / d0**2
    chi_at_zero = _SW2 * d0**2
    steps = (
        Step(
            "Mean-field variance map",
            f"Zero biases; wide-layer Gaussian limit ({_CITE}).",
            (_MEAN_FIELD,),
        ),
        Step(
            "q* = 0 is a fixed point",
            f"{act.name}(0) = 0, so the variance map sends 0 to 0.",
            (rf"\sigma_w^2\, {act.latex}(0)^2 = 0",),
        ),
        Step(
            "chi_1 at q* = 0",
            "At q = 0 the Gaussian collapses to 0 and only the slope at 0 remains.",
            (
                rf"\chi_1 = \sigma_w^2\, {act.latex}'(0)^2 = {_latex(chi_at_zero)}",
                rf"\chi_1 = 1 \iff \sigma_w^2 = {_latex(sw2)} "
                rf"\iff \operatorname{{Var}} W = \frac{{{_latex(sw2)}}}{{n_{{\text{{in}}}}}}",
            ),
        ),
    )
    residual = _zero_residual(
        "chi_1(q*=0) - 1 at the derived sigma_w^2", chi_at_zero.subs(_SW2, sw2) - 1
    )
    numeric = critical_sigma_w2(act)
    return _checked_proof(
        act,
        residual,
        theorem=f"{_RULE_NAMES.get(sw2, 'critical variance')} for {act.name}",
        statement=(
            f"For {act.name} with zero biases, Var(W) = {_per_fan(sw2)} makes the fixed point "
            "q* = 0 critical (chi_1 = 1)."
        ),
        steps=steps,
        conclusion=(
            f"sigma_w^2 = {sw2}: Var(W) = {_per_fan(sw2)}. At q* = 0 gradients decay only "
            "polynomially, not geometrically, with depth."
        ),
        facts={"sigma_w2": str(sw2), "numeric_critical_sigma_w2": numeric, "route": "linearised"},
    )


def _derive_numeric(act: Activation) -> Proof:
    numeric = critical_sigma_w2(act)
    mf = mean_field(act, sigma_w2=numeric)
    return Proof(
        theorem=f"critical variance for {act.name}",
        statement=f"For {act.name} with zero biases, chi_1 = 1 at sigma_w^2 = {numeric:.8g}.",
        verdict=UNKNOWN,
        assumptions=_assumptions(act),
        steps=(
            Step("Mean-field variance map", f"Zero biases ({_CITE}).", (_MEAN_FIELD,)),
            Step(
                "No closed form",
                f"{act.name} is not positively homogeneous and is not linearisable at a "
                "zero fixed point; the critical point is found numerically (quadrature "
                "and root finding in symcheck.measure.scale).",
                (rf"\sigma_w^2 \approx {numeric:.8g}, \quad q^* \approx {mf.q_star:.6g}",),
            ),
        ),
        residuals=(
            Residual(
                "abs(chi_1 - 1) at the numeric sigma_w^2",
                "< 1e-9" if abs(mf.chi1 - 1) < 1e-9 else f"{abs(mf.chi1 - 1):.1e}",
                "unknown",
                "numeric",
            ),
        ),
        conclusion=f"sigma_w^2 ~ {numeric:.6g} (numeric): Var(W) ~ {numeric:.6g}/n_in.",
        facts={"sigma_w2": numeric, "route": "numeric"},
    )


_RULE_NAMES = {sp.Integer(2): "He initialisation", sp.Integer(1): "LeCun initialisation"}

#: Routes tried in order; the first that applies derives the critical variance.
_ROUTES: tuple[_Route, ...] = (
    _Route("homogeneous", lambda a: _homogeneous_constant(a) is not None, _derive_homogeneous),
    _Route("linearised", _linearisable, _derive_linearised),
    _Route("numeric", lambda a: True, _derive_numeric),
)


def _assumptions(act: Activation) -> tuple[str, ...]:
    base = (
        "weights i.i.d. with mean 0 and variance sigma_w^2/n_in, zero biases",
        "wide layers: pre-activations Gaussian (mean-field limit)",
    )
    return base + ((act.convention,) if act.convention else ())


def _route(act: Activation) -> _Route:
    act.require_numeric()
    return next(r for r in _ROUTES if r.applies(act))


def derive_critical_init(activation: str | Activation) -> Proof:
    """The critical weight variance of an activation, derived (He, leaky He, LeCun, ...)."""
    return _derive_critical(get_activation(activation).name)


@lru_cache(maxsize=64)
def _derive_critical(name: str) -> Proof:
    act = get_activation(name)
    return _route(act).derive(act)


def critical_variance(activation: str | Activation) -> float:
    r"""The critical :math:`\sigma_w^2` of :func:`derive_critical_init`, as a float."""
    return float(sp.sympify(derive_critical_init(activation).facts["sigma_w2"]))


def derive_glorot(fan_in: int | None = None, fan_out: int | None = None) -> Proof:
    """Glorot & Bengio (2010): forward, backward and compromise conditions on Var(W)."""
    n_in = _NIN if fan_in is None else sp.Integer(_positive("fan_in", fan_in))
    n_out = _NOUT if fan_out is None else sp.Integer(_positive("fan_out", fan_out))
    compromise = 2 / (n_in + n_out)
    forward_gain = sp.cancel(n_in * compromise)
    backward_gain = sp.cancel(n_out * compromise)
    residual = _zero_residual(
        "forward and backward gains at the compromise, minus 1, when n_out = n_in",
        (forward_gain - 1).subs(_NOUT, _NIN) + (backward_gain - 1).subs(_NOUT, _NIN),
    )
    steps = (
        Step(
            "Linear regime",
            "Near 0 the activation is linear with unit slope (tanh, identity): phi'(0) = 1.",
            (r"\varphi(z) \approx z,\quad \varphi'(z) \approx 1",),
        ),
        Step(
            "Forward condition",
            "Each pre-activation sums n_in independent terms.",
            (
                r"\operatorname{Var} z^l = n_{\text{in}} \operatorname{Var} W\, "
                r"\operatorname{Var} h^{l-1} \ \Rightarrow\ n_{\text{in}} \operatorname{Var} W = 1",
            ),
        ),
        Step(
            "Backward condition",
            "Each back-propagated delta sums n_out independent terms.",
            (
                r"\delta^{l-1}_k = \varphi'(z^{l-1}_k) \sum_{i=1}^{n_{\text{out}}} W^l_{ik}"
                r" \delta^l_i \ \Rightarrow\ n_{\text{out}} \operatorname{Var} W = 1",
            ),
        ),
        Step(
            "Compromise",
            "Both hold only when n_in = n_out; average the two conditions.",
            (
                rf"\operatorname{{Var}} W = {_latex(compromise)}, \quad "
                rf"n_{{\text{{in}}}} \operatorname{{Var}} W = {_latex(forward_gain)}, \quad "
                rf"n_{{\text{{out}}}} \operatorname{{Var}} W = {_latex(backward_gain)}",
                r"W \sim U(-a, a),\ a = \sqrt{\frac{6}{n_{\text{in}} + n_{\text{out}}}}"
                r"\ \text{ has this variance } (a^2/3)",
            ),
        ),
    )
    return Proof(
        theorem="Glorot initialisation",
        statement=(
            "Var(W) = 2/(n_in + n_out) satisfies the forward and backward conditions "
            "exactly when n_in = n_out, and averages them otherwise."
        ),
        verdict=PROVED if residual.status == "zero" else REFUTED,
        network="" if fan_in is None else f"{fan_in} -> {fan_out}",
        assumptions=(
            "weights i.i.d. with mean 0, zero biases, inputs and deltas independent of W",
            "linear regime of the activation: phi'(0) = 1",
        ),
        steps=steps,
        residuals=(residual,),
        conclusion=f"Var(W) = {compromise}; U(-a, a) with a = sqrt(6/(n_in + n_out)).",
        facts={
            "variance": str(compromise),
            "forward_gain": str(forward_gain),
            "backward_gain": str(backward_gain),
        },
    )


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{name}={value!r} must be a positive int")
    return value


@dataclass(frozen=True)
class Preset:
    """A classic initialisation preset: its reading and its exact weight variance."""

    name: str
    reading: str
    variance: sp.Rational


#: The presets of the classic slide, named as in :mod:`symcheck.model.init`.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "classic_normal", "N(0, 0.01) read as standard deviation 0.01", sp.Rational(1, 100) ** 2
        ),
        Preset("classic_normal_variance", "N(0, 0.01) read as variance 0.01", sp.Rational(1, 100)),
        Preset(
            "classic_uniform",
            "U(-0.01, 0.01): variance a^2/3 with a = 0.01",
            sp.Rational(1, 100) ** 2 / 3,
        ),
    )
}


def derive_preset(preset: str, *, activation: str | Activation, width: int) -> Proof:
    r""":math:`\chi_1` of a classic preset at a width, and whether gradients vanish.

    :math:`\sigma_w^2 = n \operatorname{Var} W` exactly. :math:`\chi_1` is exact
    for homogeneous activations, exact at :math:`q^* = 0` for linearisable ones
    below the critical point (:math:`|\varphi(u)| \le |\varphi'(0) u|` sends
    :math:`q` to 0), and numeric (quadrature) otherwise.
    """
    if preset not in PRESETS:
        raise InvalidArgument(choices_message("preset", preset, PRESETS))
    act = get_activation(activation)
    act.require_numeric()
    n = _positive("width", width)
    p = PRESETS[preset]
    sw2 = n * p.variance
    route = _route(act).name
    slope = closed_form(act, "derivative") if route == "homogeneous" else None
    exact_chi = None
    if slope is not None:
        exact_chi = sw2 * slope
    elif route == "linearised" and sw2 * _slope_at_zero(act) ** 2 < 1:
        exact_chi = sw2 * _slope_at_zero(act) ** 2
    chi = float(exact_chi) if exact_chi is not None else mean_field(act, sigma_w2=float(sw2)).chi1
    xi = depth_scale(chi)
    vanishing = chi < 1
    method = "exact" if exact_chi is not None else "numeric"
    chi_text = _latex(exact_chi) if exact_chi is not None else f"{chi:.6g}"
    fix = recommend_init(act)
    steps = (
        Step("The preset", p.reading, (rf"\operatorname{{Var}} W = {_latex(p.variance)}",)),
        Step(
            "Effective sigma_w^2 at this width",
            "Mean-field theory measures the weight scale by n Var(W).",
            (
                rf"\sigma_w^2 = n \operatorname{{Var}} W = {n} \cdot {_latex(p.variance)}"
                rf" = {_latex(sw2)}",
            ),
        ),
        Step(
            "chi_1",
            f"{method.capitalize()} value for {act.name} with zero biases"
            + (
                f"; |{act.name}(u)| <= |{act.name}'(0) u| and sigma_w^2 {act.name}'(0)^2 < 1 "
                "send q^l to q* = 0, where chi_1 = sigma_w^2 phi'(0)^2."
                if route == "linearised" and exact_chi is not None
                else "."
            ),
            (
                rf"\chi_1 = {chi_text} \approx {chi:.6g}, \quad \xi = -1/\ln\chi_1 "
                rf"\approx {xi:.4g}",
            ),
        ),
        Step(
            "Verdict",
            "The squared gradient norm is multiplied by chi_1 at each layer it crosses.",
            (rf"\|\nabla_{{W^1}}\|^2 \propto \chi_1^{{L-1}} = ({chi:.4g})^{{L-1}}",),
        ),
    )
    regime = "vanishing" if vanishing else ("critical" if chi == 1 else "exploding")
    return Proof(
        theorem=f"{preset} at width {n}",
        statement=(
            f"{p.reading}, at width {n} with {act.name}, makes gradients vanish "
            "geometrically with depth (chi_1 < 1)."
        ),
        verdict=PROVED if vanishing else REFUTED,
        network=f"width {n}, {act.name}",
        assumptions=_assumptions(act),
        steps=steps,
        residuals=(
            Residual("chi_1 - 1", f"{chi - 1:.6g}", "nonzero" if chi != 1 else "zero", method),
        ),
        conclusion=f"{regime}: chi_1 = {chi:.6g}; fix: {fix.text}.",
        facts={
            "sigma_w2": str(sw2),
            "chi1": chi,
            "depth_scale": xi,
            "regime": regime,
            "fix": fix.text,
        },
    )


@dataclass(frozen=True)
class Recommendation:
    """The initialiser of :mod:`symcheck.model.init` that makes an activation critical."""

    name: str
    options: dict[str, float]
    sigma_w2: float

    @property
    def text(self) -> str:
        opts = ", ".join(f"{k}={v:.6g}" for k, v in self.options.items())
        call = f"{self.name}({opts})" if opts else self.name
        return f"{call} (Var(W) = {self.sigma_w2:.6g}/n_in)"


def recommend_init(activation: str | Activation) -> Recommendation:
    r"""Name the initialiser whose :math:`n_{\text{in}} \operatorname{Var} W` is critical.

    PyTorch's ``kaiming_normal(a=...)`` has :math:`\sigma_w^2 = 2/(1+a^2)`, so
    every critical :math:`\sigma_w^2 \in [1, 2]` is one of its settings
    (:math:`a = 0`: He; :math:`a = 1`: LeCun, named ``lecun_normal``); others
    use ``variance_scaling`` with ``scale`` :math:`= \sigma_w^2`.
    """
    sw2 = critical_variance(activation)
    if math.isclose(sw2, 2.0, rel_tol=1e-12):
        return Recommendation("kaiming_normal", {}, sw2)
    if math.isclose(sw2, 1.0, rel_tol=1e-12):
        return Recommendation("lecun_normal", {}, sw2)
    if 1.0 < sw2 < 2.0:
        return Recommendation("kaiming_normal", {"a": math.sqrt(2.0 / sw2 - 1.0)}, sw2)
    return Recommendation("variance_scaling", {"scale": sw2}, sw2)


#: Activations, preset widths and preset activations of :func:`catalogue`.
CATALOGUE_ACTIVATIONS = ("relu", "leaky_relu", "identity", "tanh", "sin", "sigmoid")
CATALOGUE_WIDTHS = (32, 256, 512)


@lru_cache(maxsize=1)
def catalogue() -> tuple[Proof, ...]:
    """Every derivation of this module: the generated ``proofs/scale_derivations.md``."""
    critical = tuple(derive_critical_init(a) for a in CATALOGUE_ACTIVATIONS)
    presets = tuple(
        derive_preset(p, activation=a, width=n)
        for p in PRESETS
        for a in ("tanh", "relu")
        for n in CATALOGUE_WIDTHS
    )
    return (*critical, derive_glorot(), derive_glorot(784, 256), *presets)
