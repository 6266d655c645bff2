"""The limits table, the proof cost model, the error-line cap and the file checks."""

from __future__ import annotations

import dataclasses
import os

import pytest

import symcheck.limits as limits_module
from symcheck import Network
from symcheck.errors import InvalidArgument
from symcheck.files import check_output_path, read_regular
from symcheck.limits import LIMITS, elide, proof_cost
from symcheck.prove.certificate import _nesting
from symcheck.prove.symbolic import check_proof_cost, estimated_proof_cost, init_point


def test_every_limit_is_documented_in_the_table_with_its_default() -> None:
    doc = limits_module.__doc__
    for field in dataclasses.fields(LIMITS):
        assert f"``{field.name}``" in doc, field.name


@pytest.mark.parametrize(
    ("spec", "activation", "init", "batch", "cost"),
    [
        ("2-2-2-1", "tanh", "zero", 3, 3),  # no free symbols: the batch only
        ("2-2-2-1", "tanh", "constant", 1, 4),  # the symbol c: like tied
        ("2-2-2-1", "tanh", "tied", 1, 4),  # 2 * 2
        ("2-2-2-1", "tanh", "tied", 2, 8),
        ("2-3-4-1", "tanh", "random", 1, 6 * 8),  # (2 * 3) * (2 * 4)
        ("2-2-2-1", "relu", "tied", 1, 81),
        ("2-2-2-1", "sigma", "tied", 1, 9),
        ("2-2-2-1", "relu,tanh", "random", 1, 18 * 4),
    ],
)
def test_the_proof_cost_model(spec, activation, init, batch, cost) -> None:
    net = Network.parse(spec, activation=activation)
    assert estimated_proof_cost(net, init_point(net, init), batch=batch) == cost


def test_the_cost_check_refuses_above_the_limit_and_admits_at_it() -> None:
    hidden = LIMITS.proof_cost.bit_length() - 1  # 2**hidden == the limit for tanh, tied
    at_limit = Network.parse("-".join(["2"] * (hidden + 1) + ["1"]))
    check_proof_cost(at_limit, init_point(at_limit, "tied"))
    beyond = Network.parse("-".join(["2"] * (hidden + 2) + ["1"]))
    with pytest.raises(InvalidArgument, match="estimated cost"):
        check_proof_cost(beyond, init_point(beyond, "tied"))
    assert proof_cost(factors=[2] * hidden, batch=1) == LIMITS.proof_cost


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 300, "short"),
        ("two\nlines", 300, "two lines"),
        ("bad " + "x" * 50 + " use 2-2-1", 30, "bad x…[46]…xxx use 2-2-1"),
    ],
)
def test_elide_keeps_one_capped_line_and_the_words_around_a_long_value(
    text, limit, expected
) -> None:
    assert elide(text, limit) == expected


def test_elide_caps_any_line() -> None:
    line = elide("word " * 1000, 300)
    assert len(line) <= 300 and "…[" in line


def test_json_nesting_ignores_brackets_inside_strings() -> None:
    assert _nesting(b'{"a": [[1], "[[[[["]}') == 3
    assert _nesting(b"[" * 500) == 500
    assert _nesting(b'"\\"[[["') == 0


def test_read_regular_refuses_what_is_not_a_regular_file(tmp_path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, says in [(fifo, "FIFO"), (tmp_path, "directory"), ("/dev/null", "device")]:
        with pytest.raises(InvalidArgument, match=says):
            read_regular(str(path), what="certificate", limit=100)
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * 101)
    with pytest.raises(InvalidArgument, match="beyond the limit of 100"):
        read_regular(str(big), what="certificate", limit=100)
    big.write_bytes(b"x" * 100)
    assert read_regular(str(big), what="certificate", limit=100) == b"x" * 100


def test_check_output_path(tmp_path) -> None:
    assert check_output_path(str(tmp_path / "new.png"), what="out") == tmp_path / "new.png"
    for path, says in [
        ("", "non-empty"),
        (str(tmp_path), "directory"),
        ("/dev/full", "device"),
        (str(tmp_path / "missing" / "x.png"), "does not exist"),
    ]:
        with pytest.raises(InvalidArgument, match=says):
            check_output_path(path, what="out")
