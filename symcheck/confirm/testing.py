r"""Assertion helpers for a PyTorch project's own tests (also exposed by the pytest plugin).

* :func:`assert_symmetry_broken` — the module has no tie class now;
* :func:`assert_ties_preserved` — a copy trained with the user's optimiser
  keeps every tie class within ``max_spread`` (default: bitwise);
* :func:`assert_gradients_match` — torch autograd agrees with symcheck's
  float64 graph engine within :func:`gradient_tolerance`.

Failures are :class:`AssertionError` messages naming the unit space, the
units and the module's parameters (with axes) that hold them. torch is
imported only when a helper runs, so this module (and the plugin) imports
without it. Guide: ``docs/torch.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = [
    "assert_gradients_match",
    "assert_symmetry_broken",
    "assert_ties_preserved",
    "gradient_tolerance",
    "unit_roundoff",
]


def unit_roundoff(dtype: object) -> float:
    """:math:`u = \\epsilon/2` of a torch or NumPy floating dtype (float32: :math:`2^{-24}`)."""
    name = str(dtype).removeprefix("torch.")
    try:
        return float(np.finfo(np.dtype(name)).eps) / 2
    except TypeError:
        from symcheck.errors import InvalidArgument

        raise InvalidArgument(
            f"dtype={dtype!r} is not a floating dtype; use float16, float32 or float64"
        ) from None


def _gamma(k: float, u: float) -> float:
    """Higham's :math:`\\gamma_k = k u / (1 - k u)` (infinite once :math:`k u \\ge 1`)."""
    return k * u / (1 - k * u) if k * u < 1 else float("inf")


def gradient_tolerance(dtype: object, *, ops: int, length: int) -> float:
    r"""Allowed relative gap between autograd in ``dtype`` and symcheck's float64 gradients.

    A gradient is computed by the forward pass and the backward pass, each
    a chain of ``ops`` operations whose every output is a sum of at most
    ``length`` products (``length`` bounds every reduction: the largest axis
    of any value). By the standard forward-error bound for sums and dot
    products (Higham, *Accuracy and Stability of Numerical Algorithms*,
    2002, §3.1), each value of the chain carries a relative error of at most
    :math:`\gamma_{\text{length}}` relative to its absolute terms, and these
    add up along the chain, so with :math:`k = 2\,\text{ops}\cdot\text{length}`

    .. math::  \text{tol} = \gamma_k(u_{\text{dtype}}) + \gamma_k(u_{64}),

    one term for autograd in ``dtype`` and one for symcheck in float64
    (:math:`u` the unit roundoff). The gap is measured against the largest
    gradient entry of the whole model (normwise), which assumes the terms
    of a gradient are not much larger than the largest gradient (no heavy
    cancellation); a model far from that can fail the check spuriously,
    never pass it wrongly.
    """
    k = 2 * ops * length
    return _gamma(k, unit_roundoff(dtype)) + _gamma(k, unit_roundoff("float64"))


def _as_tuple(inputs: object) -> tuple:
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def _where(space: Any) -> str:
    """``fc1.weight axis 0, fc1.bias axis 0, fc2.weight axis 1`` for a unit space."""
    return ", ".join(f"{r.parameter} axis {r.axis}" for r in space.axes)


def assert_symmetry_broken(model: object, example_inputs: object) -> None:
    """Fail if any unit space of ``model`` has two units with identical parameters now.

    The message lists every tie class: its space, its units and the
    parameters (with axes) that hold them, e.g. from a constant initialiser.
    """
    from symcheck.torch.api import module_ties

    found = module_ties(model, _as_tuple(example_inputs))
    if not found.certificates:
        return
    lines = [
        f"  space {c.space!r}: units {list(c.units)} are identical "
        f"(in {_where(found.symmetries.space(c.space))})"
        for c in found.certificates
    ]
    raise AssertionError(
        f"{type(model).__name__} has {len(found.certificates)} tie class(es); gradient descent "
        "keeps tied units tied (docs/theory.md), so the symmetry is not broken:\n"
        + "\n".join(lines)
    )


def assert_ties_preserved(
    model: object,
    optimizer_factory: Callable[[Iterable[Any]], Any],
    steps: int,
    *,
    inputs: object,
    targets: object,
    loss: Callable[[Any, Any], Any] | None = None,
    max_spread: float = 0.0,
) -> None:
    """Fail if a copy of ``model`` trained ``steps`` steps un-ties any tie class.

    Runs :func:`symcheck.torch.tie_survival` (the user's module is not
    modified); a class fails when its relative spread exceeds ``max_spread``
    (0: the ties must stay bitwise exact). The message names the space,
    units, parameters, the first step with a non-zero spread, the largest
    spread and the first op whose output differed between tied units
    (:func:`symcheck.torch.locate.locate_first_difference`). A model without
    tie classes is refused (InvalidArgument).
    """
    from symcheck.torch import symmetries, tie_survival

    if not isinstance(max_spread, (int, float)) or not max_spread >= 0:
        from symcheck.errors import InvalidArgument

        raise InvalidArgument(f"max_spread={max_spread!r} is not valid; use a number >= 0")
    import torch

    from symcheck.torch.locate import locate_first_difference

    args = _as_tuple(inputs)
    start = torch.get_rng_state()
    result = tie_survival(model, optimizer_factory, args, targets, steps, loss=loss, locate=False)
    bad = [c for c in result.classes if max(c.spreads) > max_spread]
    if not bad:
        return
    found = symmetries(model, args)
    lines = []
    for c in bad:
        lines.append(
            f"  space {c.tie.space!r}: units {list(c.tie.units)} (in "
            f"{_where(found.space(c.tie.space))}) first differ at step {c.first_nonzero}; "
            f"largest relative spread {max(c.spreads):.3g}"
        )
        where = locate_first_difference(
            model, optimizer_factory, args, targets, c, loss=loss, rng_state=start
        )
        if where is not None and where.site is not None:
            lines.append(f"    first differing op: {where.site.text()} (step {where.step})")
    raise AssertionError(
        f"{type(model).__name__} ({result.dtype}) did not keep its ties within "
        f"max_spread={max_spread:g} over {steps} steps (verdict {result.verdict}):\n"
        + "\n".join(lines)
    )


def assert_gradients_match(
    model: object, inputs: object, targets: object, loss: object, *, show: int = 5
) -> None:
    """Fail if torch autograd's gradients differ from symcheck's float64 ones.

    ``loss`` is a torch loss module (``nn.MSELoss()``, ...). Autograd runs
    on ``model`` in its own dtype (its ``.grad`` is restored afterwards);
    the tolerance is :func:`gradient_tolerance` for that dtype and the
    translated graph's size. The message names the worst ``show``
    parameters with their index, both values and the tolerance.
    """
    import torch

    from symcheck.torch.api import gradients, translate_module

    args = _as_tuple(inputs)
    ours = gradients(model, args, targets, loss)
    params = dict(model.named_parameters())  # type: ignore[attr-defined]
    saved = {n: p.grad for n, p in params.items()}
    try:
        for p in params.values():
            p.grad = None
        with torch.enable_grad():
            loss(model(*args), targets).backward()  # type: ignore[operator]
        theirs = {
            n: np.zeros(tuple(p.shape)) if p.grad is None else p.grad.detach().double().numpy()
            for n, p in params.items()
        }
    finally:
        for n, p in params.items():
            p.grad = saved[n]
    graph = translate_module(model, args).graph
    length = max(
        (d for v in (*graph.input_names, *graph.parameter_names) for d in graph.shape(v)),
        default=1,
    )
    dtype = next(iter(params.values())).dtype
    tol = gradient_tolerance(dtype, ops=len(graph.nodes) + 1, length=length)
    scale = max((float(np.max(np.abs(g))) for g in ours.values() if g.size), default=0.0)
    scale = max(scale, float(np.finfo(np.float64).tiny))
    gaps = []
    for name, g in ours.items():
        if g.size == 0:
            continue
        diff = np.abs(theirs[name] - g)
        index = np.unravel_index(int(np.argmax(diff)), diff.shape)
        gaps.append((float(diff[index]) / scale, name, index, float(theirs[name][index]), g))
    bad = sorted((x for x in gaps if x[0] > tol), key=lambda x: -x[0])
    if not bad:
        return
    lines = [
        f"  {name}[{', '.join(map(str, idx))}]: autograd {t:.17g}, symcheck "
        f"{float(g[idx]):.17g} (relative gap {gap:.3g})"
        for gap, name, idx, t, g in bad[:show]
    ]
    raise AssertionError(
        f"{len(bad)} parameter(s) of {type(model).__name__} have autograd gradients that differ "
        f"from symcheck's beyond {tol:.3g} ({str(dtype).removeprefix('torch.')}, "
        f"{len(graph.nodes)} ops, reductions <= {length}):\n" + "\n".join(lines)
    )
