r"""``diff(a, b)``: are two checkpoints the same network up to a permutation of units?

1. Both checkpoints are opened without reading data; they must have the same
   tensor names, shapes and stored dtypes (else :class:`InvalidArgument`
   naming the first mismatch).
2. The unit spaces come from ``model=`` (a graph), else a ``config.json``
   (a known family), else a plain MLP chain
   (:mod:`symcheck.checkpoint.diff_spaces`). Every limit is checked here,
   before any data is read.
3. B is aligned to A by weight matching (:mod:`symcheck.checkpoint.align`).
4. Every tensor of B, permuted, is compared with A: bit for bit in the
   stored dtype (``-0.0`` equals ``+0.0``, NaN payloads are ignored, as for
   the audit's certificates), and by the relative distance

   .. math::

       d(A, B) = \frac{\lVert A - B\rVert_2}{\lVert A\rVert_2}
       \quad (0 \text{ when both are } 0,\ \text{undefined when only } A \text{ is } 0),

   before and after alignment, per tensor and in total (float64 sums, one
   window of a tensor at a time).

The verdict is ``same-up-to-permutation`` only when every permuted tensor
equals A exactly, or, when the caller gives ``tolerance``, when every
tensor's aligned distance is at most it (then the report says so); else
``different``. A permutation of a unit space of the architecture leaves the
network's function unchanged (T1 in docs/theory.md), so equal aligned
weights mean the same network; ``different`` means that the permutation
found does not make them equal (weight matching is a heuristic: it is not a
proof that no permutation would).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symcheck.audit.weights import Limits as FileLimits
from symcheck.checkpoint.align import Alignment, weight_matching
from symcheck.checkpoint.audit import _config, _label
from symcheck.checkpoint.diff_spaces import (
    Architecture,
    chain_spaces,
    family_spaces,
    graph_spaces,
)
from symcheck.checkpoint.dtypes import canonical_bits, decode
from symcheck.checkpoint.families import Space
from symcheck.checkpoint.store import Store, open_store
from symcheck.errors import InvalidArgument, choices_message
from symcheck.limits import LIMITS, Limits

__all__ = ["FORMATS", "SCHEMA", "VERDICTS", "DiffReport", "ParameterDiff", "SpaceDiff", "diff"]

SCHEMA = "symcheck.diff/1"
FORMATS = ("text", "json")
VERDICTS = ("same-up-to-permutation", "different")
#: Elements of one tensor decoded at a time for the distances.
_CHUNK = 1 << 20
_SHOWN = 10


@dataclass(frozen=True)
class ParameterDiff:
    """One tensor: squared norms before and after alignment, exact equality after."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    #: ``|A|^2``, ``|A - B|^2`` and ``|A - aligned B|^2`` (float64 sums; NaN if non-finite).
    norm2: float
    diff2_before: float
    diff2_after: float
    equal: bool

    @property
    def nonfinite(self) -> bool:
        return not all(map(math.isfinite, (self.norm2, self.diff2_before, self.diff2_after)))

    @property
    def before(self) -> float | None:
        return None if self.nonfinite else _relative(self.diff2_before, self.norm2)

    @property
    def after(self) -> float | None:
        return None if self.nonfinite else _relative(self.diff2_after, self.norm2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "before": self.before,
            "after": self.after,
            "equal_after": self.equal,
            "nonfinite": self.nonfinite,
        }


@dataclass(frozen=True)
class SpaceDiff:
    """One unit space: the permutation found (identity when not aligned) and why not."""

    id: str
    kind: str
    label: str
    width: int
    #: Unit ``j`` of A is unit ``permutation[j]`` of B; ``None`` if not expressible.
    permutation: tuple[int, ...] | None
    aligned: bool
    reason: str | None

    @property
    def moved(self) -> int:
        if self.permutation is None:
            return self.width
        return sum(j != p for j, p in enumerate(self.permutation))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "width": self.width,
            "aligned": self.aligned,
            "reason": self.reason,
            "moved": self.moved,
            "permutation": None if self.permutation is None else list(self.permutation),
        }


@dataclass(frozen=True)
class DiffReport:
    """The comparison of two checkpoints up to permutation (``to_json``, ``text``)."""

    a: str
    b: str
    architecture: str
    source: str
    note: str | None
    spaces: tuple[SpaceDiff, ...]
    parameters: tuple[ParameterDiff, ...]
    iterations: int
    #: ``not needed``, ``converged``, ``stopped`` or ``skipped`` (see ``align.Matching``).
    descent: str
    work: int
    tolerance: float | None
    seed: int

    @property
    def before(self) -> float | None:
        """Relative distance of all tensors together, before alignment."""
        return _total(self.parameters, "diff2_before")

    @property
    def after(self) -> float | None:
        """Relative distance of all tensors together, after alignment."""
        return _total(self.parameters, "diff2_after")

    @property
    def exact(self) -> bool:
        """Every tensor of B, permuted, equals A bit for bit."""
        return all(p.equal for p in self.parameters)

    @property
    def verdict(self) -> str:
        if self.exact:
            return "same-up-to-permutation"
        if self.tolerance is not None and all(
            p.after is not None and p.after <= self.tolerance for p in self.parameters
        ):
            return "same-up-to-permutation"
        return "different"

    @property
    def exit_code(self) -> int:
        """0 for the same network, 1 for different."""
        return 0 if self.verdict == "same-up-to-permutation" else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "a": self.a,
            "b": self.b,
            "architecture": self.architecture,
            "spaces_from": self.source,
            "note": self.note,
            "tensors": len(self.parameters),
            "parameters": sum(math.prod(p.shape) for p in self.parameters),
            "distance_before": self.before,
            "distance_after": self.after,
            "verdict": self.verdict,
            "exact": self.exact,
            "tolerance": self.tolerance,
            "iterations": self.iterations,
            "descent": self.descent,
            "sweep_work": self.work,
            "seed": self.seed,
            "spaces": [s.to_dict() for s in self.spaces],
            "tensors_compared": [p.to_dict() for p in self.parameters],
            "exit_code": self.exit_code,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def text(self) -> str:
        return _text(self)


# --------------------------------------------------------------------------- checks


def _same_layout(a: Store, b: Store) -> None:
    """Same names, shapes and dtypes, or one line naming the first mismatch."""
    for name in sorted(set(a.tensors) | set(b.tensors)):
        if name not in b.tensors or name not in a.tensors:
            where, other = ("A", "B") if name in a.tensors else ("B", "A")
            raise InvalidArgument(
                f"tensor {name!r} is in {where} but not in {other}; diff compares checkpoints "
                "with the same tensor names and shapes"
            )
        ra, rb = a.tensors[name], b.tensors[name]
        if ra.shape != rb.shape:
            raise InvalidArgument(
                f"tensor {name!r} has shape {ra.shape} in A and {rb.shape} in B; diff compares "
                "checkpoints with the same tensor names and shapes"
            )
        if ra.dtype.name != rb.dtype.name:
            raise InvalidArgument(
                f"tensor {name!r} is {ra.dtype.name} in A and {rb.dtype.name} in B; convert one "
                "checkpoint so both store the same dtype"
            )


def _check_options(tolerance: float | None, seed: int, limits: Limits) -> None:
    if tolerance is not None and not (
        isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0
    ):
        raise InvalidArgument(
            f"tolerance={tolerance!r} must be a finite number >= 0 (e.g. 1e-6), or None for exact"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= limits.seed:
        raise InvalidArgument(f"seed={seed!r} must be an int in [0, {limits.seed}]")


def _check_widths(spaces: Sequence[Space], limits: Limits) -> None:
    for space in spaces:
        if space.unsound is None and space.width > limits.diff_width:
            raise InvalidArgument(
                f"unit space {space.id!r} has {space.width} units, beyond the diff limit of "
                f"{limits.diff_width} (its cost matrix has width^2 entries); compare a smaller "
                "checkpoint or raise Limits.diff_width"
            )


def _architecture(a: Store, config: object, model: str | None) -> Architecture:
    if model is not None:
        from symcheck.graph.zoo import resolve_model

        shapes = {n: r.shape for n, r in a.tensors.items()}
        return graph_spaces(resolve_model(model), shapes, source=model)
    cfg = _config(a, config)
    if cfg:
        where = "config given" if config is not None else "config.json"
        return family_spaces(a, cfg, source=where)
    return chain_spaces(a)


# --------------------------------------------------------------------------- distances


def _compare(a: Store, b: Store, name: str, aligned: np.ndarray) -> ParameterDiff:
    """Exact equality and squared distances of one tensor, one window at a time."""
    ref = a.tensors[name]
    dtype = ref.dtype
    norm_a = diff_before = diff_after = 0.0
    equal = True
    with a.bits(name) as xa, b.bits(name) as xb:
        fa, fb, fl = xa.reshape(-1), xb.reshape(-1), aligned.reshape(-1)
        with np.errstate(all="ignore"):
            for lo in range(0, fa.size, _CHUNK):
                part = slice(lo, lo + _CHUNK)
                equal = equal and np.array_equal(
                    canonical_bits(fa[part], dtype), canonical_bits(fl[part], dtype)
                )
                va = decode(fa[part], dtype, wide=True)
                vb = decode(fb[part], dtype, wide=True)
                vl = decode(fl[part], dtype, wide=True)
                norm_a += float(np.dot(va, va))
                diff_before += float(np.dot(va - vb, va - vb))
                diff_after += float(np.dot(va - vl, va - vl))
    return ParameterDiff(name, dtype.name, ref.shape, norm_a, diff_before, diff_after, bool(equal))


def _all_equal(a: Store, b: Store, alignment: Alignment) -> bool:
    """Every tensor of B, aligned, equals A's (canonical bits); stops at the first that differs."""
    for name, ref in a.tensors.items():
        aligned = alignment.bits(b, name).reshape(-1)
        with a.bits(name) as xa:
            flat = xa.reshape(-1)
            for lo in range(0, flat.size, _CHUNK):
                part = slice(lo, lo + _CHUNK)
                if not np.array_equal(
                    canonical_bits(flat[part], ref.dtype), canonical_bits(aligned[part], ref.dtype)
                ):
                    return False
    return True


def _relative(diff2: float, norm2: float) -> float | None:
    if norm2 > 0:
        return math.sqrt(diff2 / norm2)
    return 0.0 if diff2 == 0 else None


# --------------------------------------------------------------------------- the API


def diff(
    a: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    b: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    model: str | None = None,
    tolerance: float | None = None,
    seed: int = 0,
    limits: Limits = LIMITS,
    file_limits: FileLimits | None = None,
) -> DiffReport:
    """Compare checkpoints ``a`` and ``b`` up to a permutation of units (module docstring).

    ``a`` and ``b`` are each a file, a directory, a ``*.safetensors.index.json``
    or a list of files. ``config`` is a ``config.json`` path or mapping
    (default: the one beside ``a``); ``model`` a zoo spec, chain spec or
    graph file whose parameters are the checkpoint's tensors (it takes
    precedence over the config). ``tolerance`` (default ``None``: exact)
    admits ``same-up-to-permutation`` when every tensor's aligned relative
    distance is at most it. ``seed`` orders the spaces in each sweep.
    """
    _check_options(tolerance, seed, limits)
    if model is not None and config is not None:
        raise InvalidArgument("give either a model or a config, not both; drop the config")
    with open_store(a, limits=file_limits) as sa, open_store(b, limits=file_limits) as sb:
        _same_layout(sa, sb)
        arch = _architecture(sa, config, model)
        _check_widths(arch.spaces, limits)
        movable = [s for s in arch.spaces if s.unsound is None and s.width > 1]
        matching = weight_matching(
            movable,
            sa,
            sb,
            seed=seed,
            max_iterations=limits.diff_iterations,
            max_work=int(limits.diff_work),
            exact=lambda alignment: _all_equal(sa, sb, alignment),
        )
        spaces = tuple(
            SpaceDiff(
                s.id,
                s.kind,
                s.label,
                s.width,
                matching.permutations.get(s.id, tuple(range(s.width))),
                s.unsound is None,
                s.unsound,
            )
            for s in arch.spaces
        )
        params = tuple(
            _compare(sa, sb, name, matching.alignment.bits(sb, name)) for name in sa.tensors
        )
    return DiffReport(
        _label(a),
        _label(b),
        arch.source,
        arch.kind,
        arch.note,
        spaces,
        params,
        matching.iterations,
        matching.descent,
        matching.work,
        None if tolerance is None else float(tolerance),
        seed,
    )


def _total(params: Sequence[ParameterDiff], which: str) -> float | None:
    """``sqrt(sum |A_t - B_t|^2 / sum |A_t|^2)`` over every tensor ``t``."""
    if any(p.nonfinite for p in params):
        return None
    return _relative(sum(getattr(p, which) for p in params), sum(p.norm2 for p in params))


# --------------------------------------------------------------------------- text


def _num(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.3g}"


def _perm_text(s: SpaceDiff) -> str:
    if not s.aligned:
        return f"  {s.label}: not aligned; {s.reason}"
    if s.permutation is None:
        return f"  {s.label}: moved (not one permutation relative to its outer unit)"
    shown = ", ".join(map(str, s.permutation[:12])) + (", ..." if s.width > 12 else "")
    return f"  {s.label}: {s.moved} of {s.width} moved: [{shown}]"


def _verdict_text(r: DiffReport) -> str:
    if r.exact:
        return f"{r.verdict} (exact: every tensor of B, permuted, equals A bit for bit)"
    if r.verdict == "different":
        unequal = sum(not p.equal for p in r.parameters)
        return f"different ({unequal} of {len(r.parameters)} tensors differ after alignment)"
    worst = max(p.after or 0.0 for p in r.parameters)
    return (
        f"{r.verdict} within tolerance {r.tolerance:g}, not exact (largest aligned relative "
        f"distance {worst:.3g})"
    )


def _text(r: DiffReport) -> str:
    aligned = sum(s.aligned for s in r.spaces)
    sweeps = {
        "not needed": "not needed (the quantile pass aligned B exactly)",
        "converged": f"converged after {r.iterations} sweep(s) (seed {r.seed})",
        "stopped": f"stopped (iteration limit) after {r.iterations} sweep(s) (seed {r.seed})",
        "skipped": f"skipped: one sweep would take {r.work:.3g} multiply-adds, beyond "
        "Limits.diff_work; aligned by the quantile pass only",
    }[r.descent]
    out = [
        f"A: {r.a}; B: {r.b}; {len(r.parameters)} tensors",
        f"unit spaces: {r.architecture}: {len(r.spaces)} spaces, {aligned} aligned",
    ]
    if r.note:
        out.append(r.note)
    if r.spaces:
        out.append(f"weight matching: {sweeps}")
    out.append(f"relative distance |A-B|/|A|: before {_num(r.before)}, after {_num(r.after)}")
    out.append("verdict: " + _verdict_text(r))
    listed = [s for s in r.spaces if s.moved or not s.aligned]
    if listed:
        out.append("permutations (unit j of A is unit p[j] of B):")
        out += [_perm_text(s) for s in listed[:_SHOWN]]
        if len(listed) > _SHOWN:
            out.append(f"  ... {len(listed) - _SHOWN} more (use --format json)")
    unequal = sorted(
        (p for p in r.parameters if not p.equal),
        key=lambda p: -math.inf if p.after is None else -p.after,
    )
    if unequal:
        out.append("tensors that differ after alignment (largest distance first):")
        out += [
            f"  {p.name}: before {_num(p.before)}, after {_num(p.after)}" for p in unequal[:_SHOWN]
        ]
        if len(unequal) > _SHOWN:
            out.append(f"  ... {len(unequal) - _SHOWN} more (use --format json)")
    return "\n".join(out) + "\n"


def render(report: DiffReport, fmt: str = "text") -> str:
    """``text`` for people, ``json`` for machines (schema :data:`SCHEMA`)."""
    if fmt == "json":
        return report.to_json()
    if fmt == "text":
        return report.text()
    raise InvalidArgument(choices_message("format", fmt, FORMATS))
