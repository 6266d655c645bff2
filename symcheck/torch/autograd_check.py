r"""First- and second-order gradient checks of any torch callable, with data-driven tolerances.

The ideas of :mod:`symcheck.confirm.gradcheck`, for a black-box ``fn(*inputs) -> Tensor``
in float64. The output is reduced to a scalar by a fixed random projection,
:math:`L(x) = \langle v, f(x)\rangle` (``v`` from ``seed``), so every output
entry takes part.

**First order**: autograd's :math:`\nabla L` against, per input entry
:math:`j`, the central difference :math:`D(h)` with
:math:`h = \epsilon^{1/3}\max(1, |x_j|)` and the allowed error read off the
data (Richardson: the truncation error scales with :math:`h^2`, so
:math:`D(2h) - D(h) \approx 3 (D(h) - L')`)

.. math::  |D(h) - g_j| \le |D(2h) - D(h)| + 2\,\epsilon_L / h,
           \qquad \epsilon_L = \gamma_n \textstyle\sum_k |v_k f_k(x)|,

:math:`\gamma_n = n u/(1 - n u)` with :math:`n` the number of input and
output entries (a bound on the length of every sum; Higham 2002, §3.1).
Where ``fn`` also runs on complex inputs and the **complex step**
(Squire & Trapp 1998), :math:`\operatorname{Im} L(x + i h e_j)/h` with
:math:`h = 10^{-30}`, agrees with :math:`D(h)` within that bound (a non-analytic
``fn`` does not), the complex step is the reference, with the tolerance
:math:`2\gamma_n \max(\lVert g\rVert_\infty, \lVert r\rVert_\infty)`: it has no
subtractive cancellation.

**Second order**: the Hessian-vector product :math:`Hw` by double backward,
for a fixed random direction :math:`w`, against central differences of
autograd's gradient along :math:`w` with the same Richardson bound. (It
assumes the first-order gradient is right: run ``order=1`` too.)

``torch.autograd.gradcheck`` uses one finite difference with fixed
``atol=1e-5, rtol=1e-3``; the measured difference on planted errors is in
``docs/torch.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from symcheck.errors import InvalidArgument

__all__ = ["MAX_ENTRIES", "GradMismatch", "GradcheckResult", "gradcheck"]

#: The most input entries checked (each costs four or more calls of ``fn``).
MAX_ENTRIES = 20_000
_U = float(np.finfo(np.float64).eps) / 2
_EPS = 2 * _U
_CS_STEP = 1e-30


@dataclass(frozen=True)
class GradMismatch:
    """An input entry where autograd disagrees with the reference beyond the tolerance."""

    input: int
    index: tuple[int, ...]
    autograd: float
    reference: float
    tolerance: float

    def __str__(self) -> str:
        return (
            f"input {self.input}[{', '.join(map(str, self.index))}]: autograd "
            f"{self.autograd:.17g}, reference {self.reference:.17g} "
            f"(tolerance {self.tolerance:.3g})"
        )


@dataclass(frozen=True)
class GradcheckResult:
    """The outcome of one :func:`gradcheck` (``passed``; ``mismatches`` name the entries)."""

    order: int
    method: str  # "complex-step" or "central"
    checked: int
    mismatches: tuple[GradMismatch, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        head = (
            f"order-{self.order} gradcheck ({self.method}, {self.checked} entries): "
            f"{'passed' if self.passed else f'{len(self.mismatches)} mismatch(es)'}"
        )
        return "\n".join([head, *(f"  {m}" for m in self.mismatches[:10])])

    def to_json(self) -> dict[str, object]:
        return {
            "order": self.order,
            "method": self.method,
            "checked": self.checked,
            "passed": self.passed,
            "mismatches": [m.__dict__ | {"index": list(m.index)} for m in self.mismatches],
        }


def _gamma(n: int) -> float:
    return n * _U / (1 - n * _U)


def _inputs(inputs: object) -> tuple[torch.Tensor, ...]:
    raw = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    if not raw or not all(isinstance(t, torch.Tensor) and t.is_floating_point() for t in raw):
        raise InvalidArgument(
            "inputs must be a floating torch tensor or a tuple of them; got "
            f"{[type(t).__name__ for t in raw]}"
        )
    total = sum(t.numel() for t in raw)
    if total > MAX_ENTRIES:
        raise InvalidArgument(
            f"inputs have {total} entries, beyond the limit of {MAX_ENTRIES}; check a smaller case"
        )
    return tuple(t.detach().to(torch.float64).clone() for t in raw)


class _Projected:
    """:math:`L(x) = \\langle v, f(x)\\rangle` for a fixed random ``v`` of the output's shape."""

    def __init__(self, fn: Callable[..., torch.Tensor], xs: Sequence[torch.Tensor], seed: int):
        self.fn = fn
        with torch.no_grad():
            out = fn(*xs)
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            raise InvalidArgument(
                f"fn must return one floating tensor; it returned {type(out).__name__}"
            )
        generator = torch.Generator().manual_seed(seed)
        self.v = torch.randn(out.shape, generator=generator, dtype=torch.float64)
        self.n = sum(x.numel() for x in xs) + out.numel()
        self.terms = float((self.v * out.to(torch.float64)).abs().sum())

    def __call__(self, *xs: torch.Tensor) -> torch.Tensor:
        out = self.fn(*xs)
        return (self.v.to(out.dtype) * out).sum()


def _moved(xs: Sequence[torch.Tensor], a: int, index: tuple, delta: complex) -> list:
    out = list(xs)
    changed = xs[a].to(torch.complex128 if isinstance(delta, complex) else xs[a].dtype).clone()
    changed[index] += delta
    out[a] = changed
    if isinstance(delta, complex):
        out = [x.to(torch.complex128) for x in out]
    return out


def _complex_step(loss: _Projected, xs: Sequence[torch.Tensor], a: int, index: tuple) -> float:
    """``Im L(x + i h e_j) / h``, or NaN where ``fn`` does not run on complex inputs."""
    try:
        with torch.no_grad():
            value = loss(*_moved(xs, a, index, 1j * _CS_STEP))
    except Exception:  # fn is not written for complex tensors: no complex step
        return float("nan")
    if not value.is_complex():
        return float("nan")
    return float(value.imag) / _CS_STEP


def _first_order(
    loss: _Projected, xs: Sequence[torch.Tensor]
) -> tuple[str, list[GradMismatch], int]:
    leaves = [x.clone().requires_grad_(True) for x in xs]
    grads = torch.autograd.grad(loss(*leaves), leaves, allow_unused=True)
    g = [np.zeros(tuple(x.shape)) if d is None else d.detach().numpy() for x, d in zip(xs, grads)]
    rows = []
    complex_ok = True
    eps_l = _gamma(loss.n) * loss.terms
    for a, x in enumerate(xs):
        for index in np.ndindex(tuple(x.shape)):
            h = _EPS ** (1 / 3) * max(1.0, abs(float(x[index])))
            with torch.no_grad():
                f = {s: float(loss(*_moved(xs, a, index, s))) for s in (-2 * h, -h, h, 2 * h)}
            d1 = (f[h] - f[-h]) / (2 * h)
            d2 = (f[2 * h] - f[-2 * h]) / (4 * h)
            tol = abs(d2 - d1) + 2 * eps_l / h
            cs = _complex_step(loss, xs, a, index) if complex_ok else float("nan")
            complex_ok = complex_ok and bool(np.isfinite(cs)) and abs(cs - d1) <= tol
            rows.append((a, index, float(g[a][index]), d1, tol, cs))
    if complex_ok:
        scale = max(max(abs(r[2]) for r in rows), max(abs(r[5]) for r in rows))
        tol = 2 * _gamma(loss.n) * scale
        rows = [(a, i, gv, cs, tol, cs) for a, i, gv, _, _, cs in rows]
    bad = [GradMismatch(a, i, gv, ref, t) for a, i, gv, ref, t, _ in rows if abs(gv - ref) > t]
    return ("complex-step" if complex_ok else "central"), bad, len(rows)


def _second_order(
    loss: _Projected, xs: Sequence[torch.Tensor], seed: int
) -> tuple[list[GradMismatch], int]:
    generator = torch.Generator().manual_seed(seed + 1)
    w = [torch.randn(x.shape, generator=generator, dtype=torch.float64) for x in xs]

    def grad_at(points: Sequence[torch.Tensor], create: bool) -> tuple:
        leaves = [p.clone().requires_grad_(True) for p in points]
        grads = torch.autograd.grad(loss(*leaves), leaves, create_graph=create, allow_unused=True)
        return leaves, [torch.zeros_like(p) if d is None else d for p, d in zip(leaves, grads)]

    leaves, g = grad_at(xs, True)
    gw = sum((d * wi).sum() for d, wi in zip(g, w))
    if gw.requires_grad:
        hv = torch.autograd.grad(gw, leaves, allow_unused=True)
    else:  # the gradient does not depend on x: H = 0
        hv = (None,) * len(leaves)
    hw = [np.zeros(tuple(x.shape)) if d is None else d.detach().numpy() for x, d in zip(xs, hv)]
    size = max(float(max(x.abs().max() for x in xs)), 1.0)
    wmax = float(max(wi.abs().max() for wi in w))
    h = _EPS ** (1 / 3) * size / wmax
    moved = {
        s: [d.detach().numpy() for d in grad_at([x + s * wi for x, wi in zip(xs, w)], False)[1]]
        for s in (-2 * h, -h, h, 2 * h)
    }
    scale = max(max(float(np.max(np.abs(m))) for m in ms) for ms in moved.values())
    eps_g = _gamma(loss.n) * max(scale, loss.terms)
    bad, count = [], 0
    for a, x in enumerate(xs):
        for index in np.ndindex(tuple(x.shape)):
            count += 1
            d1 = (moved[h][a][index] - moved[-h][a][index]) / (2 * h)
            d2 = (moved[2 * h][a][index] - moved[-2 * h][a][index]) / (4 * h)
            tol = abs(d2 - d1) + 2 * eps_g / h
            if abs(hw[a][index] - d1) > tol:
                bad.append(GradMismatch(a, tuple(map(int, index)), float(hw[a][index]), d1, tol))
    return bad, count


def gradcheck(
    fn: Callable[..., torch.Tensor], inputs: object, *, order: int = 1, seed: int = 0
) -> GradcheckResult:
    """Check autograd's derivatives of ``fn`` at ``inputs`` (cast to float64); see the module.

    ``order=1``: the gradient of the projected output; ``order=2``: a
    Hessian-vector product. Returns a :class:`GradcheckResult` (it does not
    raise on a mismatch: ``assert result.passed, result``).
    """
    if order not in (1, 2):
        raise InvalidArgument(f"order={order!r} is not supported; use 1 or 2")
    xs = _inputs(inputs)
    loss = _Projected(fn, xs, seed)
    if order == 1:
        method, bad, count = _first_order(loss, xs)
        return GradcheckResult(1, method, count, tuple(bad))
    bad, count = _second_order(loss, xs, seed)
    return GradcheckResult(2, "central", count, tuple(bad))
