r"""The exact gradient oracle: :func:`gradients` of a network at given numbers.

Every number is converted exactly to a SymPy rational (a float contributes its
exact binary value, a string such as ``"1/3"`` its rational value), the
layered reverse mode of :mod:`symcheck.prove.symbolic` runs on those numbers, and
the result is exact: rationals for rational activations and losses
(identity, relu, leaky_relu, square with mse), closed forms such as
:math:`\tanh(1/3)` otherwise. With ``digits`` the closed forms are evaluated
in interval arithmetic (:func:`symcheck.prove.zerotest.certified_value`) and
rounded to that many significant digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.model.network import Network, require_layers, require_network
from symcheck.prove.symbolic import SymParams, layered_gradients
from symcheck.prove.zerotest import certified_value

__all__ = ["exact", "gradients"]


def exact(value: object) -> sp.Rational:
    """Convert a number exactly to a SymPy rational (floats by their binary value)."""
    if isinstance(value, sp.Basic):
        if not value.is_Rational:
            raise InvalidArgument(f"value {value!r} is not a rational number")
        return value
    if isinstance(value, (bool, np.bool_)):
        raise InvalidArgument(f"value {value!r} is a bool; give a number")
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise InvalidArgument(f"value {value!r} is not finite; give a finite number")
        f = Fraction(float(value))
        return sp.Rational(f.numerator, f.denominator)
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, str):
        try:
            f = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise InvalidArgument(
                f"value {value!r} is not a number; write e.g. '1/3' or '0.25'"
            ) from None
        return sp.Rational(f.numerator, f.denominator)
    raise InvalidArgument(f"value {value!r} of type {type(value).__name__} is not a number")


def _rows(a: object, width: int, name: str) -> tuple[tuple[sp.Rational, ...], ...]:
    arr = np.asarray(a, dtype=object)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise InvalidArgument(f"{name} has shape {arr.shape}, expected (batch, {width})")
    return tuple(tuple(exact(v) for v in row) for row in arr)


def _params(network: Network, params: Sequence) -> SymParams:
    require_layers(network, params)
    out = []
    for layer, ((w, b), (n_out, n_in)) in enumerate(zip(params, network.shapes), start=1):
        rows = _rows(w, n_in, f"W{layer}")
        if len(rows) != n_out:
            raise InvalidArgument(f"W{layer} has {len(rows)} rows, expected {n_out}")
        bias = None
        if network.bias:
            if b is None:
                raise InvalidArgument(f"b{layer} is None but network {network.spec} has biases")
            bias = _rows(b, n_out, f"b{layer}")[0]
        elif b is not None:
            raise InvalidArgument(f"b{layer} is given but network {network.spec} has bias=False")
        out.append((rows, bias))
    return tuple(out)


def _round(value: sp.Expr, digits: int) -> sp.Expr:
    if value == 0:
        return sp.Integer(0)
    if value.is_Rational:
        return sp.Float(value, digits)
    v, _ = certified_value(value, digits, allow_zero=True)
    return v


def gradients(
    network: Network, params: Sequence, x: object, y: object, *, digits: int | None = None
) -> SymParams:
    r"""Exact gradients of the batch loss at ``params`` for inputs ``x`` and targets ``y``.

    Same ``(W, b)`` layout as :func:`symcheck.measure.numeric.gradients`, as nested
    tuples of SymPy numbers. ``digits`` (optional) rounds closed forms to that
    many certified significant digits.
    """
    require_network(network)
    network.loss_fn.require_numeric()
    for layer in network.hidden_layers:
        network.activation(layer).require_numeric()
    if digits is not None and (
        isinstance(digits, bool) or not isinstance(digits, int) or digits < 1
    ):
        raise InvalidArgument(f"digits={digits!r} must be a positive int, e.g. 50")
    ps = _params(network, params)
    xs = _rows(x, network.widths[0], "x")
    ys = _rows(y, network.widths[-1], "y")
    if len(xs) != len(ys):
        raise InvalidArgument(f"x has {len(xs)} samples but y has {len(ys)}")
    grads, _ = layered_gradients(network, ps, xs, ys)
    if digits is None:
        return grads
    return tuple(
        (
            tuple(tuple(_round(v, digits) for v in row) for row in w),
            None if b is None else tuple(_round(v, digits) for v in b),
        )
        for w, b in grads
    )
