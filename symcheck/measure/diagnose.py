r"""Diagnose the scale of a concrete initialised network, beside mean-field theory.

Sample inputs :math:`x \sim \mathcal N(0, I)` and targets suited to the loss
(:data:`TARGETS`), run the NumPy engine forward and backward, and report per
layer :math:`l = 1..L`:

* the pre-activation second moment :math:`q^l = \operatorname{mean}(z^l)^2`;
* the **saturation fraction** of hidden units, :math:`|\varphi'(z)| < \varepsilon`
  with :math:`\varepsilon = 1 - 0.99^2 = 0.0199` by default (for tanh exactly
  :math:`|h| > 0.99`), reported only for activations whose derivative vanishes
  at both tails (tanh, sigmoid: :func:`saturates`);
* the **gradient norm**, the root mean square over samples of the per-sample
  :math:`\|\partial \ell / \partial W^l\|_F = \|\delta^l\|\,\|h^{l-1}\|`;
* the **back-propagated gradient** :math:`\|\delta^l\| = \|\partial \ell/\partial z^l\|`
  (root mean square over samples);
* the **backward gain** :math:`\mathbb E\|\delta^l\|^2 / \mathbb E\|\delta^{l+1}\|^2`
  of each hidden layer, which mean-field theory predicts to be
  :math:`\chi_l = \sigma_{w,l+1}^2\, \mathbb E[\varphi'(\sqrt{q^l} z)^2]`;

and beside each the mean-field prediction, computed from the weights' own
:math:`\sigma_{w,l}^2 = n_{l-1} \operatorname{mean}(W^l)^2`,
:math:`\sigma_{b,l}^2 = \operatorname{mean}(b^l)^2` and the measured
:math:`\operatorname{mean}(x^2)` (the gradient prediction assumes deltas
independent of activations, Schoenholz et al. 2017).

The **verdict**, from measured values, in this order:

1. ``saturating``: the activation saturates and the mean saturation fraction of
   the hidden layers exceeds ``saturation_limit`` (default 0.1);
2. ``vanishing`` / ``exploding``: the geometric mean over hidden layers of the
   **relative gain**, the measured backward gain divided by the gain
   ``gain_critical`` that mean-field theory predicts for the critical
   initialiser of the activation on the same inputs, is below
   :math:`1/\beta` / above :math:`\beta` (``gain_band``, :math:`\beta = 2` by
   default): the squared gradient halves (doubles) at every layer relative to
   the critical initialiser. (The reference matters: tanh at its critical
   :math:`\sigma_w^2 = 1` with :math:`q = 1` inputs already has
   :math:`\chi = 0.46` in its first layers, rising towards 1 with depth.)
3. ``healthy`` otherwise.

The fix is the critical initialiser of :func:`symcheck.prove.scale_derive.recommend_init`,
and :func:`diagnose_init` checks it by diagnosing the network again with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import Any

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.limits import LIMITS
from symcheck.measure.gaussian import moment
from symcheck.measure.numeric import as_params, backward, forward_trace
from symcheck.model.activations import Activation, get_activation
from symcheck.model.init import Initializer, get_initializer, initialize, variance_scaling
from symcheck.model.network import Network, require_network
from symcheck.prove.scale_derive import Recommendation, critical_variance, recommend_init

__all__ = [
    "EPSILON",
    "TARGETS",
    "VERDICTS",
    "Diagnosis",
    "LayerReport",
    "check_numeric_size",
    "diagnose",
    "diagnose_fix",
    "diagnose_init",
    "sample_data",
    "saturates",
    "saturation_probability",
]

NDArray = np.ndarray

#: Default saturation threshold on :math:`|\varphi'(z)|`: tanh's :math:`|h| > 0.99`.
EPSILON = 1.0 - 0.99**2
#: Default limit on the mean saturation fraction above which the verdict is ``saturating``.
SATURATION_LIMIT = 0.1
#: Default band :math:`\beta` of the per-layer backward gain: healthy in :math:`[1/\beta, \beta]`.
GAIN_BAND = 2.0
VERDICTS = ("saturating", "vanishing", "exploding", "healthy")
#: Where :func:`saturates` probes the tails of :math:`\varphi'`.
_TAIL = 40.0

#: Targets for the diagnosis by output map: ``(rng, batch, n_out) -> y``.
TARGETS: dict[str, Callable[[np.random.Generator, int, int], NDArray]] = {
    "identity": lambda rng, b, n: rng.standard_normal((b, n)),
    "softmax": lambda rng, b, n: np.eye(n)[rng.integers(0, n, size=b)],
    "sigmoid": lambda rng, b, n: rng.integers(0, 2, size=(b, n)).astype(np.float64),
}


def check_numeric_size(network: Network, *, samples: int) -> None:
    """Raise :class:`InvalidArgument` unless a numeric pass of ``samples`` inputs is bounded.

    Checked before anything is allocated: ``samples`` a positive int at most
    ``LIMITS.samples``, the parameter count at most ``LIMITS.numeric_parameters``
    and ``samples * sum(widths)`` (the floats of one forward pass) at most
    ``LIMITS.numeric_floats`` (:mod:`symcheck.limits`).
    """
    require_network(network)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise InvalidArgument(f"samples={samples!r} must be a positive int, e.g. 256")
    if samples > LIMITS.samples:
        raise InvalidArgument(
            f"samples={samples} exceeds the limit of {LIMITS.samples}; a few hundred samples "
            "estimate the moments well, e.g. 256"
        )
    if network.parameter_count > LIMITS.numeric_parameters:
        raise InvalidArgument(
            f"network {network.spec} has {network.parameter_count} parameters, beyond the "
            f"numeric limit of {LIMITS.numeric_parameters}; mean-field theory "
            "(symcheck.mean_field) needs no network"
        )
    floats = samples * sum(network.widths)
    if floats > LIMITS.numeric_floats:
        raise InvalidArgument(
            f"samples={samples} on network {network.spec} needs {floats} floats per pass, "
            f"beyond the limit of {LIMITS.numeric_floats}; use fewer samples (at most "
            f"{max(1, LIMITS.numeric_floats // sum(network.widths))}) or narrower layers"
        )


def sample_data(
    network: Network, *, rng: np.random.Generator, samples: int = 256
) -> tuple[NDArray, NDArray]:
    r"""Inputs :math:`x \sim \mathcal N(0, I)` and targets of :data:`TARGETS` for the loss."""
    check_numeric_size(network, samples=samples)
    x = rng.standard_normal((samples, network.widths[0]))
    y = TARGETS[network.loss_fn.output](rng, samples, network.widths[-1])
    return x, y


def saturates(activation: Activation, *, epsilon: float = EPSILON) -> bool:
    r"""True when :math:`|\varphi'| < \varepsilon` at both tails (:math:`z = \pm 40`)."""
    tails = np.abs(activation.numpy_derivative(np.array([-_TAIL, _TAIL])))
    return bool(np.all(tails < epsilon))


def _threshold(activation: Activation, sign: float, epsilon: float) -> float:
    return _cached_threshold(activation.name, sign, epsilon)


@lru_cache(maxsize=256)
def _cached_threshold(name: str, sign: float, epsilon: float) -> float:
    """The t >= 0 with |phi'(sign t)| = epsilon, by bisection (|phi'| decreasing in t)."""
    activation = get_activation(name)
    lo, hi = 0.0, _TAIL
    if abs(float(activation.numpy_derivative(np.array(0.0)))) < epsilon:
        return 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if abs(float(activation.numpy_derivative(np.array(sign * mid)))) < epsilon:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def saturation_probability(activation: Activation, q: float, *, epsilon: float = EPSILON) -> float:
    r""":math:`P(|\varphi'(\sqrt q z)| < \varepsilon)` for a saturating activation.

    With :math:`t_\pm` the thresholds where :math:`|\varphi'(\pm t)| = \varepsilon`,
    :math:`P = \tfrac12 \operatorname{erfc}(t_+/\sqrt{2q})
    + \tfrac12\operatorname{erfc}(t_-/\sqrt{2q})`.
    """
    if q <= 0:
        return 0.0 if abs(float(activation.numpy_derivative(np.array(0.0)))) >= epsilon else 1.0
    return sum(
        0.5 * math.erfc(_threshold(activation, s, epsilon) / math.sqrt(2.0 * q))
        for s in (1.0, -1.0)
    )


@dataclass(frozen=True)
class LayerReport:
    """Measured values of one layer and the mean-field prediction beside each.

    ``saturation*`` and ``gain*`` are ``None`` where they do not apply (the
    output layer; activations that do not saturate).
    """

    layer: int
    width: int
    activation: str
    sigma_w2: float
    sigma_b2: float
    q: float
    q_pred: float
    grad_norm: float
    grad_norm_pred: float
    delta_norm: float
    delta_norm_pred: float
    saturation: float | None = None
    saturation_pred: float | None = None
    gain: float | None = None
    gain_pred: float | None = None
    gain_critical: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Diagnosis:
    """The per-layer report, the verdict with its reason, and the fix."""

    network: str
    init: str
    samples: int
    epsilon: float
    layers: tuple[LayerReport, ...]
    verdict: str
    reason: str
    gain: float
    fix: str = ""
    fix_verdict: str = ""
    settings: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "init": self.init,
            "samples": self.samples,
            "epsilon": self.epsilon,
            "verdict": self.verdict,
            "reason": self.reason,
            "gain": self.gain,
            "fix": self.fix,
            "fix_verdict": self.fix_verdict,
            "settings": dict(self.settings),
            "layers": [layer.to_dict() for layer in self.layers],
        }


def _mean_square(a: NDArray | None) -> float:
    return 0.0 if a is None else float(np.mean(np.square(a)))


def _sq_norms(a: NDArray) -> NDArray:
    return np.sum(np.square(a), axis=1)


def _ratio(num: float, den: float) -> float:
    if den == 0:
        return math.inf if num > 0 else (1.0 if num == 0 else 0.0)
    return num / den


def diagnose(
    network: Network,
    params: Sequence,
    x: object,
    y: object,
    *,
    init: str = "given",
    epsilon: float = EPSILON,
    saturation_limit: float = SATURATION_LIMIT,
    gain_band: float = GAIN_BAND,
) -> Diagnosis:
    """Measure one initialised network on data ``(x, y)`` and give the verdict."""
    if network.is_abstract:
        raise InvalidArgument(
            f"network {network} is abstract; the scale diagnosis needs numeric activations and loss"
        )
    if not 0 < epsilon < 1 or not 0 < saturation_limit < 1 or not gain_band > 1:
        raise InvalidArgument(
            f"epsilon={epsilon!r} and saturation_limit={saturation_limit!r} must lie in (0, 1) "
            f"and gain_band={gain_band!r} must exceed 1"
        )
    ps = as_params(network, params)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        trace = forward_trace(network, ps, x)
        _, deltas = backward(network, ps, trace, y)
        layers = _layer_reports(network, ps, trace, deltas, epsilon)
    return _verdict(network, layers, init, len(trace.post[0]), epsilon, saturation_limit, gain_band)


def _layer_reports(
    network: Network, ps: list, trace: Any, deltas: list[NDArray], epsilon: float
) -> tuple[LayerReport, ...]:
    depth = network.depth
    sw2 = [network.widths[i] * _mean_square(w) for i, (w, _) in enumerate(ps)]
    sb2 = [_mean_square(b) for _, b in ps]
    acts = [network.activation(k) for k in network.hidden_layers]
    # forward prediction: q^k and E[h^{k-1}^2]
    h2_pred = [_mean_square(trace.post[0])]
    q_pred: list[float] = []
    for k in range(depth):
        q_pred.append(sw2[k] * h2_pred[-1] + sb2[k])
        if k < depth - 1:
            h2_pred.append(moment(acts[k], "second", q_pred[-1]))
    gain_pred = [sw2[k + 1] * moment(acts[k], "derivative", q_pred[k]) for k in range(depth - 1)]
    # backward: measured squared delta norms and their prediction from the output delta
    d2 = [float(np.mean(_sq_norms(d))) for d in deltas]
    d2_pred = [0.0] * depth
    d2_pred[-1] = d2[-1]
    for k in range(depth - 2, -1, -1):
        d2_pred[k] = d2_pred[k + 1] * gain_pred[k]
    critical = _critical_gains(acts, h2_pred[0])
    reports = []
    for k in range(depth):
        width_in = network.widths[k]
        grad = math.sqrt(float(np.mean(_sq_norms(deltas[k]) * _sq_norms(trace.post[k]))))
        hidden = k < depth - 1
        act = acts[k] if hidden else None
        sat = sat_pred = None
        if act is not None and saturates(act, epsilon=epsilon):
            sat = float(np.mean(np.abs(act.numpy_derivative(trace.pre[k])) < epsilon))
            sat_pred = saturation_probability(act, q_pred[k], epsilon=epsilon)
        reports.append(
            LayerReport(
                layer=k + 1,
                width=network.widths[k + 1],
                activation=act.name if act is not None else f"output ({network.loss})",
                sigma_w2=sw2[k],
                sigma_b2=sb2[k],
                q=_mean_square(trace.pre[k]),
                q_pred=q_pred[k],
                grad_norm=grad,
                grad_norm_pred=math.sqrt(d2_pred[k] * width_in * h2_pred[k]),
                delta_norm=math.sqrt(d2[k]),
                delta_norm_pred=math.sqrt(d2_pred[k]),
                saturation=sat,
                saturation_pred=sat_pred,
                gain=_ratio(d2[k], d2[k + 1]) if hidden else None,
                gain_pred=gain_pred[k] if hidden else None,
                gain_critical=critical[k] if hidden else None,
            )
        )
    return tuple(reports)


def _critical_gains(acts: list[Activation], x2: float) -> list[float]:
    """Mean-field backward gains of the critical initialiser on inputs with mean(x^2) = x2."""
    gains = []
    q = critical_variance(acts[0]) * x2
    for act in acts:
        sw2 = critical_variance(act)
        gains.append(sw2 * moment(act, "derivative", q))
        q = sw2 * moment(act, "second", q)
    return gains


def _verdict(
    network: Network,
    layers: tuple[LayerReport, ...],
    init: str,
    samples: int,
    epsilon: float,
    saturation_limit: float,
    gain_band: float,
) -> Diagnosis:
    hidden = [r for r in layers if r.gain is not None]
    gains = [r.gain / r.gain_critical for r in hidden]
    if not all(math.isfinite(g) for g in gains):
        gain = math.inf
    else:
        gain = 0.0 if min(gains) == 0 else math.exp(sum(math.log(g) for g in gains) / len(gains))
    sats = [r.saturation for r in hidden if r.saturation is not None]
    sat = sum(sats) / len(sats) if sats else 0.0
    if not all(math.isfinite(v) for r in layers for v in (r.q, r.delta_norm)):
        verdict = "exploding"
        reason = "activations or gradients overflow float64: the weights are far too large"
    elif sats and sat > saturation_limit:
        verdict = "saturating"
        reason = (
            f"{sat:.1%} of hidden units have |phi'(z)| < {epsilon:.4g} "
            f"(limit {saturation_limit:.0%}): the weights are too large"
        )
    elif gain < 1 / gain_band:
        verdict = "vanishing"
        reason = (
            f"per layer the squared gradient norm shrinks {1 / gain:.3g} times more than "
            f"under the critical initialiser (healthy within a factor {gain_band:g}): "
            "the weights are too small"
            if gain > 0
            else "no gradient reaches the first hidden layer (all hidden deltas vanish)"
        )
    elif gain > gain_band:
        verdict = "exploding"
        reason = (
            f"per layer the squared gradient norm grows {gain:.3g} times more than "
            f"under the critical initialiser (healthy within a factor {gain_band:g}): "
            "the weights are too large"
        )
    else:
        verdict = "healthy"
        reason = (
            f"per-layer backward gain {gain:.3g} times that of the critical initialiser, "
            f"within a factor {gain_band:g}"
        )
        if sats:
            reason += f"; {sat:.1%} of hidden units saturated"
    fix = "" if verdict == "healthy" else recommend_init(network.activation(1)).text
    return Diagnosis(
        network=str(network),
        init=init,
        samples=samples,
        epsilon=epsilon,
        layers=layers,
        verdict=verdict,
        reason=reason,
        gain=gain,
        fix=fix,
        settings={"saturation_limit": saturation_limit, "gain_band": gain_band},
    )


def _initializer(rec: Recommendation) -> Initializer | str:
    if rec.name == "variance_scaling":
        return Initializer(
            "variance_scaling",
            partial(variance_scaling, mode="fan_in", distribution="normal"),
            True,
            False,
            "N(0, scale/fan_in)",
        )
    return rec.name


def _describe(init: str, options: Mapping[str, float]) -> str:
    opts = ", ".join(f"{k}={v:g}" for k, v in options.items())
    return f"{init}({opts})" if opts else init


def diagnose_init(
    network: Network,
    init: str,
    *,
    rng: np.random.Generator,
    samples: int = 256,
    bias: float = 0.0,
    options: Mapping[str, float] | None = None,
    scale: float = 1.0,
    check_fix: bool = True,
    **settings: float,
) -> Diagnosis:
    """Initialise ``network`` with a :mod:`symcheck.model.init` scheme and diagnose it.

    ``options`` go to the initialiser (``{"std": 0.01}`` for ``normal``);
    ``scale`` multiplies every weight matrix afterwards (for scale sweeps). With
    ``check_fix`` the recommended initialiser is diagnosed too, on fresh draws
    from ``rng``, and its verdict recorded in ``fix_verdict``.
    """
    opts = dict(options or {})
    get_initializer(init)
    check_numeric_size(network, samples=samples)
    if not isinstance(rng, np.random.Generator):
        raise InvalidArgument(
            f"rng={rng!r} must be a numpy.random.Generator, e.g. numpy.random.default_rng(0)"
        )
    x, y = sample_data(network, rng=rng, samples=samples)
    params = _scaled(initialize(network, init, rng=rng, bias=bias, **opts), scale)
    label = _describe(init, opts) + (f" x {scale:g}" if scale != 1.0 else "")
    found = diagnose(network, params, x, y, init=label, **settings)
    if not check_fix or found.verdict == "healthy":
        return found
    again = _diagnose_fix(network, x, y, rng=rng, **settings)
    return replace(found, fix_verdict=again.verdict)


def _diagnose_fix(
    network: Network, x: NDArray, y: NDArray, *, rng: np.random.Generator, **settings: float
) -> Diagnosis:
    rec = recommend_init(network.activation(1))
    fixed = initialize(network, _initializer(rec), rng=rng, bias=0.0, **rec.options)
    return diagnose(network, fixed, x, y, init=rec.text, **settings)


def diagnose_fix(
    network: Network, *, rng: np.random.Generator, samples: int = 256, **settings: float
) -> Diagnosis:
    """Diagnose ``network`` initialised with its recommended (critical) initialiser.

    The fix uses zero biases and its own options; ``settings`` are those of
    :func:`diagnose` (``epsilon``, ``saturation_limit``, ``gain_band``).
    """
    x, y = sample_data(network, rng=rng, samples=samples)
    return _diagnose_fix(network, x, y, rng=rng, **settings)


def _scaled(params: list, scale: float) -> list:
    if not math.isfinite(scale) or scale <= 0:
        raise InvalidArgument(f"scale={scale!r} must be a positive finite factor")
    return [(w * scale, b) for w, b in params]
