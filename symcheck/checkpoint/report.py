"""The checkpoint audit report: per unit space findings, JSON and text.

The JSON form (:meth:`CheckpointReport.to_json`) is a versioned schema
documented in ``docs/checkpoint.md``; :data:`SCHEMA` changes whenever a
field changes meaning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from symcheck.errors import InvalidArgument, choices_message

__all__ = ["FORMATS", "SCHEMA", "VERDICTS", "CheckpointReport", "SpaceReport", "render"]

SCHEMA = "symcheck.checkpoint/1"
FORMATS = ("text", "json")
#: Verdicts, most severe first; a space gets the first that applies.
VERDICTS = ("collapsed", "tied", "dead", "near-duplicate", "full", "unknown")
_SHOWN = 20
#: Spaces without a finding whose nearest pairs the text form lists, closest first.
_CLOSEST = 3

PERMANENT = (
    "permanent under every elementwise optimiser (SGD, momentum, Adam, AdamW, ...): "
    "a certified permutation fixes the parameters, so the tied units get identical "
    "updates forever in exact arithmetic (T1, T2 in docs/theory.md); rounding can "
    "still separate them slowly (docs/theory.md, floating point)"
)


@dataclass(frozen=True)
class SpaceReport:
    """What the audit found in one unit space."""

    id: str
    kind: str
    label: str
    width: int
    tensors: tuple[str, ...]
    classes: tuple[tuple[int, ...], ...]
    certified: bool
    dead: tuple[int, ...]
    nearest: tuple[int, int] | None
    distance: float | None
    exact: bool
    near: tuple[tuple[int, int, float], ...]
    near_complete: bool
    threshold: float
    permanent: bool
    reason: str | None
    nonfinite: bool

    @property
    def effective_width(self) -> int:
        """Number of tie classes (no lumping is claimed through attention or norms)."""
        return self.width - sum(len(c) - 1 for c in self.classes)

    @property
    def verdict(self) -> str:
        if self.classes:
            return "collapsed" if self.permanent else "tied"
        if self.dead:
            return "dead"
        if self.near:
            return "near-duplicate"
        if self.nonfinite:
            return "unknown"
        return "full"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "width": self.width,
            "effective_width": self.effective_width,
            "tensors": list(self.tensors),
            "tie_classes": [list(c) for c in self.classes],
            "certified": self.certified,
            "permanent": self.permanent,
            "reason": self.reason,
            "dead": list(self.dead),
            "nearest": None
            if self.nearest is None
            else {"units": list(self.nearest), "distance": self.distance, "exact": self.exact},
            "near_duplicates": [{"units": [i, j], "distance": d} for i, j, d in self.near],
            "near_duplicates_complete": self.near_complete,
            "threshold": self.threshold,
            "nonfinite": self.nonfinite,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class CheckpointReport:
    """The audit of one checkpoint (one or several files)."""

    source: str
    files: int
    tensors: int
    parameters: int
    container: str
    model_type: str | None
    family: str | None
    claims: bool
    note: str | None
    spaces: tuple[SpaceReport, ...]
    unrecognised: tuple[str, ...]
    skipped: tuple[str, ...]
    #: Spaces of the family not analysed, with the reason (tensors missing or misfit).
    unanalysed: tuple[tuple[str, str], ...] = ()

    @property
    def exit_code(self) -> int:
        """1 when some space has tied or dead units (the CI gate), else 0."""
        return 1 if any(s.verdict in ("collapsed", "tied", "dead") for s in self.spaces) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "source": self.source,
            "files": self.files,
            "tensors": self.tensors,
            "parameters": self.parameters,
            "container": self.container,
            "model_type": self.model_type,
            "family": self.family,
            "claims": self.claims,
            "note": self.note,
            "spaces": [s.to_dict() for s in self.spaces],
            "unrecognised_tensors": list(self.unrecognised),
            "skipped": list(self.skipped),
            "unanalysed_spaces": [{"id": i, "reason": r} for i, r in self.unanalysed],
            "exit_code": self.exit_code,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"


def _line(s: SpaceReport) -> str:
    parts = [f"{s.label}: width {s.width}, effective {s.effective_width}, {s.verdict}"]
    if s.classes:
        shown = ", ".join("{" + ",".join(map(str, c)) + "}" for c in s.classes[:5])
        more = f" (+{len(s.classes) - 5} more)" if len(s.classes) > 5 else ""
        cert = "certified" if s.permanent else ("identical" if s.certified else "NOT certified")
        parts.append(f"ties {shown}{more} [{cert}]")
    if s.dead:
        parts.append(f"dead {list(s.dead[:8])}{'...' if len(s.dead) > 8 else ''}")
    if s.nearest is not None and s.distance is not None:
        bound = "" if s.exact else " (upper bound)"
        parts.append(f"nearest {s.nearest[0]},{s.nearest[1]} at {s.distance:.3g}{bound}")
    if s.near:
        parts.append(f"{len(s.near)} pair(s) within {s.threshold:g}")
    return "; ".join(parts)


def _text(r: CheckpointReport) -> str:
    out = [
        f"{r.source}: {r.files} file(s), {r.tensors} tensors, {r.parameters} parameters, "
        f"{r.container}",
        f"architecture: {r.family or 'unknown'} (model_type {r.model_type!r})",
    ]
    if r.note:
        out.append(r.note)
    if r.claims:
        out.append("tie claims: " + PERMANENT)
    else:
        out.append("observations only: no claim about training without a known architecture")
    flagged = [s for s in r.spaces if s.verdict != "full"]
    counts = {v: sum(s.verdict == v for s in r.spaces) for v in VERDICTS}
    out.append(
        f"{len(r.spaces)} unit spaces: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    )
    for s in flagged[:_SHOWN]:
        out.append("  " + _line(s))
        if s.reason and s.classes:
            out.append("    " + s.reason)
    if len(flagged) > _SHOWN:
        out.append(f"  ... {len(flagged) - _SHOWN} more (use --format json)")
    closest = sorted(
        (s for s in r.spaces if s.verdict == "full" and s.distance is not None),
        key=lambda s: (s.distance, s.id),
    )[:_CLOSEST]
    if closest:
        out.append("closest units of the full spaces (relative distance, 0 = identical):")
        for s in closest:
            bound = "" if s.exact else " (upper bound)"
            i, j = s.nearest  # type: ignore[misc]
            out.append(f"  {s.label}: units {i},{j} at {s.distance:.3g}{bound}")
    if r.unanalysed:
        out.append(
            f"{len(r.unanalysed)} unit space(s) not analysed, first {r.unanalysed[0][0]}: "
            f"{r.unanalysed[0][1]}"
        )
    if r.unrecognised:
        out.append(
            f"{len(r.unrecognised)} tensor(s) outside the family: " + ", ".join(r.unrecognised[:5])
        )
    return "\n".join(out) + "\n"


def render(report: CheckpointReport, fmt: str = "text") -> str:
    """``text`` for people, ``json`` for machines (schema :data:`SCHEMA`)."""
    if fmt == "json":
        return report.to_json()
    if fmt == "text":
        return _text(report)
    raise InvalidArgument(choices_message("format", fmt, FORMATS))
