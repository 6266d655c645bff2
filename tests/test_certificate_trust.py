"""Certificates are re-derived, never trusted: every corrupted field is caught.

A genuine certificate holds; changing any recorded field of any proof (a
verdict, a residual, the witness, a step, a fact, a key added or removed, a
value of another JSON type) makes it ``refuted`` with the first difference
named; a recipe that does not describe a valid re-derivation is malformed
(``InvalidArgument``), never silently accepted.
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Callable
from functools import reduce
from pathlib import Path
from typing import Any

import pytest

from symcheck.errors import InvalidArgument
from symcheck.limits import LIMITS
from symcheck.model.network import Network
from symcheck.prove.certificate import (
    MAX_CERTIFICATE_BYTES,
    _nesting,
    load_certificate,
    verify_certificate,
)
from symcheck.prove.render import render
from symcheck.prove.theorems import THEOREMS, prove_identical_updates, prove_preserved

NET = Network.parse("2-2-1", activation="tanh")


@pytest.fixture(scope="module")
def cert() -> dict:
    proofs = [
        prove_identical_updates(NET, init="tied"),
        prove_preserved(NET, init="tied", optimizer="sgd"),
        THEOREMS["symmetry_breaks"](NET),
    ]
    return json.loads(render(proofs, "json"))


def _edited(cert: dict, path: tuple, change: Callable[[Any, Any], None]) -> dict:
    """A deep copy of ``cert`` with ``change(parent, key)`` applied at ``path``."""
    out = copy.deepcopy(cert)
    change(reduce(operator.getitem, path[:-1], out), path[-1])
    return out


def _set(cert: dict, path: tuple, value: object) -> dict:
    return _edited(cert, path, lambda parent, key: operator.setitem(parent, key, value))


def _drop(cert: dict, path: tuple) -> dict:
    return _edited(cert, path, operator.delitem)


def test_a_genuine_certificate_holds_for_every_theorem(cert: dict) -> None:
    result = verify_certificate(cert)
    assert result.proved and result.theorem == "certificate"
    assert [r.status for r in result.residuals] == ["zero"] * 3
    assert [r.label for r in result.residuals] == [
        f"proof {i}: {p['theorem']} on {p['network']}" for i, p in enumerate(cert["proofs"])
    ]
    assert result.conclusion == "The certificate holds."
    assert "3 recorded proof(s)" in result.statement


def test_a_single_proof_object_is_a_certificate(cert: dict) -> None:
    assert verify_certificate(cert["proofs"][1]).proved
    tampered = _set(cert["proofs"][1], ("verdict",), "refuted")
    assert verify_certificate(tampered).refuted


CORRUPTED = [
    # (path, value, the first difference named)
    (("theorem",), "preserved", None),
    (("statement",), "Anything.", ".statement: recorded 'Anything.'"),
    (("verdict",), "refuted", ".verdict: recorded 'refuted', re-derived 'proved'"),
    (("network",), "2-2-1 (relu, mse, mean)", ".network: recorded"),
    (("assumptions", 0), "none", ".assumptions[0]: recorded 'none'"),
    (("steps", 1, "title"), "Magic", ".steps[1].title: recorded 'Magic'"),
    (("steps", 0, "math", 0), "1 = 1", ".steps[0].math[0]: recorded '1 = 1'"),
    (("residuals", 0, "label"), "layer 1", ".residuals[0].label: recorded 'layer 1'"),
    (("residuals", 0, "expression"), "1/3", ".residuals[0].expression: recorded '1/3'"),
    (("residuals", 0, "status"), "unknown", ".residuals[0].status: recorded 'unknown'"),
    (("residuals", 0, "method"), "expand", ".residuals[0].method: recorded 'expand'"),
    (("witness",), {"x0_0": "1/2"}, None),
    (("conclusion",), "Fine.", ".conclusion: recorded 'Fine.'"),
    (("facts", "tied_pairs"), 2, ".facts.tied_pairs: recorded 2, re-derived 1"),
    (("facts", "tied_pairs"), True, ".facts.tied_pairs: recorded True, re-derived 1"),
    (("facts", "tied_pairs"), 1.0, ".facts.tied_pairs: recorded 1.0, re-derived 1"),
    (("facts", "tied_pairs"), "1", ".facts.tied_pairs: recorded '1', re-derived 1"),
    (("facts", "update", "hidden_incoming"), "zero", ".facts.update.hidden_incoming"),
    (("facts", "extra"), 1, ".facts.extra is extra"),
    (("residuals",), [], ".residuals has 0 items, re-derived 1"),
    (("steps",), {"title": "x"}, ".steps: recorded {'title': 'x'}"),
    (("schema",), 2, ".schema: recorded 2, re-derived 1"),
]


@pytest.mark.parametrize(
    ("path", "value", "named"), CORRUPTED, ids=[".".join(map(str, c[0])) for c in CORRUPTED]
)
def test_every_corrupted_field_is_refuted(cert: dict, path, value, named) -> None:
    result = verify_certificate(_set(cert, ("proofs", 0, *path), value))
    assert result.refuted and result.conclusion == "The certificate does not hold."
    first, *rest = result.residuals
    assert first.status == "nonzero" and first.method == "re-derivation"
    assert [r.status for r in rest] == ["zero", "zero"]
    if named is not None:
        assert first.expression.startswith(named), first.expression


@pytest.mark.parametrize(
    ("key", "named"),
    [("witness", ".witness is missing"), ("facts", None), ("steps", ".steps is missing")],
)
def test_a_removed_field_is_refuted_or_malformed(cert: dict, key, named) -> None:
    corrupted = _drop(cert, ("proofs", 0, key))
    if named is None:
        with pytest.raises(InvalidArgument, match=r"malformed certificate: facts\.recipe"):
            verify_certificate(corrupted)
        return
    result = verify_certificate(corrupted)
    assert result.refuted and result.residuals[0].expression == named


def test_the_last_proof_is_checked_too(cert: dict) -> None:
    result = verify_certificate(_set(cert, ("proofs", 2, "verdict"), "unknown"))
    assert [r.status for r in result.residuals] == ["zero", "zero", "nonzero"]
    assert result.refuted


def test_an_extra_proof_key_is_named(cert: dict) -> None:
    result = verify_certificate(_set(cert, ("proofs", 1, "note"), "trust me"))
    assert result.residuals[1].expression == ".note is extra"


RECIPE = ("proofs", 0, "facts", "recipe")
NETWORK = (*RECIPE, "network")
MALFORMED = [
    ((), "not a certificate", "the certificate must be a JSON object"),
    (("schema",), 99, "schema must be 1"),
    (("proofs",), [], "proofs must be a non-empty list"),
    (("proofs",), {"0": {}}, "proofs must be a non-empty list"),
    (("proofs", 0), [1], "every proof must be an object"),
    (("proofs", 0, "facts"), {"recipe": []}, "facts.recipe"),
    ((*RECIPE, "theorem"), "lemma", "recipe.theorem must be one of"),
    ((*RECIPE, "optimizer"), "sgd", "recipe keys"),
    ((*RECIPE, "batch"), "1", "recipe.batch must be a positive int"),
    ((*RECIPE, "batch"), True, "recipe.batch must be a positive int"),
    ((*RECIPE, "batch"), 1.0, "recipe.batch must be a positive int"),
    ((*RECIPE, "batch"), 0, "recipe.batch must be a positive int"),
    ((*RECIPE, "batch"), -1, "recipe.batch must be a positive int"),
    ((*RECIPE, "value"), 3, "recipe.value must be a string or null"),
    ((*RECIPE, "init"), ["tied"], "recipe.init must be a name"),
    ((*RECIPE, "network"), "2-2-1", "recipe.network must be an object"),
    ((*NETWORK, "depth"), 2, "recipe.network must have exactly the keys"),
    ((*NETWORK, "widths"), "2-2-1", "widths: ints"),
    ((*NETWORK, "widths"), [2, 2.0, 1], "widths: ints"),
    ((*NETWORK, "widths"), [2, True, 1], "widths: ints"),
    ((*NETWORK, "activations"), "tanh", "activations"),
    ((*NETWORK, "activations"), [1], "activations"),
]


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    MALFORMED,
    ids=[f"{'.'.join(map(str, m[0]))}={m[1]!r}" for m in MALFORMED],
)
def test_a_malformed_recipe_is_an_invalid_argument(cert: dict, path, value, fragment) -> None:
    data = value if path == () else _set(cert, path, value)
    with pytest.raises(
        InvalidArgument, match="malformed certificate: " + fragment.replace(".", r"\.")
    ):
        verify_certificate(data)


def test_missing_recipe_network_keys_are_malformed(cert: dict) -> None:
    with pytest.raises(InvalidArgument, match="exactly the keys"):
        verify_certificate(_drop(cert, (*NETWORK, "bias")))


def test_symmetry_breaks_takes_only_the_random_init(cert: dict) -> None:
    recipe = ("proofs", 2, "facts", "recipe")
    for key, value in (("init", "zero"), ("value", "1/2")):
        with pytest.raises(InvalidArgument, match="symmetry_breaks uses init random"):
            verify_certificate(_set(cert, (*recipe, key), value))


def test_preserved_needs_an_optimizer_name(cert: dict) -> None:
    recipe = ("proofs", 1, "facts", "recipe")
    with pytest.raises(InvalidArgument, match=r"recipe\.optimizer must be a name"):
        verify_certificate(_set(cert, (*recipe, "optimizer"), None))
    swapped = verify_certificate(_set(cert, (*recipe, "optimizer"), "momentum"))
    assert swapped.refuted


def test_a_changed_recipe_is_rederived_and_refuted(cert: dict) -> None:
    """A valid but different recipe re-derives another proof: the record no longer matches."""
    for path, value in (
        ((*NETWORK, "bias"), False),
        ((*NETWORK, "reduction"), "sum"),
        ((*NETWORK, "loss"), "bce"),
        ((*RECIPE, "batch"), 2),
        ((*RECIPE, "init"), "zero"),
    ):
        result = verify_certificate(_set(cert, path, value))
        assert result.refuted, path
        assert result.residuals[0].expression.startswith(".facts.recipe") or path[-1] in (
            "batch",
            "init",
            "bias",
            "reduction",
            "loss",
        )


# --- reading files ----------------------------------------------------------------


def test_load_certificate_reads_a_json_object(tmp_path: Path, cert: dict) -> None:
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    assert load_certificate(str(path)) == cert


@pytest.mark.parametrize(
    "content",
    [b"[1, 2]", b'"text"', b"{not json", b"\xff\xfe{}", b""],
    ids=["list", "string", "broken", "not utf-8", "empty"],
)
def test_load_certificate_refuses_what_is_not_a_json_object(tmp_path: Path, content) -> None:
    path = tmp_path / "cert.json"
    path.write_bytes(content)
    with pytest.raises(InvalidArgument, match="certificate"):
        load_certificate(str(path))


def test_load_certificate_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"missing\.json"):
        load_certificate(str(tmp_path / "missing.json"))


def test_the_size_cap_is_inclusive(tmp_path: Path) -> None:
    """A file of exactly MAX_CERTIFICATE_BYTES bytes is read whole; one byte more is refused."""
    at_cap = tmp_path / "at.json"
    at_cap.write_bytes(b"{}" + b" " * (MAX_CERTIFICATE_BYTES - 3) + b"\n")
    assert at_cap.stat().st_size == MAX_CERTIFICATE_BYTES
    assert load_certificate(str(at_cap)) == {}
    over = tmp_path / "over.json"
    over.write_bytes(b"{}" + b" " * (MAX_CERTIFICATE_BYTES - 1))
    with pytest.raises(InvalidArgument, match=str(MAX_CERTIFICATE_BYTES)):
        load_certificate(str(over))


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cert.json"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_digit_limit_is_inclusive(tmp_path: Path) -> None:
    """A number of exactly LIMITS.json_digits digits is read; one digit more is refused."""
    at = "9" * LIMITS.json_digits
    assert load_certificate(_write(tmp_path, f'{{"n": {at}, "f": -0.{at[1:]}}}'))["n"] == int(at)
    with pytest.raises(InvalidArgument, match=f"{LIMITS.json_digits + 1} digits"):
        load_certificate(_write(tmp_path, f'{{"n": {at}9}}'))


def test_the_nesting_limit_is_inclusive_and_strings_do_not_count(tmp_path: Path) -> None:
    depth = LIMITS.json_depth
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    assert load_certificate(_write(tmp_path, f'{{"a": {inner}, "s": "{"[" * 500}"}}'))["a"]
    deeper = "[" * depth + "]" * depth
    with pytest.raises(InvalidArgument, match=f"nests {depth + 1} levels deep"):
        load_certificate(_write(tmp_path, f'{{"a": {deeper}}}'))


def test_nesting_of_a_scalar_document_is_zero() -> None:
    assert _nesting(b"1") == 0 and _nesting(b'"[{"') == 0 and _nesting(b"{}") == 1


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_malformed(tmp_path: Path, constant: str) -> None:
    with pytest.raises(InvalidArgument, match=f"{constant} is not valid JSON"):
        load_certificate(_write(tmp_path, f'{{"x": {constant}}}'))


def test_a_proof_without_the_cross_check_is_certified_as_such() -> None:
    """``cross_check: false`` is re-derived without the cross-check; ``true`` is malformed."""
    proof = prove_identical_updates(NET, init="tied", cross_check=False)
    record = json.loads(render([proof], "json"))
    assert record["proofs"][0]["facts"]["recipe"]["cross_check"] is False
    assert verify_certificate(record).proved
    with_check = json.loads(render([prove_identical_updates(NET, init="tied")], "json"))
    assert "cross_check" not in with_check["proofs"][0]["facts"]["recipe"]
    assert verify_certificate(with_check).proved
    # The same record claimed with the cross-check is a different record: refuted.
    swapped = copy.deepcopy(with_check)
    swapped["proofs"][0]["facts"]["recipe"]["cross_check"] = False
    assert not verify_certificate(swapped).proved
    lying = copy.deepcopy(record)
    lying["proofs"][0]["facts"]["recipe"]["cross_check"] = True
    with pytest.raises(InvalidArgument, match="cross_check"):
        verify_certificate(lying)
