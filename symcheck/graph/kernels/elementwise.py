r"""Elementwise ops: ``activation`` (by name), ``add`` and ``mul``.

Activations are one registry, :data:`ELEMENTWISE`, each entry a value
:math:`\varphi(z)` and a derivative :math:`\varphi'(z)` written against the
backend. The concrete activations of :data:`symcheck.model.activations.ACTIVATIONS`
(and every ``leaky_relu(q)``) use that registry's own forms: its NumPy form and
derivative on NumPy, its SymPy form and ``sympy.diff`` of it on SymPy (so
``relu'(0) = 0`` and ``leaky_relu'(0) = q``, as the registry states). The
abstract ``sigma`` (an undefined SymPy function, so that a lowered
``Network`` with ``sigma`` can be proved on the graph) runs on SymPy only; on
NumPy it is refused with the registry's message. The others are, with
:math:`\Phi` and :math:`\phi` the standard normal CDF and density and
:math:`s` the logistic function:

* ``gelu`` (Hendrycks & Gimpel, 2016, erf form): :math:`z\,\Phi(z)`,
  :math:`\varphi' = \Phi(z) + z\,\phi(z)`,
  :math:`\Phi(z) = \tfrac12(1 + \operatorname{erf}(z/\sqrt2))`;
* ``gelu_tanh`` (PyTorch's ``approximate='tanh'``):
  :math:`\tfrac12 z (1 + \tanh u)`, :math:`u = \sqrt{2/\pi}\,(z + 0.044715 z^3)`,
  :math:`\varphi' = \tfrac12(1 + \tanh u) + \tfrac12 z (1 - \tanh^2 u)\,
  \sqrt{2/\pi}\,(1 + 3 \cdot 0.044715 z^2)`;
* ``silu`` (swish, Elfwing et al., 2018): :math:`z\,s(z)`,
  :math:`\varphi' = s(z)(1 + z(1 - s(z)))`;
* ``elu`` (Clevert et al., 2016, :math:`\alpha = 1`): :math:`z` for
  :math:`z > 0`, :math:`e^z - 1` otherwise; :math:`\varphi' = 1` resp. :math:`e^z`
  (both 1 at 0). The branch is decided by ``xp.positive``: on SymPy an
  undecidable sign raises.

``add`` and ``mul`` take two arrays of one shape: :math:`a + b` (residual) with
gradients :math:`(g, g)`, and :math:`a b` (gating) with :math:`(g b, g a)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import numpy as np
import sympy as sp

from symcheck.errors import InvalidArgument, choices_message
from symcheck.graph.backend import Backend
from symcheck.graph.kernels.checks import require_same_shape
from symcheck.model.activations import ACTIVATIONS, Activation, get_activation

__all__ = [
    "ELEMENTWISE",
    "Elementwise",
    "activation_backward",
    "activation_forward",
    "add_backward",
    "add_forward",
    "get_elementwise",
    "mul_backward",
    "mul_forward",
]

NDArray = np.ndarray
Form = Callable[[Backend, NDArray], NDArray]


@dataclass(frozen=True)
class Elementwise:
    """One activation: ``value(xp, z)`` and ``derivative(xp, z)``, both elementwise.

    ``slope_of_value`` (optional, NumPy only) gives :math:`\\varphi'(z)` from
    :math:`y = \\varphi(z)` with the very operations the NumPy derivative
    applies to its own :math:`\\varphi(z)`, so the backward pass reuses the
    forward output instead of recomputing it, bit for bit the same.
    """

    name: str
    value: Form
    derivative: Form
    slope_of_value: Callable[[NDArray], NDArray] | None = None


def _on_sympy(fn: Callable[[sp.Expr], sp.Expr], z: NDArray) -> NDArray:
    z = np.asarray(z, dtype=object)
    out = np.empty(z.shape, dtype=object)
    for index, value in np.ndenumerate(z):
        out[index] = fn(value)
    return out


#: Registry derivatives rewritten on the value: ``1 - tanh(z)**2`` and
#: ``s(z) (1 - s(z))`` (symcheck.model.activations), with ``y`` for tanh(z) resp. s(z).
_SLOPE_OF_VALUE: dict[str, Callable[[NDArray], NDArray]] = {
    "tanh": lambda y: 1.0 - y**2,
    "sigmoid": lambda y: y * (1.0 - y),
}


def _from_registry(activation: Activation) -> Elementwise:
    """The registry's forms: NumPy form and derivative, or SymPy form and its diff."""
    t = sp.Dummy("t")

    @cache
    def symbolic_slope() -> sp.Expr:  # one sympy.diff per activation, on first use
        return sp.diff(activation.sympy(t), t)

    def value(xp: Backend, z: NDArray) -> NDArray:
        if xp.exact:
            return _on_sympy(activation.sympy, z)
        if activation.numpy is None:
            activation.require_numeric()  # the abstract sigma: one clear line
        return activation.numpy(z)  # type: ignore[misc]

    def slope(xp: Backend, z: NDArray) -> NDArray:
        if xp.exact:
            return _on_sympy(lambda v: symbolic_slope().subs(t, v), z)
        if activation.numpy_derivative is None:
            activation.require_numeric()
        return activation.numpy_derivative(z)  # type: ignore[misc]

    return Elementwise(activation.name, value, slope, _SLOPE_OF_VALUE.get(activation.name))


_SIGMOID = _from_registry(ACTIVATIONS["sigmoid"])
_GELU_C = Fraction(44715, 1000000)


def _normal_cdf(xp: Backend, z: NDArray) -> NDArray:
    half = xp.const(Fraction(1, 2))
    return half * (1 + xp.erf(z * xp.const(1 / sp.sqrt(2))))


def _gelu_tanh_inner(xp: Backend, z: NDArray) -> NDArray:
    return xp.tanh(xp.const(sp.sqrt(2 / sp.pi)) * (z + xp.const(_GELU_C) * z**3))


def _gelu_tanh_slope(xp: Backend, z: NDArray) -> NDArray:
    half = xp.const(Fraction(1, 2))
    t = _gelu_tanh_inner(xp, z)
    inner_slope = xp.const(sp.sqrt(2 / sp.pi)) * (1 + xp.const(3 * _GELU_C) * z**2)
    return half * (1 + t) + half * z * (1 - t**2) * inner_slope


def _silu_slope(xp: Backend, z: NDArray) -> NDArray:
    s = _SIGMOID.value(xp, z)
    return s * (1 + z * (1 - s))


def _elu(xp: Backend, z: NDArray) -> NDArray:
    up = xp.positive(z)
    return np.where(up, z, xp.exp(np.where(up, xp.const(0), z)) - 1)


def _elu_slope(xp: Backend, z: NDArray) -> NDArray:
    up = xp.positive(z)
    return np.where(up, xp.const(1), xp.exp(np.where(up, xp.const(0), z)))


_EXTRA = (
    Elementwise(
        "gelu",
        lambda xp, z: z * _normal_cdf(xp, z),
        lambda xp, z: (
            _normal_cdf(xp, z)
            + z * xp.exp(-(z**2) * xp.const(Fraction(1, 2))) * xp.const(1 / sp.sqrt(2 * sp.pi))
        ),
    ),
    Elementwise(
        "gelu_tanh",
        lambda xp, z: xp.const(Fraction(1, 2)) * z * (1 + _gelu_tanh_inner(xp, z)),
        _gelu_tanh_slope,
    ),
    Elementwise("silu", lambda xp, z: z * _SIGMOID.value(xp, z), _silu_slope),
    Elementwise("elu", _elu, _elu_slope),
)

#: Every activation the ``activation`` kernel knows by name (besides ``leaky_relu(q)``).
ELEMENTWISE: dict[str, Elementwise] = {
    **{n: _from_registry(a) for n, a in ACTIVATIONS.items()},
    **{e.name: e for e in _EXTRA},
}


def get_elementwise(name: object) -> Elementwise:
    """Look up an activation by name, e.g. ``"gelu"`` or ``"leaky_relu(1/5)"``."""
    if isinstance(name, str) and name.strip().lower() in ELEMENTWISE:
        return ELEMENTWISE[name.strip().lower()]
    if isinstance(name, str) and name.strip().lower().startswith("leaky_relu("):
        return _from_registry(get_activation(name))
    raise InvalidArgument(
        choices_message(
            "activation",
            name,
            ELEMENTWISE,
            "a leaky ReLU with another slope is written 'leaky_relu(1/5)'",
        )
    )


def activation_forward(xp: Backend, x: NDArray, *, name: str) -> tuple[NDArray, tuple]:
    """:math:`\\varphi(x)` elementwise, :math:`\\varphi` the activation called ``name``."""
    recipe = get_elementwise(name)
    out = recipe.value(xp, x)
    return out, (recipe, x, out)


def activation_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,): :math:`g\\,\\varphi'(x)`."""
    recipe, x, out = cache
    if recipe.slope_of_value is not None and not xp.exact:
        return (grad_out * recipe.slope_of_value(out),)
    return (grad_out * recipe.derivative(xp, x),)


def add_forward(xp: Backend, a: NDArray, b: NDArray) -> tuple[NDArray, tuple]:
    """``a + b`` (same shapes): a residual connection."""
    require_same_shape("add", a, b)
    return a + b, ()


def add_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for (a, b)."""
    return grad_out, grad_out


def mul_forward(xp: Backend, a: NDArray, b: NDArray) -> tuple[NDArray, tuple]:
    """``a * b`` (same shapes): gating."""
    require_same_shape("mul", a, b)
    return a * b, (a, b)


def mul_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for (a, b)."""
    a, b = cache
    return grad_out * b, grad_out * a
