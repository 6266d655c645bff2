r"""Certified evaluation of a graph's loss and gradients at an exact rational point.

Exact SymPy arithmetic through a layer norm and a softmax nests radicals and
exponentials until it stalls (a one-block transformer with ``d_model`` 4 does
not finish in minutes). Here the SymPy backend runs one node at a time and
every value that is not a rational number is replaced by a fresh *opaque*
symbol whose enclosure :func:`symcheck.prove.zerotest.interval` computes from the
node's (shallow) expression and the enclosures of its inputs. The symbol
carries the sign its enclosure decides, so the kernels' branches
(``xp.positive``) are taken only where the enclosure decides the sign. A residual
:math:`a - b` of two results is then certified non-zero by
:func:`symcheck.prove.zerotest.certified_value` with these enclosures (``env``):
interval arithmetic at :data:`symcheck.prove.zerotest.PRECISION_BITS` bits, so a
returned value is a proof, not a float. ``erf`` (the gelu activation), which
the zero test's intervals lack, is enclosed here by its series with a
bounded tail (:func:`erf_enclosure`).

With ``stand_in=True`` the abstract activation ``sigma`` is replaced, node by
node, by the chain prover's witness activation
:math:`\sigma(u) = (1 + u)^2/2` (:data:`symcheck.prove.witness.SIGMA_WITNESS`),
so a graph with ``sigma`` can be evaluated at a witness. A difference found
this way refutes a claim made *for every* :math:`\sigma` (one :math:`\sigma`
is a counterexample), not a claim about one particular activation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from itertools import count

import mpmath
import numpy as np
import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import SYMPY
from symcheck.graph.ir import Graph
from symcheck.graph.ops import get_op
from symcheck.prove.witness import instantiate_abstract
from symcheck.prove.zerotest import PRECISION_BITS, interval

__all__ = ["Enclosures", "erf_enclosure"]


#: Beyond this |x| erf is enclosed by the complementary bound instead of the series.
_SERIES_LIMIT = 8


def _erf_point(x: object) -> object:
    r"""An enclosure of erf at the exact binary number ``x`` (an ``mpf``).

    The Maclaurin series :math:`\operatorname{erf}(x) = \frac{2}{\sqrt\pi}
    \sum_n \frac{(-1)^n x^{2n+1}}{n!(2n+1)}` in interval arithmetic, stopped
    once the terms decrease (:math:`n > x^2`) and are below :math:`2^{-p}`;
    the tail of an alternating series with decreasing terms is bounded by the
    first omitted term, added as :math:`[-t, t]`. For :math:`|x| > 8` the
    bound :math:`0 < 1 - |\operatorname{erf}(x)| < e^{-x^2}/(|x|\sqrt\pi)`
    is used instead (no long series).
    """
    iv = mpmath.iv
    xi = iv.mpf(x)
    if abs(xi).a > _SERIES_LIMIT:  # 1 - exp(-x^2) / (|x| sqrt(pi)) < |erf(x)| < 1
        gap = iv.exp(-xi * xi) / (abs(xi) * iv.sqrt(iv.pi))
        inside = iv.mpf([(1 - gap).a, 1])
        return inside if xi.a > 0 else -inside
    x2 = xi * xi
    term = xi  # (-1)^n x^(2n+1) / n!
    total = iv.mpf(0)
    n = 0
    limit = iv.mpf(2) ** (-PRECISION_BITS)
    while True:
        piece = term / (2 * n + 1)
        if n > float(mpmath.mpf(x2.b)) and abs(piece).b < limit.a:
            total = total + iv.mpf([-abs(piece).b, abs(piece).b])
            break
        total = total + piece
        n += 1
        term = -term * x2 / n
    return 2 / iv.sqrt(iv.pi) * total


def erf_enclosure(arg: object) -> object:
    """An interval that encloses erf over the interval ``arg`` (erf increases)."""
    with mpmath.workprec(PRECISION_BITS):
        mpmath.iv.prec = PRECISION_BITS
        low = _erf_point(arg.a)  # type: ignore[attr-defined]
        high = _erf_point(arg.b)  # type: ignore[attr-defined]
        return mpmath.iv.mpf([low.a, high.b])


class Enclosures:
    """Opaque symbols and their interval enclosures (``env`` for ``certified_value``)."""

    def __init__(self, *, stand_in: bool = False) -> None:
        if not isinstance(stand_in, bool):
            raise InvalidArgument(f"stand_in={stand_in!r} must be True or False")
        self.stand_in = stand_in
        self.env: dict[sp.Symbol, object] = {}
        self._names = count()
        # The SymPy backend, with signs decided by enclosures (max pooling, elu).
        self.backend = replace(SYMPY, name="sympy-enclosed", positive=self._positive)

    def _positive(self, array: object) -> np.ndarray:
        """``a > 0`` entrywise where the enclosure decides it; raise where it straddles 0."""
        array = np.asarray(array, dtype=object)
        out = np.empty(array.shape, dtype=bool)
        for index, value in np.ndenumerate(array):
            enclosure = interval(sp.sympify(value), env=self.env)
            if enclosure.a > 0 or enclosure.b <= 0:  # type: ignore[attr-defined]
                out[index] = bool(enclosure.a > 0)  # type: ignore[attr-defined]
            else:
                raise ValueError(f"the sign of {value} is not decided by its enclosure")
        return out

    def opaque(self, array: object) -> np.ndarray:
        """Every non-rational entry replaced by a symbol with a certified enclosure and sign."""
        array = np.asarray(array, dtype=object)
        out = np.empty(array.shape, dtype=object)
        for index, value in np.ndenumerate(array):
            value = sp.sympify(value)
            if self.stand_in:
                value = instantiate_abstract(value)
            if value.is_Rational or value in self.env:
                out[index] = value
                continue
            value = self._without_erf(value)
            enclosure = interval(value, env=self.env)
            positive = bool(enclosure.a > 0)  # type: ignore[attr-defined]
            negative = bool(enclosure.b < 0)  # type: ignore[attr-defined]
            signs = {"positive": True} if positive else {"negative": True} if negative else {}
            symbol = sp.Symbol(f"_enc{next(self._names)}", real=True, **signs)
            self.env[symbol] = enclosure
            out[index] = symbol
        return out

    def _without_erf(self, value: sp.Expr) -> sp.Expr:
        """Replace every ``erf(u)`` by an opaque symbol enclosed by :func:`erf_enclosure`."""
        calls = sorted(value.atoms(sp.erf), key=sp.count_ops)
        for call in calls:
            inner = self._without_erf(call.args[0])
            symbol = sp.Symbol(f"_enc{next(self._names)}", real=True)
            self.env[symbol] = erf_enclosure(interval(inner, env=self.env))
            value = value.xreplace({call: symbol})
        return value

    def loss_and_gradients(
        self,
        graph: Graph,
        params: Mapping[str, np.ndarray],
        inputs: Mapping[str, np.ndarray],
        target: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """The gradient of every parameter, reverse mode, every value enclosed node by node."""
        if graph.loss is None:
            raise ValueError("the graph has no loss")
        values: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in inputs.items()}
        values.update({k: np.asarray(v, dtype=object) for k, v in params.items()})
        caches: dict[str, object] = {}
        for node in graph.nodes:
            arrays = [values[n] for n in (*node.inputs, *node.params)]
            out, caches[node.output] = get_op(node.op).forward()(
                self.backend, *arrays, **node.attr_dict
            )
            values[node.output] = self.opaque(out)
        loss_op = get_op(graph.loss.name)
        _, loss_cache = loss_op.forward()(
            self.backend, values[graph.output], target, reduction=graph.loss.reduction
        )
        one = np.asarray(sp.Integer(1), dtype=object)
        grads = {graph.output: self.opaque(loss_op.backward()(self.backend, loss_cache, one)[0])}
        for node in reversed(graph.nodes):
            if node.output not in grads:
                continue
            parts = get_op(node.op).backward()(
                self.backend, caches[node.output], grads[node.output]
            )
            for name, grad in zip((*node.inputs, *node.params), parts, strict=True):
                if grad is None:
                    continue
                total = grads[name] + grad if name in grads else grad
                grads[name] = self.opaque(total)
        zero = sp.Integer(0)
        return {
            p: grads[p] if p in grads else np.full(graph.shape(p), zero, dtype=object)
            for p in graph.parameter_names
        }
