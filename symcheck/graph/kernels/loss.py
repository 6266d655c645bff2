r"""Losses ``mse``, ``cross_entropy`` and ``bce`` on a batch, reduced to a scalar.

Each uses the recipe of :data:`symcheck.model.losses.LOSSES` on the last axis
(``mse`` :math:`\tfrac12\sum_k (z_k - y_k)^2`; ``cross_entropy`` on logits with a
target distribution, :math:`(\sum_k y_k)\log\sum_k e^{z_k} - \sum_k y_k z_k`;
``bce`` on logits, :math:`\sum_k \log(1 + e^{z_k}) - y_k z_k`). Every leading
non-last axis after the sample axis (a sequence, say) is summed into the
per-sample loss, and the batch loss is the mean (``reduction='mean'``, divided
by the batch size B) or the sum of the per-sample losses. The output is a 0-d
array.

Gradients: on NumPy the registry's ``numpy_grad`` for the prediction and, for
the target, :math:`\partial\ell/\partial y_k` = :math:`y_k - z_k` (mse),
:math:`\log\sum_j e^{z_j} - z_k` (cross entropy), :math:`-z_k` (bce); on SymPy
both by ``sympy.diff`` of the registry's SymPy form. Each is multiplied by the
upstream (scalar) gradient and by :math:`1/B` for the mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import sympy as sp

from symcheck.errors import InvalidArgument, choices_message
from symcheck.graph.backend import Backend
from symcheck.model.losses import LOSSES, Loss

__all__ = [
    "LOSS_KERNELS",
    "LossKernel",
    "bce_backward",
    "bce_forward",
    "cross_entropy_backward",
    "cross_entropy_forward",
    "mse_backward",
    "mse_forward",
]

NDArray = np.ndarray
REDUCTIONS = ("mean", "sum")


def _logsumexp(z: NDArray) -> NDArray:
    """:math:`\\log\\sum_k e^{z_k}` over the last axis, kept; shifted by the max for reals."""
    shift = 0.0 if np.iscomplexobj(z) else np.max(z, axis=-1, keepdims=True)
    return shift + np.log(np.sum(np.exp(z - shift), axis=-1, keepdims=True))


@dataclass(frozen=True)
class LossKernel:
    """A registry loss and its NumPy gradient with respect to the target."""

    loss: Loss
    target_gradient: Callable[[NDArray, NDArray], NDArray]


LOSS_KERNELS: dict[str, LossKernel] = {
    "mse": LossKernel(LOSSES["mse"], lambda z, y: y - z),
    "cross_entropy": LossKernel(LOSSES["cross_entropy"], lambda z, y: _logsumexp(z) - z),
    "bce": LossKernel(LOSSES["bce"], lambda z, y: -z),
}


@lru_cache(maxsize=64)
def _symbolic(name: str, width: int) -> tuple:
    """Dummies z, y of one position, the loss and its two gradients (by diff)."""
    z = sp.symbols(f"z0:{width}", cls=sp.Dummy)
    y = sp.symbols(f"y0:{width}", cls=sp.Dummy)
    value = LOSSES[name].sympy(z, y)
    return z, y, value, [sp.diff(value, v) for v in z], [sp.diff(value, v) for v in y]


def _per_position(xp: Backend, name: str, z: NDArray, y: NDArray) -> tuple[NDArray, ...]:
    """The loss of each position (shape z.shape[:-1]) and its gradients (shape z.shape)."""
    if not xp.exact:
        kernel = LOSS_KERNELS[name]
        return kernel.loss.numpy(z, y), kernel.loss.numpy_grad(z, y), kernel.target_gradient(z, y)
    zs, ys, value, grad_z, grad_y = _symbolic(name, z.shape[-1])
    out = np.empty(z.shape[:-1], dtype=object)
    gz = np.empty(z.shape, dtype=object)
    gy = np.empty(z.shape, dtype=object)
    for index in np.ndindex(*z.shape[:-1]):
        point = dict(zip(zs, z[index])) | dict(zip(ys, y[index]))
        out[index] = value.xreplace(point)
        gz[index] = [g.xreplace(point) for g in grad_z]
        gy[index] = [g.xreplace(point) for g in grad_y]
    return out, gz, gy


def _forward(
    name: str, xp: Backend, prediction: NDArray, target: NDArray, reduction: str
) -> tuple[NDArray, tuple]:
    if reduction not in REDUCTIONS:
        raise InvalidArgument(choices_message(f"{name}: reduction", reduction, REDUCTIONS))
    if np.ndim(prediction) < 2:
        raise InvalidArgument(
            f"{name}: prediction has shape {np.shape(prediction)}; it needs a sample axis "
            "and an output axis, (batch, ..., outputs)"
        )
    if np.shape(target) != np.shape(prediction):
        raise InvalidArgument(
            f"{name}: target has shape {np.shape(target)} but prediction "
            f"{np.shape(prediction)}; give the target the prediction's shape"
        )
    losses, grad_z, grad_y = _per_position(xp, name, prediction, target)
    scale = xp.const(Fraction(1, prediction.shape[0]) if reduction == "mean" else 1)
    return np.asarray(losses.sum() * scale), (grad_z, grad_y, scale)


def _backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    grad_z, grad_y, scale = cache
    factor = np.asarray(grad_out)[()] * scale
    return grad_z * factor, grad_y * factor


def mse_forward(
    xp: Backend, prediction: NDArray, target: NDArray, *, reduction: str = "mean"
) -> tuple[NDArray, tuple]:
    """Mean (or sum) over samples of :math:`\\tfrac12\\sum (z - y)^2`."""
    return _forward("mse", xp, prediction, target, reduction)


def cross_entropy_forward(
    xp: Backend, prediction: NDArray, target: NDArray, *, reduction: str = "mean"
) -> tuple[NDArray, tuple]:
    """Mean (or sum) over samples of the softmax cross entropy of logits ``prediction``."""
    return _forward("cross_entropy", xp, prediction, target, reduction)


def bce_forward(
    xp: Backend, prediction: NDArray, target: NDArray, *, reduction: str = "mean"
) -> tuple[NDArray, tuple]:
    """Mean (or sum) over samples of the binary cross entropy of logits ``prediction``."""
    return _forward("bce", xp, prediction, target, reduction)


mse_backward = cross_entropy_backward = bce_backward = _backward
