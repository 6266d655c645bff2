"""The record every theorem and derivation returns.

A :class:`Proof` holds the statement, the assumptions, the steps of the
argument, the verdict (``proved``, ``refuted`` or ``unknown``), the residuals
whose vanishing (or not) decides it, and a witness when refuted. It is plain
data: :mod:`symcheck.prove.render` turns it into text, Markdown, LaTeX or JSON, and
``to_dict`` gives the JSON certificate's content.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from symcheck.errors import InvalidArgument, choices_message

__all__ = ["PROVED", "REFUTED", "UNKNOWN", "VERDICTS", "Proof", "Residual", "Step", "exit_code"]

PROVED = "proved"
REFUTED = "refuted"
UNKNOWN = "unknown"
VERDICTS = (PROVED, REFUTED, UNKNOWN)


#: Schema version of ``Proof.to_dict()``; bump it when a field changes meaning.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Step:
    """One step of an argument: a title, prose, and display equations (LaTeX)."""

    title: str
    text: str = ""
    math: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "text": self.text, "math": list(self.math)}


@dataclass(frozen=True)
class Residual:
    """A quantity whose vanishing decides a claim.

    ``status`` is ``zero`` (shown to vanish), ``nonzero`` (shown not to vanish,
    by a witness) or ``unknown``; ``method`` says how (``structural``,
    ``expand``, ``cancel``, ``witness``, ``numeric``...). ``expression`` is the
    residual as a SymPy string (``srepr``-free, parseable by ``sympy.sympify``)
    after the method's normalisation.
    """

    label: str
    expression: str
    status: str
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "expression": self.expression,
            "status": self.status,
            "method": self.method,
        }


@dataclass(frozen=True)
class Proof:
    """The outcome of a theorem or derivation, with everything needed to check it."""

    theorem: str
    statement: str
    verdict: str
    network: str = ""
    assumptions: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    residuals: tuple[Residual, ...] = ()
    witness: Mapping[str, str] | None = None
    conclusion: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise InvalidArgument(choices_message("verdict", self.verdict, VERDICTS))

    @property
    def proved(self) -> bool:
        return self.verdict == PROVED

    @property
    def refuted(self) -> bool:
        return self.verdict == REFUTED

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (the same as :meth:`to_dict`), as every result object has."""
        return self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable key order (the certificate's body)."""
        return {
            "schema": SCHEMA_VERSION,
            "theorem": self.theorem,
            "statement": self.statement,
            "verdict": self.verdict,
            "network": self.network,
            "assumptions": list(self.assumptions),
            "steps": [s.to_dict() for s in self.steps],
            "residuals": [r.to_dict() for r in self.residuals],
            "witness": dict(self.witness) if self.witness is not None else None,
            "conclusion": self.conclusion,
            "facts": dict(self.facts),
        }


def exit_code(proofs: Iterable[Proof]) -> int:
    """The command line's exit code: 0 all proved, 1 one refuted, 2 otherwise (unknown)."""
    verdicts = [p.verdict for p in proofs]
    if all(v == PROVED for v in verdicts):
        return 0
    return 1 if REFUTED in verdicts else 2
