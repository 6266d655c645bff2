r"""Batched NumPy forward and backward passes for a :class:`~symcheck.Network`.

Parameters are a list with one ``(W, b)`` pair per layer ``l = 1..L``; ``W``
has shape ``(n_l, n_{l-1})`` as PyTorch stores it and ``b`` shape ``(n_l,)``,
or ``None`` when the network has no bias. Inputs ``x`` have shape
``(batch, n_0)`` and targets ``y`` shape ``(batch, n_L)``.

Back-propagation (docs/theory.md §1):

.. math::

    \delta^L = \frac{\partial \ell}{\partial z^L}, \qquad
    \delta^{l} = \left(\delta^{l+1} W^{l+1}\right) \odot \varphi_l'(z^l), \qquad
    \frac{\partial L}{\partial W^l} = c\, {\delta^l}^{\top} h^{l-1}, \qquad
    \frac{\partial L}{\partial b^l} = c \sum_{\text{batch}} \delta^l,

with :math:`c = 1/B` for the mean reduction and :math:`c = 1` for the sum.
``relu'(0) = 0``. The default dtype is float64; pass ``dtype=np.float32`` for
single precision or ``np.complex128`` for complex-step differentiation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.model.activations import numpy_sigmoid
from symcheck.model.network import Network, require_layers, require_network

__all__ = [
    "Params",
    "Trace",
    "as_params",
    "backward",
    "forward",
    "forward_trace",
    "gradients",
    "loss",
]

NDArray = np.ndarray
Params = list[tuple[NDArray, "NDArray | None"]]


@dataclass(frozen=True)
class Trace:
    """Everything the forward pass computed.

    ``pre[l-1]`` is :math:`z^l` for ``l = 1..L``; ``post[l]`` is :math:`h^l`
    for ``l = 0..L-1`` (``post[0]`` is the input, after masks for hidden
    layers). Each array has shape ``(batch, n_l)``.
    """

    pre: list[NDArray]
    post: list[NDArray]
    masks: tuple[NDArray | None, ...]

    @property
    def logits(self) -> NDArray:
        """The output pre-activations :math:`z^L`."""
        return self.pre[-1]


def as_params(network: Network, params: Sequence, *, dtype: type = np.float64) -> Params:
    """Validate ``params`` against ``network`` and convert them to ``dtype`` arrays."""
    require_network(network)
    require_layers(network, params)
    out: Params = []
    for layer, (pair, shape) in enumerate(zip(params, network.shapes), start=1):
        try:
            w, b = pair
        except (TypeError, ValueError):
            raise InvalidArgument(f"params[{layer - 1}] must be a (W, b) pair") from None
        w = np.asarray(w, dtype=dtype)
        if w.shape != shape:
            raise InvalidArgument(f"W{layer} has shape {w.shape}, expected {shape} = (n_out, n_in)")
        if network.bias:
            if b is None:
                raise InvalidArgument(f"b{layer} is None but network {network.spec} has biases")
            b = np.asarray(b, dtype=dtype)
            if b.shape != (shape[0],):
                raise InvalidArgument(f"b{layer} has shape {b.shape}, expected {(shape[0],)}")
        elif b is not None:
            raise InvalidArgument(f"b{layer} is given but network {network.spec} has bias=False")
        out.append((w, b))
    return out


def _as_batch(a: object, width: int, name: str, dtype: type, batch: int | None = None) -> NDArray:
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim == 1:
        if batch is not None and width == 1 and arr.shape[0] == batch:
            arr = arr[:, None]
        else:
            arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width or (batch is not None and arr.shape[0] != batch):
        want = f"({batch if batch is not None else 'batch'}, {width})"
        raise InvalidArgument(f"{name} has shape {np.shape(a)}, expected {want}")
    return arr


def forward_trace(
    network: Network,
    params: Sequence,
    x: object,
    *,
    masks: Sequence[NDArray | None] | None = None,
    dtype: type = np.float64,
) -> Trace:
    """Run the forward pass and keep every pre-activation and activation.

    ``masks`` (optional) has one entry per hidden layer, ``None`` or an array
    broadcastable to ``(batch, n_l)`` that multiplies :math:`h^l` (a dropout
    mask, already scaled by the caller).
    """
    ps = as_params(network, params, dtype=dtype)
    h = _as_batch(x, network.widths[0], "x", dtype)
    hidden = network.depth - 1
    masks = tuple(masks) if masks is not None else (None,) * hidden
    if len(masks) != hidden:
        raise InvalidArgument(
            f"masks has {len(masks)} entries, expected {hidden} (one per hidden layer)"
        )
    pre: list[NDArray] = []
    post: list[NDArray] = [h]
    for layer, (w, b) in enumerate(ps, start=1):
        z = h @ w.T
        if b is not None:
            z = z + b
        pre.append(z)
        if layer < network.depth:
            act = network.activation(layer)
            act.require_numeric()
            h = act.numpy(z)
            if masks[layer - 1] is not None:
                h = h * masks[layer - 1]
            post.append(h)
    return Trace(pre, post, masks)


def forward(network: Network, params: Sequence, x: object, *, dtype: type = np.float64) -> NDArray:
    r"""The network output :math:`\hat y = \psi(z^L)`, shape ``(batch, n_L)``."""
    network.loss_fn.require_numeric()
    z = forward_trace(network, params, x, dtype=dtype).logits
    output = network.loss_fn.output
    if output == "softmax":
        e = np.exp(z - np.max(z.real, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)
    if output == "sigmoid":
        return numpy_sigmoid(z)
    return z


def _scale(network: Network, batch: int) -> float:
    return 1.0 / batch if network.reduction == "mean" else 1.0


def loss(
    network: Network, params: Sequence, x: object, y: object, *, dtype: type = np.float64
) -> NDArray:
    """The batch loss (mean or sum of the per-sample losses), a 0-d array."""
    lf = network.loss_fn
    lf.require_numeric()
    trace = forward_trace(network, params, x, dtype=dtype)
    batch = trace.post[0].shape[0]
    yy = _as_batch(y, network.widths[-1], "y", dtype, batch)
    return np.sum(lf.numpy(trace.logits, yy)) * _scale(network, batch)


def backward(
    network: Network, params: Sequence, trace: Trace, y: object
) -> tuple[Params, list[NDArray]]:
    r"""Back-propagate through a recorded forward pass.

    Returns ``(grads, deltas)``: ``grads`` in the layout of ``params`` and
    ``deltas[l-1]`` = :math:`\delta^l = \partial \ell / \partial z^l` per
    sample (before the batch reduction), shape ``(batch, n_l)``.
    """
    lf = network.loss_fn
    lf.require_numeric()
    dtype = trace.logits.dtype
    ps = as_params(network, params, dtype=dtype)
    batch = trace.post[0].shape[0]
    yy = _as_batch(y, network.widths[-1], "y", dtype, batch)
    c = _scale(network, batch)
    delta = lf.numpy_grad(trace.logits, yy)
    deltas = [delta]
    for layer in range(network.depth - 1, 0, -1):
        back = delta @ ps[layer][0]
        mask = trace.masks[layer - 1]
        if mask is not None:
            back = back * mask
        delta = back * network.activation(layer).numpy_derivative(trace.pre[layer - 1])
        deltas.append(delta)
    deltas.reverse()
    grads: Params = []
    for layer in range(network.depth):
        d = deltas[layer]
        gw = c * (d.T @ trace.post[layer])
        gb = c * np.sum(d, axis=0) if network.bias else None
        grads.append((gw, gb))
    return grads, deltas


def gradients(
    network: Network,
    params: Sequence,
    x: object,
    y: object,
    *,
    masks: Sequence[NDArray | None] | None = None,
    dtype: type = np.float64,
) -> Params:
    """Gradients of the batch loss, in the same ``(W, b)`` layout as ``params``."""
    network.loss_fn.require_numeric()
    trace = forward_trace(network, params, x, masks=masks, dtype=dtype)
    return backward(network, params, trace, y)[0]
