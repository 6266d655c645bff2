"""Helpers that map functions over parameter lists ``[(W, b), ...]`` or name -> array maps.

``b`` may be ``None`` (networks without bias); the helpers skip it and keep
it ``None``. A mapping (a graph's parameter dict, ``{"fc1.weight": W, ...}``)
is taken in its iteration order and rebuilt as a ``dict`` with the same keys.
Every function returns new containers and never mutates its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from symcheck.errors import InvalidArgument

__all__ = ["leaves", "map_params", "unflatten"]

NDArray = np.ndarray
Params = list[tuple[NDArray, "NDArray | None"]]


def leaves(params: Sequence | Mapping) -> list[NDArray]:
    """The arrays of ``params`` in order ``W1, b1, W2, b2, ...`` (``None`` skipped).

    For a mapping, its values in iteration order.
    """
    if isinstance(params, Mapping):
        return list(params.values())
    return [leaf for pair in params for leaf in pair if leaf is not None]


def unflatten(template: Sequence | Mapping, values: Sequence[NDArray]) -> Params | dict:
    """Rebuild the layout of ``template`` (``[(W, b), ...]`` or a mapping) from ``leaves`` order."""
    if isinstance(template, Mapping):
        return dict(zip(template, values, strict=True))
    it = iter(values)
    out: Params = []
    for _w, b in template:
        new_w = next(it)
        new_b = next(it) if b is not None else None
        out.append((new_w, new_b))
    return out


def map_params(
    fn: Callable[..., NDArray], params: Sequence | Mapping, *rest: Sequence | Mapping
) -> Params | dict:
    """Apply ``fn(leaf, *matching_leaves)`` to every array of ``params``.

    The parameter lists in ``rest`` must have the same layout as ``params``.
    """
    first = leaves(params)
    others = [leaves(r) for r in rest]
    for other in others:
        if len(other) != len(first):
            raise InvalidArgument(
                f"parameter lists have {len(first)} and {len(other)} arrays; "
                "give lists with the same (W, b) layout"
            )
    return unflatten(params, [fn(*group) for group in zip(first, *others)])
