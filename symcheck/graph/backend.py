"""Array backends: one kernel, two interpretations.

A kernel (:mod:`symcheck.graph.kernels`) is written once against the small
namespace below and runs

* on NumPy arrays with :data:`NUMPY` (float64, or complex for complex-step
  differentiation), and
* on NumPy *object* arrays of SymPy expressions with :data:`SYMPY`, which gives
  the exact expressions the computational proofs zero-test.

NumPy's structural functions (``reshape``, ``transpose``, ``einsum``, ``sum``,
``matmul``, slicing, ``concatenate``) already work on object arrays; only the
transcendental functions, comparisons and constants differ between the two, and
those are what a backend supplies. A kernel therefore calls ``np.*`` for
structure and ``xp.*`` for everything that computes a value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp
from scipy import special as _special

__all__ = ["NUMPY", "SYMPY", "Backend"]

NDArray = np.ndarray


def _vectorize(fn: Callable[[sp.Expr], sp.Expr]) -> Callable[[NDArray], NDArray]:
    def apply(a: NDArray) -> NDArray:
        a = np.asarray(a, dtype=object)
        out = np.empty(a.shape, dtype=object)
        for index, value in np.ndenumerate(a):
            out[index] = fn(value)
        return out

    return apply


@dataclass(frozen=True)
class Backend:
    """The value-computing functions a kernel may use.

    ``const(q)`` turns a Python number, a :class:`fractions.Fraction` or an
    exact SymPy constant such as ``sympy.sqrt(2 / sympy.pi)`` into the
    backend's scalar (a float, or the exact SymPy number). ``positive(a)`` is
    the elementwise test ``a > 0`` as a boolean array; the SymPy backend
    answers it only where the sign is decided exactly and raises
    :class:`ValueError` otherwise, so a branch is never taken on a guess.
    """

    name: str
    exact: bool
    const: Callable[[object], object]
    exp: Callable[[NDArray], NDArray]
    log: Callable[[NDArray], NDArray]
    tanh: Callable[[NDArray], NDArray]
    sqrt: Callable[[NDArray], NDArray]
    erf: Callable[[NDArray], NDArray]
    cos: Callable[[NDArray], NDArray]
    sin: Callable[[NDArray], NDArray]
    positive: Callable[[NDArray], NDArray]

    def array(self, values: object) -> NDArray:
        """An array of this backend's scalars (object dtype for SymPy)."""
        if self.exact:
            return _vectorize(sp.sympify)(np.asarray(values, dtype=object))
        return np.asarray(values)


def _np_const(q: object) -> float:
    if isinstance(q, (Fraction, sp.Basic)):
        return float(q)  # type: ignore[arg-type]
    return q  # type: ignore[return-value]


def _np_erf(a: NDArray) -> NDArray:
    return _special.erf(a)


def _sp_const(q: object) -> sp.Expr:
    if isinstance(q, Fraction):
        return sp.Rational(q.numerator, q.denominator)
    if isinstance(q, float):
        return sp.Rational(q)  # exact binary value of the float
    return sp.sympify(q)


def _sp_sign_positive(value: sp.Expr) -> bool:
    decided = sp.sympify(value).is_positive
    if decided is None:
        raise ValueError(f"the sign of {value} is not decided exactly; no branch is taken")
    return bool(decided)


def _sp_positive(a: NDArray) -> NDArray:
    return _vectorize(_sp_sign_positive)(a).astype(bool)


NUMPY = Backend(
    name="numpy",
    exact=False,
    const=_np_const,
    exp=np.exp,
    log=np.log,
    tanh=np.tanh,
    sqrt=np.sqrt,
    erf=_np_erf,
    cos=np.cos,
    sin=np.sin,
    positive=lambda a: np.asarray(a) > 0,
)

SYMPY = Backend(
    name="sympy",
    exact=True,
    const=_sp_const,
    exp=_vectorize(sp.exp),
    log=_vectorize(sp.log),
    tanh=_vectorize(sp.tanh),
    sqrt=_vectorize(sp.sqrt),
    erf=_vectorize(sp.erf),
    cos=_vectorize(sp.cos),
    sin=_vectorize(sp.sin),
    positive=_sp_positive,
)
