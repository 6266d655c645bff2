"""Certificates: a genuine one holds, a tampered one is rejected, a malformed one is an error."""

from __future__ import annotations

import copy
import json

import pytest

from symcheck.errors import InvalidArgument
from symcheck.model.network import Network
from symcheck.prove.certificate import load_certificate, verify_certificate
from symcheck.prove.render import render
from symcheck.prove.theorems import prove_identical_updates, prove_preserved


@pytest.fixture(scope="module")
def certificate():
    net = Network.parse("2-2-1", activation="tanh")
    proofs = [
        prove_identical_updates(net, init="random"),
        prove_preserved(net, init="tied", optimizer="momentum"),
    ]
    return json.loads(render(proofs, "json"))


def test_genuine_certificate_holds(certificate):
    assert verify_certificate(certificate).proved


def _tamper(cert, path, value):
    out = copy.deepcopy(cert)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


TAMPERING = [
    ("verdict flipped", ("proofs", 0, "verdict"), "proved"),
    ("residual value changed", ("proofs", 0, "residuals", 0, "expression"), "1/3"),
    ("residual status changed", ("proofs", 1, "residuals", 0, "status"), "nonzero"),
    ("witness value changed", ("proofs", 0, "witness", "x0_0"), "1/2"),
    ("conclusion changed", ("proofs", 1, "conclusion"), "Anything at all."),
    ("network swapped", ("proofs", 1, "facts", "recipe", "network", "widths"), [2, 3, 1]),
    ("init swapped", ("proofs", 1, "facts", "recipe", "init"), "zero"),
]


@pytest.mark.parametrize(("case", "path", "value"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampered_certificate_is_rejected(certificate, case, path, value):
    result = verify_certificate(_tamper(certificate, path, value))
    assert result.refuted
    assert any(r.status == "nonzero" for r in result.residuals)


def test_certificate_file_that_is_not_json_is_malformed(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        load_certificate(str(path))


def test_certificate_strings_are_never_evaluated(certificate):
    evil = _tamper(
        certificate, ("proofs", 0, "facts", "recipe", "value"), "__import__('os').system('false')"
    )
    with pytest.raises(InvalidArgument, match="only init='constant' takes a value"):
        verify_certificate(evil)
