"""``symcheck check`` on graph certificates: genuine ones hold, tampered ones are rejected."""

from __future__ import annotations

import copy
import json

import pytest

from symcheck.cli import main
from symcheck.errors import InvalidArgument
from symcheck.graph.check import GRAPH_RECIPE_KEYS, MAX_MODEL_CHARS
from symcheck.graph.prove import prove_identical_updates, prove_preserved, prove_symmetry_breaks
from symcheck.graph.ties import resolve_graph
from symcheck.prove.certificate import verify_certificate
from symcheck.prove.render import render

SMALL = "mlp:inputs=2,hidden=2,layers=1,outputs=1"
CNN = "cnn:channels=2,size=4,classes=2"


@pytest.fixture(scope="module")
def certificate() -> dict:
    proofs = [
        prove_identical_updates(SMALL, init="random", seed=1),
        prove_preserved(CNN, init="zero", optimizer="adam"),
        prove_symmetry_breaks(SMALL),
    ]
    assert [p.verdict for p in proofs] == ["refuted", "proved", "proved"]
    return json.loads(render(proofs, "json"))


def test_genuine_graph_certificate_holds(certificate: dict) -> None:
    result = verify_certificate(certificate)
    assert result.proved and len(result.residuals) == 3


def test_the_recipe_keys_are_the_ones_prove_writes(certificate: dict) -> None:
    for proof in certificate["proofs"]:
        recipe = proof["facts"]["recipe"]
        assert set(recipe) == GRAPH_RECIPE_KEYS[recipe["theorem"]]


def _tamper(cert: dict, path: tuple, value: object) -> dict:
    out = copy.deepcopy(cert)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value(node[path[-1]]) if callable(value) else value
    return out


TAMPERING = [
    ("verdict flipped", ("proofs", 0, "verdict"), "proved"),
    ("verdict of a proof flipped", ("proofs", 1, "verdict"), "refuted"),
    (
        "residual pair changed",
        ("proofs", 0, "residuals", -1, "label"),
        lambda s: s.replace("(0 1)", "(1 0)"),
    ),
    ("residual value changed", ("proofs", 0, "residuals", -1, "expression"), "1/3"),
    ("residual status flipped", ("proofs", 1, "residuals", 0, "status"), "nonzero"),
    ("witness value changed", ("proofs", 0, "witness", "x_0"), "1/2"),
    ("tie classes changed", ("proofs", 1, "facts", "ties", "spaces", 0, "classes"), [[0]]),
    ("model swapped", ("proofs", 1, "facts", "recipe", "model"), "cnn:channels=3,size=4,classes=2"),
    ("kind swapped", ("proofs", 1, "facts", "recipe", "kind"), "structural"),
    ("seed swapped", ("proofs", 2, "facts", "recipe", "seed"), 7),
]


@pytest.mark.parametrize(("case", "path", "value"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampered_graph_certificate_is_rejected(certificate, case, path, value) -> None:
    tampered = _tamper(certificate, path, value)
    assert tampered != certificate
    result = verify_certificate(tampered)
    assert result.refuted
    assert any(r.status == "nonzero" for r in result.residuals)


MALFORMED = [
    ("unknown model", "model", "nosuch:width=3", "nosuch"),
    ("a Graph object", "model", "graph", "names a Graph object given to the Python API"),
    ("model not a string", "model", ["mlp"], "recipe.model must be a model spec"),
    ("model too long", "model", "m" * (MAX_MODEL_CHARS + 1), "of 1 to 4096 characters"),
    ("negative seed", "seed", -1, "recipe.seed=-1 must be an int from 0 to"),
    ("bool seed", "seed", True, "recipe.seed=True must be an int"),
    ("unknown kind", "kind", "guess", "recipe.kind='guess' must be one of"),
    ("unknown init", "init", "orthogonal", "recipe.init='orthogonal' must be one of"),
    ("optimizer on T1", "optimizer", "adam", "recipe.optimizer must be null"),
    ("unknown theorem", "theorem", "derivation", "recipe.theorem='derivation' is not a graph"),
    ("extra key", "batch", 1, "graph recipe has exactly the keys"),
    ("value evaluated", "value", "__import__('os').system('false')", "only init='constant'"),
]


@pytest.mark.parametrize(
    ("case", "key", "value", "fragment"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_graph_recipe_is_bad_input(certificate, case, key, value, fragment) -> None:
    tampered = _tamper(certificate, ("proofs", 0, "facts", "recipe", key), value)
    with pytest.raises(InvalidArgument) as info:
        verify_certificate(tampered)
    assert fragment in str(info.value)


def test_an_unknown_optimizer_of_a_t2_recipe_is_bad_input(certificate) -> None:
    tampered = _tamper(certificate, ("proofs", 1, "facts", "recipe", "optimizer"), "lbfgs")
    with pytest.raises(InvalidArgument, match=r"recipe\.optimizer='lbfgs' must be one of"):
        verify_certificate(tampered)


def _check(path, capsys) -> tuple[int, str, str]:
    code = main(["check", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_exit_codes(certificate, tmp_path, capsys) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(certificate))
    assert _check(good, capsys)[:2] == (0, render(verify_certificate(certificate)))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_tamper(certificate, ("proofs", 0, "verdict"), "proved")))
    code, out, _ = _check(bad, capsys)
    assert code == 1 and out.startswith("certificate: REFUTED")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(
        json.dumps(_tamper(certificate, ("proofs", 0, "facts", "recipe", "model"), "nosuch:a=1"))
    )
    code, out, err = _check(unknown, capsys)
    assert (code, out) == (2, "") and err.count("\n") == 1 and "nosuch" in err


def test_prove_and_prove_graph_certificates_round_trip(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    runs = [
        ["prove", "moe:d_model=2,experts=2,d_ff=2", "--init", "constant", "--value", "1/10"],
        ["prove-graph", "2-2-1", "--init", "tied", "--optimizer", "sgd", "--breaks"],
    ]
    for k, argv in enumerate(runs):
        assert main([*argv, "--format", "json"]) == 0
        (tmp_path / f"c{k}.json").write_text(capsys.readouterr().out)
        code, out, _ = _check(tmp_path / f"c{k}.json", capsys)
        assert code == 0 and out.startswith("certificate: PROVED")


def test_a_graph_file_certificate_is_re_derived_from_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    graph, _ = resolve_graph(SMALL)
    data = graph.to_json()
    (tmp_path / "net.json").write_text(json.dumps(data))
    assert main(["prove", "net.json", "--init", "zero", "--format", "json"]) == 0
    (tmp_path / "cert.json").write_text(capsys.readouterr().out)
    assert _check("cert.json", capsys)[0] == 0
    data["nodes"][1]["attrs"]["name"] = "sigmoid"  # the file changed under the certificate
    (tmp_path / "net.json").write_text(json.dumps(data))
    code, out, _ = _check("cert.json", capsys)
    assert code == 1 and ".facts.graph: recorded" in out
    (tmp_path / "net.json").unlink()
    code, _, err = _check("cert.json", capsys)
    assert code == 2 and "net.json" in err
