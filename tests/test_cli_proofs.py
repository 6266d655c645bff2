"""The prove, derive, example and check commands: exit codes, formats, one-line errors."""

from __future__ import annotations

import json

import pytest

from symcheck.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_prove_zero_init_exits_zero_and_says_proved(capsys):
    code, out, _ = _run(capsys, "prove", "2-2-1", "--activation", "tanh", "--init", "zero")
    assert code == 0
    assert out.startswith("identical_updates: PROVED")


def test_prove_random_init_exits_one_with_a_witness(capsys):
    code, out, _ = _run(capsys, "prove", "2-2-1", "--init", "random", "--format", "json")
    assert code == 1
    assert json.loads(out)["proofs"][0]["witness"]


def test_prove_with_optimizer_and_breaks_adds_both_proofs(capsys):
    code, out, _ = _run(
        capsys,
        "prove",
        "2-2-1",
        "--init",
        "tied",
        "--optimizer",
        "adam",
        "--breaks",
        "--format",
        "md",
    )
    assert code == 0
    assert out.count("## ") == 3


def test_derive_prints_latex_formulas(capsys):
    code, out, _ = _run(capsys, "derive", "2-2-1", "--activation", "sigma", "--format", "latex")
    assert code == 0
    assert r"\frac{\partial L}{\partial W^{1}_{0,0}}" in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["prove", "2--1"], "'2--1'"),
        (["prove", "2-2-1", "--activation", "tanhh"], "activation='tanhh'"),
        (["prove", "2-2-1", "--init", "xavier"], "init='xavier'"),
        (["prove", "2-2-1", "--optimizer", "lbfgs"], "optimizer='lbfgs'"),
        (["derive", "300-300-300-1"], "limit"),
        (["check", "/nonexistent/cert.json"], "cannot be read"),
    ],
)
def test_bad_input_gives_one_line_on_stderr_and_exit_two(capsys, argv, fragment):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and out == ""


def test_check_exits_zero_for_a_genuine_certificate_and_one_for_a_tampered_one(capsys, tmp_path):
    _, out, _ = _run(capsys, "prove", "2-2-1", "--init", "tied", "--format", "json")
    good = tmp_path / "good.json"
    good.write_text(out)
    assert _run(capsys, "check", str(good))[0] == 0
    cert = json.loads(out)
    cert["proofs"][0]["residuals"][0]["status"] = "nonzero"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(cert))
    assert _run(capsys, "check", str(bad))[0] == 1


def test_check_exits_two_for_a_malformed_certificate(capsys, tmp_path):
    path = tmp_path / "cert.json"
    path.write_text('{"schema": 1, "proofs": "none"}')
    code, _, err = _run(capsys, "check", str(path))
    assert code == 2 and "malformed certificate" in err
