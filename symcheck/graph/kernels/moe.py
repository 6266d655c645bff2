r"""Soft mixture-of-experts combine: the gate-weighted sum of expert outputs.

:math:`y_{\cdot d} = \sum_e a_{\cdot e}\,h_{\cdot e d}` with router weights
``gates`` (already softmaxed) and expert outputs ``y`` (Shazeer et al., 2017,
without the top-k sparsity). Backward:
:math:`\partial a_{\cdot e} = \sum_d g_{\cdot d}\,h_{\cdot ed}`,
:math:`\partial h_{\cdot ed} = a_{\cdot e}\,g_{\cdot d}`.
"""

from __future__ import annotations

import numpy as np

from symcheck.graph.backend import Backend
from symcheck.graph.kernels.checks import check_ndim, check_shape

__all__ = ["moe_combine_backward", "moe_combine_forward"]

NDArray = np.ndarray


def moe_combine_forward(xp: Backend, gates: NDArray, y: NDArray) -> tuple[NDArray, tuple]:
    """``gates`` (..., E) and ``y`` (..., E, D) give (..., D)."""
    check_ndim("moe_combine", "gates", gates, at_least=1)
    check_ndim("moe_combine", "y", y, at_least=2)
    check_shape("moe_combine", "y", y, (*gates.shape, y.shape[-1]), "gates' shape plus D")
    return np.einsum("...e,...ed->...d", gates, y), (gates, y)


def moe_combine_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for gates and y."""
    gates, y = cache
    return np.einsum("...d,...ed->...e", grad_out, y), gates[..., None] * grad_out[..., None, :]
