r"""Registry of losses: one recipe per loss, each with its output map.

A loss is written in terms of the output pre-activations :math:`z^L` and the
target :math:`y` of one sample, with its output map :math:`\psi` folded in:

* ``mse``: :math:`\ell = \tfrac12 \sum_k (z_k - y_k)^2` (:math:`\psi` identity);
* ``cross_entropy``: softmax output,
  :math:`\ell = -\sum_k y_k \log \operatorname{softmax}(z)_k`;
* ``bce``: sigmoid output, per unit
  :math:`\ell = -y\log s(z) - (1-y)\log(1-s(z)) = \log(1+e^{z}) - y z`;
* ``ell``: the abstract loss :math:`\ell(z_1,\dots,z_m, y_1,\dots,y_m)`, an
  undefined SymPy ``Function``; a proof for ``ell`` holds for every
  differentiable loss on an identity output.

The batch loss is the sum or the mean of the per-sample losses
(``Network.reduction``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symcheck.errors import InvalidArgument, choices_message
from symcheck.model.activations import numpy_sigmoid as _sigmoid
from symcheck.model.activations import numpy_softplus as _softplus

__all__ = ["LOSSES", "Loss", "get_loss"]

NDArray = np.ndarray


@dataclass(frozen=True)
class Loss:
    """One loss recipe.

    ``sympy(z, y)`` is the per-sample loss of output pre-activations ``z`` and
    targets ``y`` (sequences of SymPy expressions). ``numpy(z, y)`` gives the
    per-sample losses of a batch, shape ``(batch,)``, and ``numpy_grad(z, y)``
    the derivative of each sample's loss with respect to ``z``, shape
    ``(batch, n_out)``.
    """

    name: str
    output: str
    latex: str
    sympy: Callable[[Sequence[sp.Expr], Sequence[sp.Expr]], sp.Expr]
    numpy: Callable[[NDArray, NDArray], NDArray] | None
    numpy_grad: Callable[[NDArray, NDArray], NDArray] | None
    analytic: bool
    abstract: bool = False
    #: The summand ``t(z_k, y_k)`` when the loss is :math:`\sum_k t(z_k, y_k)`
    #: (then :math:`\partial \ell / \partial z_k = \partial_z t(z_k, y_k)`, so
    #: one ``sympy.diff`` of ``t`` serves every output); None when outputs couple.
    term: Callable[[sp.Expr, sp.Expr], sp.Expr] | None = None

    def require_numeric(self) -> None:
        """Raise when this loss has no numeric form (the abstract one)."""
        if self.numpy is None:
            concrete = sorted(n for n, v in LOSSES.items() if not v.abstract)
            raise InvalidArgument(
                f"loss={self.name!r} is abstract and has no numeric form; "
                f"use one of {concrete!r} for numeric work"
            )


def _logsumexp(z: NDArray) -> NDArray:
    if np.iscomplexobj(z):
        return np.log(np.sum(np.exp(z), axis=-1))
    m = np.max(z, axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)))[..., 0]


def _softmax(z: NDArray) -> NDArray:
    if np.iscomplexobj(z):
        e = np.exp(z)
    else:
        e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _sym_logsumexp(z: Sequence[sp.Expr]) -> sp.Expr:
    return sp.log(sp.Add(*[sp.exp(zk) for zk in z]))


_ELL = sp.Function("ell")


def _mse_term(z: sp.Expr, y: sp.Expr) -> sp.Expr:
    return sp.Rational(1, 2) * (z - y) ** 2


def _bce_term(z: sp.Expr, y: sp.Expr) -> sp.Expr:
    return sp.log(1 + sp.exp(z)) - y * z


def _summed(term: Callable[[sp.Expr, sp.Expr], sp.Expr]) -> Callable:
    r"""The per-sample loss :math:`\sum_k t(z_k, y_k)` of a per-output summand ``t``."""
    return lambda z, y: sp.Add(*[term(zk, yk) for zk, yk in zip(z, y)])


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "mse",
            "identity",
            r"\tfrac12 \sum_k (\hat y_k - y_k)^2",
            _summed(_mse_term),
            lambda z, y: 0.5 * np.sum((z - y) ** 2, axis=-1),
            lambda z, y: z - y,
            True,
            term=_mse_term,
        ),
        Loss(
            "cross_entropy",
            "softmax",
            r"-\sum_k y_k \log \operatorname{softmax}(z)_k",
            lambda z, y: (
                sp.Add(*y) * _sym_logsumexp(z) - sp.Add(*[yk * zk for zk, yk in zip(z, y)])
            ),
            lambda z, y: np.sum(y, axis=-1) * _logsumexp(z) - np.sum(y * z, axis=-1),
            lambda z, y: _softmax(z) * np.sum(y, axis=-1, keepdims=True) - y,
            True,
        ),
        Loss(
            "bce",
            "sigmoid",
            r"\sum_k \left[\log(1+e^{z_k}) - y_k z_k\right]",
            _summed(_bce_term),
            lambda z, y: np.sum(_softplus(z) - y * z, axis=-1),
            lambda z, y: _sigmoid(z) - y,
            True,
            term=_bce_term,
        ),
        Loss(
            "ell",
            "identity",
            r"\ell(\hat y, y)",
            lambda z, y: _ELL(*z, *y),
            None,
            None,
            False,
            abstract=True,
        ),
    )
}


def get_loss(spec: str | Loss) -> Loss:
    """Look up a loss by name."""
    if isinstance(spec, Loss):
        return spec
    key = spec.strip().lower() if isinstance(spec, str) else None
    if key not in LOSSES:
        raise InvalidArgument(choices_message("loss", spec, LOSSES))
    return LOSSES[key]
