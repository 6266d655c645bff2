r"""Registry of hidden-layer activations: one recipe per activation.

Every entry is an :class:`Activation` with the same fields: a SymPy form, a
NumPy form and its derivative, and the facts the theorems need (is it analytic,
what is :math:`\varphi(0)`). ``sigma`` is the abstract activation, an undefined
SymPy ``Function``: a proof that holds for ``sigma`` holds for every
differentiable activation.

Conventions, stated once and repeated in every derivation that uses them:

* ``relu'(0) = 0`` (as PyTorch and JAX do), so zero init puts every
  pre-activation on the kink and the hidden deltas there vanish;
* ``leaky_relu'(0) = a`` (the slope of the left branch), again as PyTorch does.

A leaky ReLU with another slope is spelt ``leaky_relu(1/5)`` (a rational).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp

from symcheck.errors import InvalidArgument, choices_message

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "get_activation",
    "leaky_relu",
    "numpy_sigmoid",
    "numpy_softplus",
]

NDArray = np.ndarray


@dataclass(frozen=True)
class Activation:
    """One activation recipe.

    ``sympy`` maps a SymPy expression to :math:`\\varphi(z)`; ``numpy`` and
    ``numpy_derivative`` evaluate :math:`\\varphi` and :math:`\\varphi'`
    elementwise (complex input is accepted by the analytic ones, for
    complex-step differentiation). ``at_zero`` is :math:`\\varphi(0)` as an
    exact SymPy number, or ``None`` when it is unknown (``sigma``).
    """

    name: str
    latex: str
    sympy: Callable[[sp.Expr], sp.Expr]
    numpy: Callable[[NDArray], NDArray] | None
    numpy_derivative: Callable[[NDArray], NDArray] | None
    analytic: bool
    at_zero: sp.Expr | None
    convention: str = ""
    abstract: bool = False

    def symbolic_derivative(self, z: sp.Expr) -> sp.Expr:
        """:math:`\\varphi'(z)` by ``sympy.diff`` of the local map."""
        x = sp.Dummy("x")
        return sp.diff(self.sympy(x), x).subs(x, z)

    def require_numeric(self) -> None:
        """Raise when this activation has no numeric form (the abstract one)."""
        if self.numpy is None:
            concrete = sorted(n for n, a in ACTIVATIONS.items() if not a.abstract)
            raise InvalidArgument(
                f"activation={self.name!r} is abstract and has no numeric form; "
                f"use one of {concrete!r} for numeric work"
            )


def numpy_sigmoid(z: NDArray) -> NDArray:
    """Numerically stable logistic function (plain formula for complex input)."""
    if np.iscomplexobj(z):
        return 1.0 / (1.0 + np.exp(-z))
    s = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + s), s / (1.0 + s))


def numpy_softplus(z: NDArray) -> NDArray:
    """Numerically stable :math:`\\log(1+e^z)` (plain formula for complex input)."""
    if np.iscomplexobj(z):
        return np.log1p(np.exp(z))
    return np.logaddexp(0.0, z)


def leaky_relu(slope: Fraction | str | int = Fraction(1, 100)) -> Activation:
    r"""Leaky ReLU :math:`\varphi(z) = z` for :math:`z > 0`, :math:`a z` otherwise.

    The slope :math:`a` is an exact rational (PyTorch's default is 0.01);
    :math:`\varphi'(0) = a`.
    """
    if isinstance(slope, bool) or not isinstance(slope, (Fraction, str, int)):
        raise InvalidArgument(
            f"leaky_relu slope={slope!r} must be an exact rational (Fraction, int or a string "
            "such as '1/5')"
        )
    try:
        a = Fraction(slope)
    except (ValueError, ZeroDivisionError):
        raise InvalidArgument(
            f"leaky_relu slope={slope!r} is not an exact rational; write it as 'p/q', e.g. '1/5'"
        ) from None
    if not 0 <= a < 1:
        raise InvalidArgument(
            f"leaky_relu slope={a} must satisfy 0 <= slope < 1 (a rational in [0, 1): the left "
            "branch must be flatter than the right one; slope 0 is relu)"
        )
    ra = sp.Rational(a.numerator, a.denominator)
    fa = float(a)
    name = "leaky_relu" if a == Fraction(1, 100) else f"leaky_relu({a})"
    return Activation(
        name=name,
        latex=rf"\operatorname{{lrelu}}_{{{sp.latex(ra)}}}",
        sympy=lambda z: sp.Piecewise((z, z > 0), (ra * z, True)),
        numpy=lambda z: np.where(z > 0, z, fa * z),
        numpy_derivative=lambda z: np.where(z > 0, 1.0, fa),
        analytic=False,
        at_zero=sp.Integer(0),
        convention=f"leaky_relu'(0) = {a} (the left slope, as in PyTorch)",
    )


_SIGMA = sp.Function("sigma")

ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "identity",
            r"\operatorname{id}",
            lambda z: z,
            lambda z: z,
            lambda z: np.ones_like(z),
            True,
            sp.Integer(0),
        ),
        Activation(
            "tanh",
            r"\tanh",
            sp.tanh,
            np.tanh,
            lambda z: 1.0 - np.tanh(z) ** 2,
            True,
            sp.Integer(0),
        ),
        Activation(
            "sigmoid",
            r"\operatorname{sigmoid}",
            lambda z: 1 / (1 + sp.exp(-z)),
            numpy_sigmoid,
            lambda z: numpy_sigmoid(z) * (1.0 - numpy_sigmoid(z)),
            True,
            sp.Rational(1, 2),
        ),
        Activation(
            "relu",
            r"\operatorname{relu}",
            lambda z: sp.Piecewise((z, z > 0), (0, True)),
            lambda z: np.where(z > 0, z, 0.0 * z),
            lambda z: np.where(z > 0, 1.0, 0.0),
            False,
            sp.Integer(0),
            convention="relu'(0) = 0 (as in PyTorch and JAX)",
        ),
        leaky_relu(),
        Activation(
            "softplus",
            r"\operatorname{softplus}",
            lambda z: sp.log(1 + sp.exp(z)),
            numpy_softplus,
            numpy_sigmoid,
            True,
            sp.log(2),
        ),
        Activation(
            "sin",
            r"\sin",
            sp.sin,
            np.sin,
            np.cos,
            True,
            sp.Integer(0),
        ),
        Activation(
            "square",
            r"(\cdot)^2",
            lambda z: z**2,
            lambda z: z * z,
            lambda z: 2.0 * z,
            True,
            sp.Integer(0),
        ),
        Activation(
            "sigma",
            r"\sigma",
            _SIGMA,
            None,
            None,
            False,
            None,
            convention="sigma is an arbitrary differentiable function",
            abstract=True,
        ),
    )
}

_LEAKY = re.compile(r"^leaky_relu\(\s*(-?\d{1,64})\s*(?:/\s*(-?\d{1,64})\s*)?\)$")


def get_activation(spec: str | Activation) -> Activation:
    """Look up an activation by name, e.g. ``"tanh"`` or ``"leaky_relu(1/5)"``."""
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, str):
        raise InvalidArgument(f"activation={spec!r} must be a name (str)")
    key = spec.strip().lower()
    if key in ACTIVATIONS:
        return ACTIVATIONS[key]
    match = _LEAKY.match(key)
    if match:
        num, den = int(match.group(1)), int(match.group(2) or 1)
        if den == 0:
            raise InvalidArgument(f"activation={spec!r} has a zero denominator")
        return leaky_relu(Fraction(num, den))
    if key.startswith("leaky_relu("):
        raise InvalidArgument(
            f"activation={spec!r}: the slope of leaky_relu(slope) must be a rational p/q with "
            "0 <= slope < 1, e.g. 'leaky_relu(1/5)'"
        )
    raise InvalidArgument(
        choices_message(
            "activation",
            spec,
            ACTIVATIONS,
            "a leaky ReLU with another slope is written 'leaky_relu(1/5)'",
        )
    )
