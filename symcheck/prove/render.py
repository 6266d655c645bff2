r"""Render :class:`~symcheck.prove.proof.Proof` records as text, Markdown, LaTeX or JSON.

* ``text``: plain text for a terminal; display equations are shown as LaTeX
  source, indented.
* ``md``: Markdown with LaTeX math (``$...$`` inline, ``$$...$$`` display), as
  GitHub and most notebook viewers render it.
* ``latex``: a complete LaTeX document (``amsmath``), one section per proof.
* ``json``: the certificate: ``{"schema": 1, "proofs": [Proof.to_dict(), ...]}``
  with stable key order, two-space indentation and a final newline.

Prose fields may contain inline math between ``$`` signs; outside math the
LaTeX renderer escapes the characters LaTeX treats specially.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence

from symcheck.errors import InvalidArgument, choices_message
from symcheck.prove.proof import SCHEMA_VERSION, Proof

__all__ = ["FORMATS", "render"]


def _as_list(proofs: Proof | Iterable[Proof]) -> list[Proof]:
    items = [proofs] if isinstance(proofs, Proof) else list(proofs)
    for p in items:
        if not isinstance(p, Proof):
            raise InvalidArgument(f"render() takes Proof records, got {type(p).__name__}")
    return items


def _text(proofs: Sequence[Proof]) -> str:
    out: list[str] = []
    for p in proofs:
        out.append(f"{p.theorem}: {p.verdict.upper()}")
        if p.network:
            out.append(f"  network: {p.network}")
        out.append(f"  statement: {p.statement}")
        for a in p.assumptions:
            out.append(f"  assumption: {a}")
        for i, s in enumerate(p.steps, start=1):
            out.append(f"  step {i}. {s.title}")
            if s.text:
                out.append(f"      {s.text}")
            out.extend(f"        {m}" for m in s.math)
        for r in p.residuals:
            out.append(f"  residual [{r.status}, {r.method}] {r.label}: {r.expression}")
        if p.witness:
            out.append("  witness: " + ", ".join(f"{k} = {v}" for k, v in p.witness.items()))
        if p.conclusion:
            out.append(f"  conclusion: {p.conclusion}")
        out.append("")
    return "\n".join(out)


def _md(proofs: Sequence[Proof]) -> str:
    out: list[str] = []
    for p in proofs:
        out.append(f"## {p.theorem}: **{p.verdict}**")
        out.append("")
        if p.network:
            out.append(f"*Network:* `{p.network}`")
            out.append("")
        out.append(f"*Statement.* {p.statement}")
        out.append("")
        if p.assumptions:
            out.append("*Assumptions.*")
            out.append("")
            out.extend(f"- {a}" for a in p.assumptions)
            out.append("")
        for i, s in enumerate(p.steps, start=1):
            out.append(f"**Step {i}. {s.title}.** {s.text}".rstrip())
            out.append("")
            for m in s.math:
                out.extend(["$$", m, "$$", ""])
        if p.residuals:
            out.append("| residual | status | method | expression |")
            out.append("|---|---|---|---|")
            for r in p.residuals:
                expr = r.expression.replace("|", r"\|")
                out.append(f"| {r.label} | {r.status} | {r.method} | `{expr}` |")
            out.append("")
        if p.witness:
            out.append("*Witness:* " + ", ".join(f"${k} = {v}$" for k, v in p.witness.items()))
            out.append("")
        if p.conclusion:
            out.append(f"*Conclusion.* {p.conclusion}")
            out.append("")
    return "\n".join(out)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_INLINE_MATH = re.compile(r"(\$[^$]*\$)")


def _tex_escape(text: str) -> str:
    """Escape LaTeX specials outside ``$...$`` segments, keep math verbatim."""
    parts = _INLINE_MATH.split(text)
    return "".join(
        part
        if part.startswith("$") and part.endswith("$") and len(part) > 1
        else "".join(_LATEX_SPECIAL.get(c, c) for c in part)
        for part in parts
    )


def _verbatim(text: str) -> str:
    return r"\texttt{" + "".join(_LATEX_SPECIAL.get(c, c) for c in text) + "}"


def _latex(proofs: Sequence[Proof]) -> str:
    out = [
        r"\documentclass{article}",
        r"\usepackage{amsmath,amssymb}",
        r"\begin{document}",
    ]
    for p in proofs:
        out.append(rf"\section*{{{_tex_escape(p.theorem)}: {p.verdict}}}")
        if p.network:
            out.append(rf"\noindent Network: {_verbatim(p.network)}\par")
        out.append(rf"\paragraph{{Statement.}} {_tex_escape(p.statement)}")
        if p.assumptions:
            out.append(r"\paragraph{Assumptions.}")
            out.append(r"\begin{itemize}")
            out.extend(rf"\item {_tex_escape(a)}" for a in p.assumptions)
            out.append(r"\end{itemize}")
        for i, s in enumerate(p.steps, start=1):
            out.append(rf"\paragraph{{Step {i}. {_tex_escape(s.title)}.}} {_tex_escape(s.text)}")
            for m in s.math:
                out.extend([r"\begin{equation*}", m, r"\end{equation*}"])
        if p.residuals:
            out.append(r"\paragraph{Residuals.}")
            out.append(r"\begin{itemize}")
            for r in p.residuals:
                head = rf"\item {_tex_escape(r.label)} ({r.status}, {r.method}): "
                out.append(head + _verbatim(r.expression))
            out.append(r"\end{itemize}")
        if p.witness:
            pairs = ", ".join(f"{_verbatim(k)} $= {v}$" for k, v in p.witness.items())
            out.append(rf"\paragraph{{Witness.}} {pairs}")
        if p.conclusion:
            out.append(rf"\paragraph{{Conclusion.}} {_tex_escape(p.conclusion)}")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def _json(proofs: Sequence[Proof]) -> str:
    body = {"schema": SCHEMA_VERSION, "proofs": [p.to_dict() for p in proofs]}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


FORMATS: dict[str, Callable[[Sequence[Proof]], str]] = {
    "text": _text,
    "md": _md,
    "latex": _latex,
    "json": _json,
}


def render(proofs: Proof | Iterable[Proof], fmt: str = "text") -> str:
    """Render one proof or several in ``fmt`` (``text``, ``md``, ``latex`` or ``json``)."""
    if fmt not in FORMATS:
        raise InvalidArgument(choices_message("format", fmt, FORMATS))
    return FORMATS[fmt](_as_list(proofs))
