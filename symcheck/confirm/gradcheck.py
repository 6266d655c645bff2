r"""Check numeric gradients against central differences and the complex step.

**Complex step** (Squire & Trapp, 1998): for a real-analytic loss,
:math:`\partial L/\partial\theta_j = \operatorname{Im} L(\theta + i h e_j)/h + O(h^2)`
with no subtractive cancellation, so :math:`h = 10^{-30}` gives the
derivative to rounding accuracy. Only for analytic activations and losses.

**Central differences**: :math:`D(h) = (L(\theta + h e_j) - L(\theta - h e_j))/2h`
with :math:`h = \epsilon^{1/3}\max(1, |\theta_j|)`. Its error is
:math:`\tfrac{h^2}{6} L''' + O(h^4)` (truncation) plus :math:`\epsilon_L/h` (rounding,
:math:`\epsilon_L` the rounding error of :math:`L`). Since the truncation
term scales with :math:`h^2`, :math:`D(2h) - D(h) \approx 3\,(D(h) - L')`, so
the allowed error is

.. math::

    |D(h) - g_j| \le |D(2h) - D(h)| + 2\,\epsilon_L/h,

an error estimate read off the data (Richardson), not a constant.
**Kinks**: for ReLU-type activations a coordinate is skipped when any
pre-activation is exactly 0 at :math:`\theta` or changes sign anywhere in
:math:`\theta \pm 2h e_j`: a difference never straddles a kink.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.measure import numeric
from symcheck.model.network import Network
from symcheck.model.neurons import gradient_rows, rounding_tolerance, tied_pairs
from symcheck.model.tree import leaves, unflatten

__all__ = [
    "Mismatch",
    "central_difference_check",
    "complex_step_gradients",
    "gradient_scale",
    "resolvable_deltas",
    "tied_gradient_rows",
]

NDArray = np.ndarray
_EPS = float(np.finfo(np.float64).eps)
_CS_STEP = 1e-30


@dataclass(frozen=True)
class Mismatch:
    """A coordinate where the gradient disagrees with the reference beyond tolerance."""

    array: int
    index: tuple[int, ...]
    gradient: float
    reference: float
    tolerance: float


def _perturbed(params: Sequence, array: int, index: tuple[int, ...], delta: complex) -> list:
    arrays = leaves(params)
    dtype = np.result_type(arrays[array].dtype, type(delta))
    changed = arrays[array].astype(dtype, copy=True)
    changed[index] += delta
    arrays = [*arrays[:array], changed, *arrays[array + 1 :]]
    return unflatten(params, arrays)


def complex_step_gradients(network: Network, params: Sequence, x: object, y: object) -> list:
    r"""The gradient by the complex step, :math:`\operatorname{Im} L(\theta + ihe_j)/h`."""
    bad = [
        network.activation(layer).name
        for layer in network.hidden_layers
        if not network.activation(layer).analytic
    ]
    if bad or not network.loss_fn.analytic:
        raise InvalidArgument(
            f"network {network} is not analytic ({bad or network.loss}); the complex step "
            "needs analytic activations and loss; use central_difference_check instead"
        )
    ps = numeric.as_params(network, params)
    out = []
    for a, arr in enumerate(leaves(ps)):
        g = np.empty(arr.shape)
        for index in np.ndindex(arr.shape):
            shifted = _perturbed(ps, a, index, 1j * _CS_STEP)
            g[index] = numeric.loss(network, shifted, x, y, dtype=np.complex128).imag / _CS_STEP
        out.append(g)
    return unflatten(ps, out)


def _signs(network: Network, params: Sequence, x: object) -> list[NDArray]:
    trace = numeric.forward_trace(network, params, x)
    return [np.sign(z) for z in trace.pre[:-1]]


def _crosses_kink(
    network: Network, params: Sequence, x: object, a: int, index: tuple, h: float
) -> bool:
    if all(network.activation(layer).analytic for layer in network.hidden_layers):
        return False
    base = _signs(network, params, x)
    if any(np.any(s == 0) for s in base):
        return True
    for delta in (-2 * h, -h, h, 2 * h):
        moved = _signs(network, _perturbed(params, a, index, delta), x)
        if any(np.any(m != s) for m, s in zip(moved, base)):
            return True
    return False


def _loss_sensitivity(network: Network, params: Sequence, x: object, y: object) -> float:
    r"""How far rounding of the pre-activations can move :math:`L`.

    The bound is :math:`\sum_l \max|\delta^l|\, n_l Z_l`, where
    :math:`Z_l = \max (|W^l|\,|h^{l-1}| + |b^l|)` is the sum of the absolute
    terms of a pre-activation (the condition of its dot product), with
    :math:`|y|` added at the output, where :math:`z^L - y` may cancel.
    """
    trace = numeric.forward_trace(network, params, x)
    _, deltas = numeric.backward(network, params, trace, y)
    batch = trace.post[0].shape[0]
    yy = np.asarray(y, dtype=np.float64).reshape(batch, network.widths[-1])
    z_terms = _abs_terms(params, trace)
    z_terms[-1] += float(np.max(np.abs(yy)))
    return sum(float(np.max(np.abs(d))) * d.shape[1] * terms for d, terms in zip(deltas, z_terms))


def central_difference_check(
    network: Network, params: Sequence, x: object, y: object, grads: Sequence
) -> tuple[list[Mismatch], int]:
    """Compare ``grads`` with central differences; return ``(mismatches, skipped)``.

    ``skipped`` counts coordinates left out because a difference would cross
    a ReLU kink (see the module docstring for the tolerance).
    """
    ps = numeric.as_params(network, params)
    gs = leaves(numeric.as_params(network, grads))
    batch = numeric.forward_trace(network, ps, x).post[0].shape[0]
    sensitivity = _loss_sensitivity(network, ps, x, y)
    mismatches: list[Mismatch] = []
    skipped = 0
    for a, arr in enumerate(leaves(ps)):
        for index in np.ndindex(arr.shape):
            h = _EPS ** (1 / 3) * max(1.0, abs(float(arr[index])))
            if _crosses_kink(network, ps, x, a, index, h):
                skipped += 1
                continue

            values = {
                step: float(numeric.loss(network, _perturbed(ps, a, index, step), x, y))
                for step in (-2 * h, -h, h, 2 * h)
            }
            d1 = (values[h] - values[-h]) / (2 * h)
            d2 = (values[2 * h] - values[-2 * h]) / (4 * h)
            scale = max(abs(v) for v in values.values()) + sensitivity
            loss_error = rounding_tolerance(network, scale=scale, batch=batch)
            tol = abs(d2 - d1) + 2 * loss_error / h
            g = float(gs[a][index])
            if abs(d1 - g) > tol:
                mismatches.append(Mismatch(a, tuple(int(i) for i in index), g, d1, tol))
    return mismatches, skipped


#: A bound on :math:`|\varphi''|` over every activation of the registry (square: 2).
_MAX_CURVATURE = 2.0


def _abs_terms(params: Sequence, trace: numeric.Trace) -> list[float]:
    """Per layer, the largest sum of absolute terms of a pre-activation, :math:`Z_l`."""
    return [
        float(np.max(np.abs(h) @ np.abs(w).T + (0.0 if b is None else np.abs(b))))
        for (w, b), h in zip(params, trace.post)
    ]


def gradient_scale(network: Network, params: Sequence, x: object, y: object) -> float:
    r"""Magnitude :math:`S` of the terms (and their errors) in any gradient entry.

    Rounding errors scale with the absolute terms of a sum, not with its
    possibly cancelled value, and propagate relatively through products.
    With :math:`Z_l = \max(|W^l|\,|h^{l-1}| + |b^l|)` (the error scale of
    :math:`z^l`), the terms of :math:`\delta^L` are bounded by
    :math:`A_L = \max(Z_L, |\hat y|\max(1, |\sum_k y_k|), |y|)` (the MSE, softmax
    and sigmoid forms) and, going down,
    :math:`A_l = n_{l+1} \max|W^{l+1}|\,(\max|\varphi_l'| + 2 Z_l) A_{l+1}`
    (the :math:`2 Z_l` term is the error of :math:`\varphi'(z^l)` caused by the
    error of :math:`z^l`, since :math:`|\varphi''| \le 2` for every registered
    activation). Activations contribute
    :math:`H_l = \max(|h^l|, \max|\varphi_l'| Z_l)` (:math:`H_0 = |x|`), at
    least 1 with biases (a bias gradient is :math:`\delta \cdot 1`). Then
    :math:`S = \max_l A_l H_{l-1}`: the scale for
    :func:`symcheck.model.neurons.rounding_tolerance` when comparing gradients.
    """
    ps = numeric.as_params(network, params)
    trace = numeric.forward_trace(network, ps, x)
    batch = trace.post[0].shape[0]
    yy = np.asarray(y, dtype=np.float64).reshape(batch, network.widths[-1])
    y_hat = numeric.forward(network, ps, x)
    z_terms = _abs_terms(ps, trace)
    slopes = [
        float(np.max(np.abs(network.activation(layer).numpy_derivative(trace.pre[layer - 1]))))
        for layer in network.hidden_layers
    ]
    bias_input = 1.0 if network.bias else 0.0  # a bias gradient is delta times 1
    h_terms = [max(bias_input, float(np.max(np.abs(trace.post[0]))))] + [
        max(
            bias_input,
            float(np.max(np.abs(trace.post[layer]))),
            slopes[layer - 1] * z_terms[layer - 1],
        )
        for layer in network.hidden_layers
    ]
    total = max(1.0, float(np.max(np.abs(np.sum(yy, axis=-1)))))
    a = max(z_terms[-1], float(np.max(np.abs(y_hat))) * total, float(np.max(np.abs(yy))))
    top = a * h_terms[-1]
    for layer in range(network.depth - 1, 0, -1):
        w_next = float(np.max(np.abs(ps[layer][0])))
        a *= (
            network.widths[layer + 1]
            * w_next
            * (slopes[layer - 1] + _MAX_CURVATURE * z_terms[layer - 1])
        )
        top = max(top, a * h_terms[layer - 1])
    return top


def tied_gradient_rows(
    network: Network, params: Sequence, x: object, y: object
) -> dict[int, list[tuple[int, int]]]:
    """Per hidden layer, the neuron pairs whose gradient rows agree within rounding.

    Rows are the incoming weight gradients with the bias gradient appended;
    the tolerance is :func:`symcheck.model.neurons.rounding_tolerance` at the scale
    :func:`gradient_scale`.
    """
    grads = numeric.gradients(network, params, x, y)
    batch = numeric.forward_trace(network, params, x).post[0].shape[0]
    tol = rounding_tolerance(network, scale=gradient_scale(network, params, x, y), batch=batch)
    return {
        layer: tied_pairs(gradient_rows(grads, layer), tol=tol) for layer in network.hidden_layers
    }


def resolvable_deltas(network: Network, params: Sequence, x: NDArray, y: NDArray) -> bool:
    r"""Whether float64 can tell two neurons' gradients apart at this point at all.

    T4 (different gradients almost surely) needs the difference of two
    neurons' deltas not to vanish. It is below any rounding-scaled tolerance
    when the inputs are tiny (:math:`\max|x| < 1/8`) or the output delta is
    (:math:`\max|\delta^L| < 2^{-10}`, e.g. a saturated softmax). (Cross-entropy
    over a single output, whose gradient vanishes identically, is refused by
    :class:`~symcheck.Network` itself.) Properties that assert symmetry breaking
    draw under this condition and say so.
    """
    if float(np.max(np.abs(x))) < 0.125:
        return False
    trace = numeric.forward_trace(network, params, x)
    _, deltas = numeric.backward(network, params, trace, y)
    return float(np.max(np.abs(deltas[-1]))) >= 2.0**-10
