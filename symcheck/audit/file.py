r"""``symcheck audit``: identical units, dead units and effective width of weight files.

A weight file is read by :mod:`symcheck.audit.weights` (safely). What the audit may
say depends on whether the **architecture is known**:

* **Known** (the user asserted it: ``--arch mlp``, or ``--layers`` naming the
  weights of a plain sequential MLP with elementwise activations, or
  :func:`audit_params` on a ``[(W, b), ...]`` list): every hidden layer gets
  its width, its exact tie classes (T1), its effective width (blocks of the
  coarsest equitable partition, T3), dead units, its nearest pair of neurons
  and a verdict. A layer is **collapsed** only when its ties are certified by
  a permutation of the hidden units that maps the parameters to themselves
  exactly (:func:`symcheck.prove.tie_certificate.check_certificate`) and its
  lumped blocks by exact block sums (:func:`~symcheck.prove.tie_certificate.check_lumping`);
  then SGD, momentum, Adam and AdamW can never make its units differ in
  exact arithmetic (``docs/theory.md``, T1-T3).
* **Unknown** (the default; names and shapes never decide it): the audit
  reports **observations only**: units with identical incoming row, bias and
  outgoing column (``identical-units``), dead units (all-zero incoming or
  outgoing weights) and nearest pairs when the 2-D tensors chain in the
  numeric order of their names; otherwise the identical and all-zero rows and
  columns of every 2-D tensor. It makes no claim about training: a residual
  connection, attention or normalisation the file does not show can make
  observed ties breakable.

A layer is a **near tie** when two neurons are closer than
:func:`near_tie_threshold` (the square root of the weight dtype's machine
epsilon, half the significand), which rounding alone can slowly pull apart.

Names are ordered by their numeric parts (``fc2`` before ``fc10``, ``2``
before ``10``), never by file order, so one model gives one report whatever
its format. The JSON form of :class:`AuditReport` (``to_dict``) is a stable
schema, documented in ``docs/audit.md``; :data:`SCHEMA_VERSION` changes when a
field changes meaning.
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

from symcheck.audit.weights import Limits, NonFinite, WeightFile, load_weights
from symcheck.errors import InvalidArgument, choices_message
from symcheck.prove.partition import NearestPair, analyse, matrix_classes
from symcheck.prove.tie_certificate import check_certificate, check_lumping, cyclic_certificate

__all__ = [
    "ARCHITECTURES",
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

SCHEMA_VERSION = 2
FORMATS = ("text", "json")

#: Architectures a user can assert (``--arch``), and what the assertion means.
ARCHITECTURES: Mapping[str, str] = {
    "mlp": "a plain sequential MLP: every floating tensor is a weight or a bias of one "
    "chain of dense layers, with elementwise activations, no residual, norm or attention",
}

NDArray = np.ndarray

#: Verdicts. Only COLLAPSED claims anything about training.
COLLAPSED, IDENTICAL, LUMPED, NEAR_TIE, FULL, DISTINCT = (
    "collapsed",
    "identical-units",
    "lumped",
    "near-tie",
    "full",
    "distinct",
)
#: Verdicts that make the audit exit with 1 (the CI gate).
FAILING = frozenset({COLLAPSED, IDENTICAL, LUMPED})

#: The one line that says why an audit without a known architecture claims nothing.
NO_CLAIM = (
    "no claim about training: the architecture is unknown (names and shapes do not show "
    "residual, attention or norm wiring, which can make observed ties breakable); "
    "give --arch mlp or --layers to assert a plain MLP"
)


@dataclass(frozen=True)
class LayerAudit:
    """One hidden layer of a chain: identical units, dead units, blocks and nearest pair.

    ``known`` says whether the architecture is known; ``blocks`` (the
    coarsest equitable partition) is computed only then. ``certified`` is
    True when the ties and blocks were checked exactly (a permutation for the
    ties, exact block sums for the blocks), so ``collapsed`` can be claimed.
    """

    index: int
    name: str
    weight: str
    bias: str | None
    width: int
    ties: tuple[tuple[int, ...], ...]
    nearest: NearestPair
    near_tie: bool
    dead_incoming: tuple[int, ...] = ()
    dead_outgoing: tuple[int, ...] = ()
    known: bool = False
    blocks: tuple[tuple[int, ...], ...] | None = None
    certified: bool = False
    certificate: tuple[int, ...] | None = None

    @property
    def classes(self) -> int:
        """Number of exact tie classes (identical-unit classes)."""
        return len(self.ties)

    @property
    def effective_width(self) -> int | None:
        return len(self.blocks) if self.blocks is not None else None

    @property
    def verdict(self) -> str:
        narrower = self.effective_width is not None and self.effective_width < self.width
        if self.certified and narrower:
            return COLLAPSED
        if self.classes < self.width:
            return IDENTICAL
        if narrower:
            return LUMPED
        if self.near_tie:
            return NEAR_TIE
        return FULL if self.known else DISTINCT

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
            "dead_incoming": list(self.dead_incoming),
            "dead_outgoing": list(self.dead_outgoing),
            "effective_width": self.effective_width,
            "blocks": (
                [list(b) for b in self.blocks if len(b) > 1] if self.blocks is not None else None
            ),
            "certified": self.certified,
            "certificate": list(self.certificate) if self.certificate is not None else None,
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
    """Identical and all-zero rows and columns of one 2-D tensor outside a chain."""

    name: str
    shape: tuple[int, int]
    rows: tuple[tuple[int, ...], ...]
    columns: tuple[tuple[int, ...], ...]
    zero_rows: tuple[int, ...] = ()
    zero_columns: tuple[int, ...] = ()

    @property
    def identical(self) -> bool:
        return len(self.rows) < self.shape[0] or len(self.columns) < self.shape[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "distinct_rows": len(self.rows),
            "duplicate_rows": [list(g) for g in self.rows if len(g) > 1],
            "distinct_columns": len(self.columns),
            "duplicate_columns": [list(g) for g in self.columns if len(g) > 1],
            "zero_rows": list(self.zero_rows),
            "zero_columns": list(self.zero_columns),
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
    #: The asserted architecture (a key of :data:`ARCHITECTURES`), or None.
    architecture: str | None = None

    @property
    def mode(self) -> str:
        return "chain" if self.chain else "matrices"

    @property
    def collapsed(self) -> bool:
        """Some hidden layer is certified collapsed (needs a known architecture)."""
        return any(layer.verdict == COLLAPSED for layer in self.layers)

    @property
    def identical(self) -> bool:
        """Identical units (or rows/columns, or lumped blocks) were observed."""
        return any(layer.verdict in FAILING for layer in self.layers) or any(
            m.identical for m in self.matrices
        )

    @property
    def exit_code(self) -> int:
        """1 when identical units were observed or a layer collapsed (the CI gate), else 0."""
        return 1 if self.identical else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "file": self.file,
            "format": self.format,
            "tensors": self.tensors,
            "parameters": self.parameters,
            "tolerance": self.tolerance,
            "architecture": self.architecture,
            "mode": self.mode,
            "chain": list(self.chain),
            "layers": [layer.to_dict() for layer in self.layers],
            "matrices": [m.to_dict() for m in self.matrices],
            "nonfinite": [{"tensor": n.tensor, "nan": n.nan, "inf": n.inf} for n in self.nonfinite],
            "skipped": list(self.skipped),
            "identical": self.identical,
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


def natural_key(name: str) -> tuple:
    """Sort key: digit runs compare as numbers (``fc2 < fc10``, ``2 < 10``), then the name.

    The parts alternate text and number (``re.split`` with a group always
    starts with text), so keys of any two names compare; the name itself
    breaks ties (``a01`` vs ``a1``), so the order never depends on the file.
    """
    parts = tuple(int(p) if k % 2 else p for k, p in enumerate(re.split(r"(\d+)", name)))
    return (parts, name)


def _chains(order: Sequence[str], tensors: Mapping[str, NDArray]) -> bool:
    if len(order) < 2:
        return False
    shapes = [tensors[n].shape for n in order]
    return all(nxt[1] == prev[0] for prev, nxt in itertools.pairwise(shapes))


def infer_chain(tensors: Mapping[str, NDArray]) -> tuple[str, ...]:
    """The weight names of a sequential MLP, input side first, or ``()``.

    Every floating tensor must be a 2-D weight (``P.weight`` or ``W<n>``) or
    the matching 1-D bias (``P.bias`` or ``b<n>``); the weights are ordered by
    :func:`natural_key` (the file's own order is never used, so every format
    gives the same chain) and consecutive weights must chain (``n_in`` of one
    = ``n_out`` of the previous). A chain found this way orders the report;
    it is not evidence that the model *is* a plain MLP.
    """
    floats = {k: v for k, v in tensors.items() if v.dtype.kind == "f"}
    weights = sorted(
        (k for k, v in floats.items() if v.ndim == 2 and _WEIGHT.match(k)), key=natural_key
    )
    biases = {_bias_name(w) for w in weights}
    for k, v in floats.items():
        if k not in weights and (k not in biases or v.ndim != 1):
            return ()
    for w in weights:
        b = _bias_name(w)
        if b in floats and floats[b].shape != (floats[w].shape[0],):
            return ()
    return tuple(weights) if _chains(weights, floats) else ()


def _explicit_chain(names: Sequence[str], tensors: Mapping[str, NDArray]) -> tuple[str, ...]:
    matrices = sorted(
        (k for k, v in tensors.items() if v.ndim == 2 and v.dtype.kind == "f"), key=natural_key
    )
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


def _check_architecture(arch: str | None) -> str | None:
    if arch is not None and arch not in ARCHITECTURES:
        raise InvalidArgument(
            choices_message("--arch", arch, ARCHITECTURES, "omit it to get observations only")
        )
    return arch


def _asserted_chain(tensors: Mapping[str, NDArray]) -> tuple[str, ...]:
    chain = infer_chain(tensors)
    if not chain:
        raise InvalidArgument(
            "--arch mlp: the floating tensors are not the weights and biases of one chain "
            "in the numeric order of their names; name the weights with --layers, input "
            "side first, or omit --arch to get observations only"
        )
    return chain


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


def _zero_lines(matrix: NDArray, axis: int) -> tuple[int, ...]:
    """Indices of the all-zero rows (``axis=1``) or columns (``axis=0``); NaN is not zero."""
    if matrix.size == 0:
        return tuple(range(matrix.shape[1 - axis]))
    return tuple(int(i) for i in np.flatnonzero(np.all(matrix == 0, axis=axis)))


def _matrix_audit(name: str, tensor: NDArray, tolerance: float) -> MatrixAudit:
    rows, columns = matrix_classes(tensor, tolerance=tolerance)
    return MatrixAudit(
        name,
        (int(tensor.shape[0]), int(tensor.shape[1])),
        rows,
        columns,
        zero_rows=_zero_lines(tensor, 1),
        zero_columns=_zero_lines(tensor, 0),
    )


def audit_weights(
    weights: WeightFile,
    *,
    tolerance: float = 0.0,
    layers: Sequence[str] | None = None,
    arch: str | None = None,
    seed: int = 0,
) -> AuditReport:
    """Audit tensors already loaded by :func:`symcheck.audit.weights.load_weights`.

    ``layers`` (weight names, input side first) or ``arch="mlp"`` assert a
    plain sequential MLP; without either, the report holds observations only.
    """
    tol = _check_tolerance(tolerance)
    arch = _check_architecture(arch)
    tensors = weights.tensors
    if layers:
        chain, arch = _explicit_chain(layers, tensors), "mlp"
    elif arch == "mlp":
        chain = _asserted_chain(tensors)
    else:
        chain = infer_chain(tensors)
    base = {
        "file": weights.name,
        "format": weights.format,
        "tensors": len(tensors),
        "parameters": weights.parameter_count,
        "tolerance": tol,
        "nonfinite": tuple(sorted(weights.nonfinite, key=lambda n: natural_key(n.tensor))),
        "skipped": tuple(sorted(weights.skipped, key=natural_key)),
        "architecture": arch,
    }
    if not chain:
        names = sorted(
            (k for k, t in tensors.items() if t.ndim == 2 and t.dtype.kind == "f"), key=natural_key
        )
        matrices = tuple(_matrix_audit(name, tensors[name], tol) for name in names)
        return AuditReport(chain=(), layers=(), matrices=matrices, **base)
    biases = [_bias_name(w) if _bias_name(w) in tensors else None for w in chain]
    params = [(tensors[w], tensors[b] if b else None) for w, b in zip(chain, biases)]
    names = [_layer_name(w) for w in chain]
    audits = _layer_audits(params, names, chain, biases, tol, seed, known=arch is not None)
    return AuditReport(chain=chain, layers=audits, matrices=(), **base)


def _certify(
    params: Sequence[tuple[NDArray, NDArray | None]],
    ties: Sequence[tuple[tuple[int, ...], ...]],
    blocks: Sequence[tuple[tuple[int, ...], ...]],
) -> tuple[bool, tuple[tuple[int, ...], ...]]:
    """Check the ties (a permutation) and the blocks (exact sums) of every hidden layer."""
    widths = [np.shape(w)[0] for w, _ in params[:-1]]
    perms = cyclic_certificate(widths, [[t for t in layer if len(t) > 1] for layer in ties])
    if not check_certificate(params, perms):
        return False, perms
    if all(len(b) == len(t) for b, t in zip(blocks, ties)):
        return True, perms  # the blocks are the tie classes: the permutation covers them
    labels = []
    for width, layer in zip(widths, blocks):
        lab = np.empty(width, dtype=np.intp)
        for k, block in enumerate(layer):
            lab[list(block)] = k
        labels.append(lab)
    return check_lumping(params, labels), perms


def _layer_audits(
    params: Sequence[tuple[NDArray, NDArray | None]],
    names: Sequence[str],
    weights: Sequence[str],
    biases: Sequence[str | None],
    tolerance: float,
    seed: int,
    *,
    known: bool,
) -> tuple[LayerAudit, ...]:
    report = analyse(params, tolerance=tolerance, seed=seed)
    ties = [layer.blocks for layer in report.ties.layers]
    blocks = [layer.blocks for layer in report.equitable.layers]
    certified, perms = _certify(params, ties, blocks) if known else (False, ())
    out = []
    for k, nearest in enumerate(report.nearest):
        threshold = near_tie_threshold(params[k][0].dtype)
        near = nearest.distance is not None and nearest.distance < threshold
        tied = len(ties[k]) < len(perms[k]) if perms else False
        out.append(
            LayerAudit(
                index=k + 1,
                name=names[k],
                weight=weights[k],
                bias=biases[k],
                width=int(params[k][0].shape[0]),
                ties=ties[k],
                nearest=nearest,
                near_tie=near,
                dead_incoming=_zero_lines(np.asarray(params[k][0]), 1),
                dead_outgoing=_zero_lines(np.asarray(params[k + 1][0]), 0),
                known=known,
                blocks=blocks[k] if known else None,
                certified=certified,
                certificate=perms[k] if certified and tied else None,
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
    """Audit an in-memory ``[(W, b), ...]`` list (layers named ``1..L``).

    A list of ``(W, b)`` pairs *is* the assertion of a plain sequential MLP
    (architecture ``mlp``), so collapsed layers can be claimed here.
    """
    tol = _check_tolerance(tolerance)
    weights = tuple(f"W{k}" for k in range(1, len(params) + 1))
    biases = [f"b{k}" if b is not None else None for k, (_, b) in enumerate(params, start=1)]
    names = [str(k) for k in range(1, len(params) + 1)]
    layers = _layer_audits(params, names, weights, biases, tol, seed, known=True)
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
        architecture="mlp",
    )


def audit_file(
    path: str | os.PathLike[str],
    *,
    tolerance: float = 0.0,
    layers: Sequence[str] | None = None,
    arch: str | None = None,
    limits: Limits | None = None,
) -> AuditReport:
    """Load ``path`` safely and audit it (see :func:`audit_weights` for ``layers``, ``arch``)."""
    _check_tolerance(tolerance)
    _check_architecture(arch)
    weights = load_weights(path, limits=limits)
    return audit_weights(weights, tolerance=tolerance, layers=layers, arch=arch)


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


def _nearest_text(pair: NearestPair, *, certified: bool) -> str:
    if pair.distance is None:
        return "n/a"
    approx = "" if pair.exact else " (an upper bound, found by projections)"
    same = (" (tied)" if certified else " (identical)") if pair.distance == 0 else ""
    return f"{pair.distance:.3g}{same} between units {pair.pair[0]} and {pair.pair[1]}{approx}"


def _indices_text(indices: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:_MAX_LISTED])
    return "{" + shown + (", …" if len(indices) > _MAX_LISTED else "") + "}"


def _layer_lines(layer: LayerAudit) -> list[str]:
    if layer.known:
        head = (
            f"hidden layer {layer.index} ({layer.name}): width {layer.width}, "
            f"tie classes {layer.classes}, effective width {layer.effective_width}"
        )
    else:
        head = (
            f"layer {layer.index} ({layer.name}): width {layer.width}, "
            f"{layer.classes} distinct unit{'s' if layer.classes != 1 else ''}"
        )
    lines = [f"{head} -> {layer.verdict}"]
    if layer.classes < layer.width:
        what = "tied neurons" if layer.certified else "identical units (row, bias, column)"
        lines.append(f"  {what}: {_groups_text(layer.ties)}")
    if layer.blocks is not None and len(layer.blocks) < layer.classes:
        lines.append(f"  lumped blocks: {_groups_text(layer.blocks)}")
    for where, dead in (("incoming", layer.dead_incoming), ("outgoing", layer.dead_outgoing)):
        if dead:
            units = f"{len(dead)} unit{'s' if len(dead) != 1 else ''}"
            lines.append(f"  all-zero {where} weights: {units} {_indices_text(dead)}")
    lines.append(f"  nearest pair: {_nearest_text(layer.nearest, certified=layer.certified)}")
    return lines


def _summary_line(report: AuditReport) -> str:
    collapsed = [layer for layer in report.layers if layer.verdict == COLLAPSED]
    if collapsed:
        return (
            "COLLAPSED: "
            + "; ".join(
                f"hidden layer {c.index} ({c.name}) has {c.effective_width} distinct "
                f"neuron{'s' if c.effective_width != 1 else ''} of {c.width}"
                for c in collapsed
            )
            + ". SGD, momentum, Adam and AdamW can never make them differ in exact arithmetic "
            "(T3; ties certified by a permutation that maps the weights to themselves)."
        )
    observed = [
        f"layer {x.index} ({x.name}) has {x.classes} distinct unit{'s' if x.classes != 1 else ''} "
        f"of {x.width}"
        if x.classes < x.width
        else f"layer {x.index} ({x.name}) has lumped blocks"
        for x in report.layers
        if x.verdict in FAILING
    ] + [m.name for m in report.matrices if m.identical]
    if observed:
        return (
            "IDENTICAL UNITS OBSERVED: "
            + "; ".join(observed)
            + ". An observation of these weights, not a claim about training."
        )
    if report.architecture:
        return "ok: every hidden layer keeps its full width"
    return "ok: no identical units observed"


def _render_text(report: AuditReport) -> str:
    lines = [
        f"{report.file}: {report.format}, {report.tensors} tensors, "
        f"{report.parameters} parameters"
        + (f", tolerance {report.tolerance:g}" if report.tolerance else ", exact comparison")
    ]
    if report.architecture:
        lines.append(
            f"architecture: {report.architecture} (asserted): {ARCHITECTURES[report.architecture]}"
        )
    else:
        lines.append(NO_CLAIM)
    for bad in report.nonfinite:
        lines.append(f"warning: tensor {bad.tensor!r} holds {bad.nan} NaN and {bad.inf} Inf")
    if report.skipped:
        lines.append(f"skipped non-tensor entries: {', '.join(report.skipped)}")
    if report.chain:
        lines.append(f"chain: {' -> '.join(report.chain)}")
        for layer in report.layers:
            lines.extend(_layer_lines(layer))
    else:
        lines.append("no chain of 2-D weights; identical and all-zero rows and columns of each:")
        for m in report.matrices:
            lines.append(
                f"{m.name} {m.shape[0]}x{m.shape[1]}: {len(m.rows)} distinct rows "
                f"(identical: {_groups_text(m.rows)}), {len(m.columns)} distinct columns "
                f"(identical: {_groups_text(m.columns)})"
                + (f", {len(m.zero_rows)} all-zero rows" if m.zero_rows else "")
                + (f", {len(m.zero_columns)} all-zero columns" if m.zero_columns else "")
            )
    lines.append(_summary_line(report))
    return "\n".join(lines) + "\n"


def render_audit(report: AuditReport, fmt: str = "text") -> str:
    """The report as ``text`` (for people) or ``json`` (the stable schema)."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
    if fmt == "text":
        return _render_text(report)
    raise InvalidArgument(choices_message("format", fmt, FORMATS))
