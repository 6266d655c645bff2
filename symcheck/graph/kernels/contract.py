r"""Multilinear ops without parameters of their own: ``einsum`` and ``scale``.

* ``einsum`` (``torch.einsum``; also ``matmul``, ``bmm``, ``sum`` over axes):
  :math:`\mathrm{out}_{I_o} = \sum_{\text{other letters}} \prod_i (x_i)_{I_i}`
  for an explicit equation ``"ab,bc->ac"`` (no ``...``, no letter twice in
  one operand). Its gradient for operand :math:`i` is the einsum of the
  upstream gradient with the other operands onto :math:`I_i`; a letter that
  occurs only in operand :math:`i` (summed out in the forward pass) has a
  derivative of one, so the gradient is broadcast along it.
* ``scale``: :math:`c\,x` for an exact constant :math:`c` (``x / 8``, ``-x``);
  gradient :math:`c\,g`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import Backend

__all__ = [
    "einsum_backward",
    "einsum_forward",
    "parse_equation",
    "scale_backward",
    "scale_forward",
]

NDArray = np.ndarray


def parse_equation(equation: object, count: int) -> tuple[tuple[str, ...], str]:
    """Split ``"ab,bc->ac"`` into operand subscripts and output subscripts, validated."""
    if not isinstance(equation, str) or "->" not in equation or "." in equation:
        raise InvalidArgument(
            f"einsum: equation={equation!r} is not valid; give an explicit equation like "
            "'ab,bc->ac' (with '->', without '...')"
        )
    left, out = equation.replace(" ", "").split("->")
    operands = tuple(left.split(","))
    letters = "".join(operands) + out
    if not all(c.isalpha() for c in letters):
        raise InvalidArgument(f"einsum: equation={equation!r} may only use letters, ',' and '->'")
    if len(operands) != count:
        raise InvalidArgument(
            f"einsum: equation={equation!r} names {len(operands)} operands, {count} given"
        )
    for subscripts in (*operands, out):
        if len(set(subscripts)) != len(subscripts):
            raise InvalidArgument(
                f"einsum: {subscripts!r} in {equation!r} repeats a letter (a diagonal); "
                "each operand and the output must use a letter at most once"
            )
    missing = set(out) - set("".join(operands))
    if missing:
        raise InvalidArgument(f"einsum: output letters {sorted(missing)} occur in no operand")
    return operands, out


def einsum_forward(xp: Backend, *xs: NDArray, equation: str) -> tuple[NDArray, tuple]:
    """``np.einsum(equation, *xs)`` (works on float and object arrays)."""
    operands, out = parse_equation(equation, len(xs))
    sizes: dict[str, int] = {}
    for subscripts, x in zip(operands, xs):
        if len(subscripts) != np.ndim(x):
            raise InvalidArgument(
                f"einsum: operand {subscripts!r} has {len(subscripts)} letters but the array "
                f"has shape {np.shape(x)}"
            )
        for letter, size in zip(subscripts, np.shape(x)):
            if sizes.setdefault(letter, size) != size:
                raise InvalidArgument(
                    f"einsum: letter {letter!r} has sizes {sizes[letter]} and {size}; "
                    "they must agree"
                )
    result = np.einsum(f"{','.join(operands)}->{out}", *xs)
    return np.asarray(result), (operands, out, xs, sizes)


def einsum_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for every operand (see the module docstring)."""
    operands, out, xs, sizes = cache
    grads = []
    for i, subscripts in enumerate(operands):
        others = [(s, x) for j, (s, x) in enumerate(zip(operands, xs)) if j != i]
        seen = set(out).union(*(set(s) for s, _ in others))
        reached = "".join(c for c in subscripts if c in seen)
        terms = ",".join([out, *(s for s, _ in others)])
        grad = np.asarray(np.einsum(f"{terms}->{reached}", grad_out, *(x for _, x in others)))
        if reached != subscripts:
            shaped = [sizes[c] if c in reached else 1 for c in subscripts]
            grad = np.reshape(grad, shaped)
            grad = np.array(np.broadcast_to(grad, tuple(sizes[c] for c in subscripts)))
        grads.append(grad)
    return tuple(grads)


def scale_forward(xp: Backend, x: NDArray, *, factor: Fraction) -> tuple[NDArray, tuple]:
    """``factor * x``."""
    c = xp.const(Fraction(factor))
    return x * c, (c,)


def scale_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,)."""
    return (grad_out * cache[0],)
