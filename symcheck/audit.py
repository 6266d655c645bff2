r"""``symcheck audit``: symmetry classes and effective width of real weight files.

A weight file is read by :mod:`symcheck.weights` (safely), then

* if its 2-D weights form the chain of a sequential MLP (names ``0.weight``,
  ``2.weight``…, ``fc1.weight``…, ``layers.N.weight``, ``W1``/``b1``, or the
  names given with ``--layers``), every hidden layer gets its width, its exact
  tie classes (T1), its effective width (blocks of the coarsest equitable
  partition, T3), its nearest pair of neurons on the scale-free distance of
  :class:`~symcheck.partition.NearestPair`, and a verdict;
* otherwise every 2-D floating tensor gets its duplicate rows and columns.

A hidden layer is **collapsed** when its effective width is below its width:
under SGD, momentum, Adam or AdamW the neurons of one block can never become
different (T3), so the layer is as narrow as its number of blocks. It is a
**near tie** when two neurons are closer than :func:`near_tie_threshold` (the
square root of the weight dtype's machine epsilon, half the significand),
which rounding alone can slowly pull apart (DESIGN.md §4).

The JSON form of :class:`AuditReport` (``to_dict``) is a stable schema,
documented in ``docs/audit.md``; :data:`SCHEMA_VERSION` changes when a field
changes meaning.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symcheck.errors import InvalidArgument, choices_message
from symcheck.partition import NearestPair, analyse, matrix_classes
from symcheck.weights import Limits, NonFinite, WeightFile, load_weights

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "AuditReport",
    "LayerAudit",
    "MatrixAudit",
    "audit_file",
    "audit_params",
    "audit_weights",
    "infer_chain",
    "near_tie_threshold",
    "render_audit",
]

SCHEMA_VERSION = 1
FORMATS = ("text", "json")

NDArray = np.ndarray

FULL, COLLAPSED, NEAR_TIE = "full", "collapsed", "near-tie"


@dataclass(frozen=True)
class LayerAudit:
    """One hidden layer of a chain: its tie classes, blocks and nearest pair."""

    index: int
    name: str
    weight: str
    bias: str | None
    width: int
    ties: tuple[tuple[int, ...], ...]
    blocks: tuple[tuple[int, ...], ...]
    nearest: NearestPair
    near_tie: bool

    @property
    def classes(self) -> int:
        """Number of exact tie classes."""
        return len(self.ties)

    @property
    def effective_width(self) -> int:
        return len(self.blocks)

    @property
    def verdict(self) -> str:
        if self.effective_width < self.width:
            return COLLAPSED
        return NEAR_TIE if self.near_tie else FULL

    def to_dict(self) -> dict[str, Any]:
        pair = self.nearest
        return {
            "index": self.index,
            "name": self.name,
            "weight": self.weight,
            "bias": self.bias,
            "width": self.width,
            "classes": self.classes,
            "ties": [list(t) for t in self.ties if len(t) > 1],
            "effective_width": self.effective_width,
            "blocks": [list(b) for b in self.blocks if len(b) > 1],
            "nearest": {
                "distance": pair.distance,
                "pair": list(pair.pair) if pair.pair is not None else None,
                "exact": pair.exact,
            },
            "near_tie": self.near_tie,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class MatrixAudit:
    """Duplicate rows and columns of one 2-D tensor outside a chain."""

    name: str
    shape: tuple[int, int]
    rows: tuple[tuple[int, ...], ...]
    columns: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "distinct_rows": len(self.rows),
            "duplicate_rows": [list(g) for g in self.rows if len(g) > 1],
            "distinct_columns": len(self.columns),
            "duplicate_columns": [list(g) for g in self.columns if len(g) > 1],
        }


@dataclass(frozen=True)
class AuditReport:
    """Everything ``symcheck audit`` reports about one file."""

    file: str
    format: str
    tensors: int
    parameters: int
    tolerance: float
    chain: tuple[str, ...]
    layers: tuple[LayerAudit, ...]
    matrices: tuple[MatrixAudit, ...]
    nonfinite: tuple[NonFinite, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def mode(self) -> str:
        return "chain" if self.chain else "matrices"

    @property
    def collapsed(self) -> bool:
        return any(layer.verdict == COLLAPSED for layer in self.layers)

    @property
    def exit_code(self) -> int:
        """1 when a hidden layer collapsed (the CI gate), else 0."""
        return 1 if self.collapsed else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "file": self.file,
            "format": self.format,
            "tensors": self.tensors,
            "parameters": self.parameters,
            "tolerance": self.tolerance,
            "mode": self.mode,
            "chain": list(self.chain),
            "layers": [layer.to_dict() for layer in self.layers],
            "matrices": [m.to_dict() for m in self.matrices],
            "nonfinite": [{"tensor": n.tensor, "nan": n.nan, "inf": n.inf} for n in self.nonfinite],
            "skipped": list(self.skipped),
            "collapsed": self.collapsed,
            "exit_code": self.exit_code,
        }


# --------------------------------------------------------------------------- chains

_WEIGHT = re.compile(r"^(?P<prefix>.+)\.weight$|^[Ww](?P<index>\d+)$")


def _bias_name(weight: str) -> str:
    match = _WEIGHT.match(weight)
    if match and match.group("index") is not None:
        return f"b{match.group('index')}"
    return weight[: -len("weight")] + "bias" if weight.endswith(".weight") else weight + ".bias"


def _layer_name(weight: str) -> str:
    return weight[: -len(".weight")] if weight.endswith(".weight") else weight


def _natural_key(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _chains(order: Sequence[str], tensors: Mapping[str, NDArray]) -> bool:
    if len(order) < 2:
        return False
    shapes = [tensors[n].shape for n in order]
    return all(nxt[1] == prev[0] for prev, nxt in itertools.pairwise(shapes))


def infer_chain(tensors: Mapping[str, NDArray]) -> tuple[str, ...]:
    """The weight names of a sequential MLP, input side first, or ``()``.

    Every floating tensor must be a 2-D weight (``P.weight`` or ``W<n>``) or
    the matching 1-D bias (``P.bias`` or ``b<n>``), and consecutive weights
    must chain (``n_in`` of one = ``n_out`` of the previous). The file's own
    order is tried first, then the natural order of the names (``fc2`` before
    ``fc10``).
    """
    floats = {k: v for k, v in tensors.items() if v.dtype.kind == "f"}
    weights = [k for k, v in floats.items() if v.ndim == 2 and _WEIGHT.match(k)]
    biases = {_bias_name(w) for w in weights}
    for k, v in floats.items():
        if k in weights:
            continue
        if k not in biases or v.ndim != 1:
            return ()
    for w in weights:
        b = _bias_name(w)
        if b in floats and floats[b].shape != (floats[w].shape[0],):
            return ()
    for order in (weights, sorted(weights, key=_natural_key)):
        if _chains(order, floats):
            return tuple(order)
    return ()


def _explicit_chain(names: Sequence[str], tensors: Mapping[str, NDArray]) -> tuple[str, ...]:
    matrices = sorted(k for k, v in tensors.items() if v.ndim == 2 and v.dtype.kind == "f")
    chain = []
    for raw in names:
        name = raw if raw in tensors else f"{raw}.weight"
        if name not in matrices:
            shown = matrices if len(matrices) <= 20 else [*matrices[:20], "..."]
            raise InvalidArgument(choices_message("--layers entry", raw, shown))
        chain.append(name)
    if not _chains(chain, tensors):
        shapes = [tuple(tensors[n].shape) for n in chain]
        raise InvalidArgument(
            f"--layers {','.join(names)} do not chain: shapes {shapes}; give two or more "
            "weights, input side first, each with as many columns as the previous has rows"
        )
    return tuple(chain)


# --------------------------------------------------------------------------- audits


def near_tie_threshold(dtype: np.dtype) -> float:
    r"""Distance below which two neurons are a near tie: :math:`\sqrt{\varepsilon}` of ``dtype``."""
    kind = np.dtype(dtype)
    return float(np.sqrt(np.finfo(kind if kind.kind == "f" else np.float64).eps))


def _check_tolerance(tolerance: float) -> float:
    t = float(tolerance)
    if not np.isfinite(t) or t < 0:
        raise InvalidArgument(f"tolerance={tolerance!r} must be a finite number >= 0")
    return t


def audit_weights(
    weights: WeightFile,
    *,
    tolerance: float = 0.0,
    layers: Sequence[str] | None = None,
    seed: int = 0,
) -> AuditReport:
    """Audit tensors already loaded by :func:`symcheck.weights.load_weights`."""
    tol = _check_tolerance(tolerance)
    tensors = weights.tensors
    chain = _explicit_chain(layers, tensors) if layers else infer_chain(tensors)
    base = {
        "file": weights.name,
        "format": weights.format,
        "tensors": len(tensors),
        "parameters": weights.parameter_count,
        "tolerance": tol,
        "nonfinite": weights.nonfinite,
        "skipped": weights.skipped,
    }
    if not chain:
        matrices = tuple(
            MatrixAudit(name, tuple(t.shape), *matrix_classes(t, tolerance=tol))
            for name, t in tensors.items()
            if t.ndim == 2 and t.dtype.kind == "f"
        )
        return AuditReport(chain=(), layers=(), matrices=matrices, **base)
    biases = [_bias_name(w) if _bias_name(w) in tensors else None for w in chain]
    params = [(tensors[w], tensors[b] if b else None) for w, b in zip(chain, biases)]
    names = [_layer_name(w) for w in chain]
    audits = _layer_audits(params, names, chain, biases, tol, seed)
    return AuditReport(chain=chain, layers=audits, matrices=(), **base)


def _layer_audits(
    params: Sequence[tuple[NDArray, NDArray | None]],
    names: Sequence[str],
    weights: Sequence[str],
    biases: Sequence[str | None],
    tolerance: float,
    seed: int,
) -> tuple[LayerAudit, ...]:
    report = analyse(params, tolerance=tolerance, seed=seed)
    out = []
    for k, (ties, blocks, nearest) in enumerate(
        zip(report.ties.layers, report.equitable.layers, report.nearest)
    ):
        threshold = near_tie_threshold(params[k][0].dtype)
        near = nearest.distance is not None and nearest.distance < threshold
        out.append(
            LayerAudit(
                index=k + 1,
                name=names[k],
                weight=weights[k],
                bias=biases[k],
                width=ties.width,
                ties=ties.blocks,
                blocks=blocks.blocks,
                nearest=nearest,
                near_tie=near,
            )
        )
    return tuple(out)


def audit_params(
    params: Sequence[tuple[NDArray, NDArray | None]],
    *,
    tolerance: float = 0.0,
    name: str = "params",
    seed: int = 0,
) -> AuditReport:
    """Audit an in-memory ``[(W, b), ...]`` list (layers named ``1..L``)."""
    tol = _check_tolerance(tolerance)
    weights = tuple(f"W{k}" for k in range(1, len(params) + 1))
    biases = [f"b{k}" if b is not None else None for k, (_, b) in enumerate(params, start=1)]
    names = [str(k) for k in range(1, len(params) + 1)]
    layers = _layer_audits(params, names, weights, biases, tol, seed)
    count = sum(np.size(w) + (np.size(b) if b is not None else 0) for w, b in params)
    return AuditReport(
        file=name,
        format="memory",
        tensors=len(params) + sum(b is not None for _, b in params),
        parameters=int(count),
        tolerance=tol,
        chain=weights,
        layers=layers,
        matrices=(),
    )


def audit_file(
    path: str | os.PathLike[str],
    *,
    tolerance: float = 0.0,
    layers: Sequence[str] | None = None,
    limits: Limits | None = None,
) -> AuditReport:
    """Load ``path`` safely and audit it."""
    _check_tolerance(tolerance)
    return audit_weights(load_weights(path, limits=limits), tolerance=tolerance, layers=layers)


# --------------------------------------------------------------------------- rendering

_MAX_LISTED = 8


def _groups_text(groups: Sequence[Sequence[int]]) -> str:
    big = [g for g in groups if len(g) > 1]
    if not big:
        return "none"
    shown = []
    for g in big[:_MAX_LISTED]:
        members = ", ".join(str(i) for i in g[:_MAX_LISTED])
        shown.append("{" + members + (", …" if len(g) > _MAX_LISTED else "") + "}")
    more = f" and {len(big) - _MAX_LISTED} more" if len(big) > _MAX_LISTED else ""
    return " ".join(shown) + more


def _nearest_text(pair: NearestPair) -> str:
    if pair.distance is None:
        return "n/a"
    approx = "" if pair.exact else " (an upper bound, found by projections)"
    tied = " (tied)" if pair.distance == 0 else ""
    return f"{pair.distance:.3g}{tied} between neurons {pair.pair[0]} and {pair.pair[1]}{approx}"


def _render_text(report: AuditReport) -> str:
    lines = [
        f"{report.file}: {report.format}, {report.tensors} tensors, "
        f"{report.parameters} parameters"
        + (f", tolerance {report.tolerance:g}" if report.tolerance else ", exact comparison")
    ]
    for bad in report.nonfinite:
        lines.append(f"warning: tensor {bad.tensor!r} holds {bad.nan} NaN and {bad.inf} Inf")
    if report.skipped:
        lines.append(f"skipped non-tensor entries: {', '.join(report.skipped)}")
    if report.chain:
        lines.append(f"chain: {' -> '.join(report.chain)}")
        for layer in report.layers:
            lines.append(
                f"hidden layer {layer.index} ({layer.name}): width {layer.width}, "
                f"tie classes {layer.classes}, effective width {layer.effective_width} "
                f"-> {layer.verdict}"
            )
            if layer.classes < layer.width:
                lines.append(f"  tied neurons: {_groups_text(layer.ties)}")
            if layer.effective_width < layer.classes:
                lines.append(f"  lumped blocks: {_groups_text(layer.blocks)}")
            lines.append(f"  nearest pair: {_nearest_text(layer.nearest)}")
        collapsed = [layer for layer in report.layers if layer.verdict == COLLAPSED]
        if collapsed:
            lines.append(
                "COLLAPSED: "
                + "; ".join(
                    f"hidden layer {c.index} ({c.name}) has {c.effective_width} distinct "
                    f"neuron{'s' if c.effective_width > 1 else ''} of {c.width}"
                    for c in collapsed
                )
                + ". SGD, momentum, Adam and AdamW can never make them differ (T3)."
            )
        else:
            lines.append("ok: every hidden layer keeps its full width")
    else:
        lines.append("no MLP chain found; duplicate rows and columns of every 2-D tensor:")
        for m in report.matrices:
            lines.append(
                f"{m.name} {m.shape[0]}x{m.shape[1]}: {len(m.rows)} distinct rows "
                f"(duplicates: {_groups_text(m.rows)}), {len(m.columns)} distinct columns "
                f"(duplicates: {_groups_text(m.columns)})"
            )
    return "\n".join(lines) + "\n"


def render_audit(report: AuditReport, fmt: str = "text") -> str:
    """The report as ``text`` (for people) or ``json`` (the stable schema)."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
    if fmt == "text":
        return _render_text(report)
    raise InvalidArgument(choices_message("format", fmt, FORMATS))
