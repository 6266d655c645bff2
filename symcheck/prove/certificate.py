"""Checkable JSON certificates: re-derive every recorded proof and compare.

A certificate is the JSON of :func:`symcheck.prove.render.render` with ``fmt="json"``:
``{"schema": 1, "proofs": [Proof.to_dict(), ...]}`` (a single proof dict is
accepted too). Each proof carries ``facts["recipe"]``: the theorem, the
network and the init (plus optimiser and batch); a proof on a zoo model or a
graph file carries a graph recipe (``model``, ``seed``, ``kind``, ...),
re-derived by :mod:`symcheck.graph.check`. :func:`verify_certificate`
validates the recipe strictly, re-runs the theorem, and compares the whole
re-derived record — verdict, residuals, witness, statement — with the recorded
one. Nothing in the file is evaluated: strings are only compared, never
passed to ``sympify``, so a malicious certificate cannot run code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.files import read_regular
from symcheck.limits import LIMITS
from symcheck.model.network import Network
from symcheck.prove.proof import PROVED, REFUTED, SCHEMA_VERSION, Proof, Residual, Step

__all__ = ["MAX_CERTIFICATE_BYTES", "load_certificate", "verify_certificate"]

#: Largest certificate file accepted by :func:`load_certificate` (``LIMITS.certificate_bytes``).
MAX_CERTIFICATE_BYTES = LIMITS.certificate_bytes

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)

_RECIPE_KEYS = {
    "identical_updates": {"theorem", "network", "init", "value", "batch"},
    "preserved": {"theorem", "network", "init", "value", "batch", "optimizer"},
    "symmetry_breaks": {"theorem", "network", "init", "value", "batch"},
}
#: Keys a recipe records only when not at their default (``cross_check: false``).
_OPTIONAL_KEYS = {"identical_updates": {"cross_check"}}


def _nesting(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped), in linear time."""
    code = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    steps = np.isin(code, _OPEN).astype(np.int64) - np.isin(code, _CLOSE)
    return int(np.cumsum(steps).max(initial=0))


def _number(text: str) -> int | float:
    digits = sum(c.isdigit() for c in text)
    if digits > LIMITS.json_digits:
        raise InvalidArgument(
            f"malformed certificate: a number has {digits} digits, beyond the limit of "
            f"{LIMITS.json_digits}; certificates of symcheck hold small numbers"
        )
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _constant(text: str) -> float:
    raise InvalidArgument(f"malformed certificate: {text} is not valid JSON")


def load_certificate(path: str) -> dict[str, Any]:
    """Read a certificate file; raise InvalidArgument when it is malformed.

    Checked before parsing: a regular file (a FIFO or device is refused, not
    opened for a blocking read), at most ``LIMITS.certificate_bytes`` bytes and
    ``LIMITS.json_depth`` levels of nesting; while parsing, no number longer
    than ``LIMITS.json_digits`` digits and no ``NaN``/``Infinity``.
    """
    raw = read_regular(path, what="certificate", limit=LIMITS.certificate_bytes)
    depth = _nesting(raw)
    if depth > LIMITS.json_depth:
        raise InvalidArgument(
            f"certificate {path!r} nests {depth} levels deep, beyond the limit of "
            f"{LIMITS.json_depth}; certificates of symcheck nest a few levels"
        )
    try:
        data = json.loads(
            raw.decode("utf-8"),
            parse_int=_number,
            parse_float=_number,
            parse_constant=_constant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"certificate {path!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"certificate {path!r} must hold a JSON object")
    return data


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise InvalidArgument(f"malformed certificate: {message}")


def _network(spec: object) -> Network:
    _require(isinstance(spec, dict), "recipe.network must be an object")
    keys = {"widths", "activations", "loss", "bias", "reduction"}
    _require(set(spec) == keys, f"recipe.network must have exactly the keys {sorted(keys)}")  # type: ignore[arg-type]
    widths, acts = spec["widths"], spec["activations"]  # type: ignore[index]
    _require(isinstance(widths, list) and all(type(w) is int for w in widths), "widths: ints")
    _require(isinstance(acts, list) and all(isinstance(a, str) for a in acts), "activations")
    return Network(
        tuple(widths),
        tuple(acts),
        spec["loss"],
        spec["bias"],
        spec["reduction"],  # type: ignore[index]
    )


def _rederive(entry: object) -> Proof:
    from symcheck.prove.theorems import THEOREMS

    _require(isinstance(entry, dict), "every proof must be an object")
    facts = entry.get("facts")  # type: ignore[union-attr]
    _require(isinstance(facts, dict) and isinstance(facts.get("recipe"), dict), "facts.recipe")
    recipe = facts["recipe"]  # type: ignore[index]
    from symcheck.graph.check import is_graph_recipe, rederive_graph_proof

    if is_graph_recipe(recipe):
        return rederive_graph_proof(recipe)
    theorem = recipe.get("theorem")
    _require(theorem in _RECIPE_KEYS, f"recipe.theorem must be one of {sorted(_RECIPE_KEYS)}")
    optional = _OPTIONAL_KEYS.get(theorem, set()) & set(recipe)
    _require(
        set(recipe) - optional == _RECIPE_KEYS[theorem],
        f"recipe keys {sorted(_RECIPE_KEYS[theorem])}",
    )
    network = _network(recipe["network"])
    batch = recipe["batch"]
    _require(type(batch) is int and batch >= 1, "recipe.batch must be a positive int")
    value = recipe["value"]
    _require(value is None or isinstance(value, str), "recipe.value must be a string or null")
    if theorem == "symmetry_breaks":
        _require(recipe["init"] == "random" and value is None, "symmetry_breaks uses init random")
        return THEOREMS[theorem](network, batch=batch)
    _require(isinstance(recipe["init"], str), "recipe.init must be a name")
    kwargs: dict[str, Any] = {"init": recipe["init"], "value": value, "batch": batch}
    if theorem == "preserved":
        _require(isinstance(recipe["optimizer"], str), "recipe.optimizer must be a name")
        kwargs["optimizer"] = recipe["optimizer"]
    if "cross_check" in recipe:
        _require(recipe["cross_check"] is False, "recipe.cross_check is recorded only as false")
        kwargs["cross_check"] = False
    return THEOREMS[theorem](network, **kwargs)


def _first_difference(recorded: Any, derived: Any, path: str = "") -> str | None:
    if isinstance(recorded, dict) and isinstance(derived, dict):
        for key in sorted(set(recorded) | set(derived)):
            if key not in recorded or key not in derived:
                return f"{path}.{key} is {'missing' if key not in recorded else 'extra'}"
            found = _first_difference(recorded[key], derived[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(derived, list):
        if len(recorded) != len(derived):
            return f"{path} has {len(recorded)} items, re-derived {len(derived)}"
        for i, (a, b) in enumerate(zip(recorded, derived)):
            found = _first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if recorded != derived or type(recorded) is not type(derived):
        return f"{path or 'value'}: recorded {recorded!r:.80}, re-derived {derived!r:.80}"
    return None


def verify_certificate(data: Mapping[str, Any]) -> Proof:
    """Re-derive every proof of a certificate; ``proved`` when all match exactly, else ``refuted``.

    Raises :class:`InvalidArgument` when the certificate is malformed (bad schema,
    unknown theorem, a recipe that does not describe a valid network).
    """
    _require(isinstance(data, Mapping), "the certificate must be a JSON object")
    if "proofs" in data:
        _require(data.get("schema") == SCHEMA_VERSION, f"schema must be {SCHEMA_VERSION}")
        entries = data["proofs"]
        _require(isinstance(entries, list) and bool(entries), "proofs must be a non-empty list")
    else:
        entries = [data]
    residuals = []
    for i, entry in enumerate(entries):
        derived = json.loads(json.dumps(_rederive(entry).to_dict()))
        diff = _first_difference(entry, derived)
        label = f"proof {i}: {entry.get('theorem')} on {entry.get('network')}"
        if diff is None:
            residuals.append(Residual(label, "0", "zero", "re-derivation"))
        else:
            residuals.append(Residual(label, diff, "nonzero", "re-derivation"))
    holds = all(r.status == "zero" for r in residuals)
    return Proof(
        theorem="certificate",
        statement=f"Each of the {len(entries)} recorded proof(s) is re-derived exactly.",
        verdict=PROVED if holds else REFUTED,
        steps=(
            Step(
                "Re-derivation",
                "The recipe of each proof (theorem, network, init) is re-run and the "
                "re-derived record compared field by field with the recorded one.",
            ),
        ),
        residuals=tuple(residuals),
        conclusion="The certificate holds." if holds else "The certificate does not hold.",
    )
