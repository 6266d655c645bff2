"""One table of invalid arguments of the symbolic area, each naming the bad value."""

from __future__ import annotations

import pytest

from symcheck.errors import InvalidArgument
from symcheck.model.network import Network
from symcheck.prove.certificate import verify_certificate
from symcheck.prove.derive import derive
from symcheck.prove.oracle import exact, gradients
from symcheck.prove.symbolic import check_symbolic_size, init_point, parse_symbol, plain_gradients
from symcheck.prove.theorems import prove_preserved, prove_symmetry_breaks

NET = Network.parse("2-2-1")

CASES = [
    ("unknown init", lambda: init_point(NET, "xavier"), "init='xavier'"),
    ("float constant", lambda: init_point(NET, "constant", value=0.1), "0.1"),
    ("garbage constant", lambda: init_point(NET, "constant", value="1/"), "'1/'"),
    ("batch zero", lambda: check_symbolic_size(NET, batch=0), "batch=0"),
    ("batch too large", lambda: check_symbolic_size(NET, batch=100), "batch=100"),
    (
        "plain path too large",
        lambda: plain_gradients(
            Network.parse("8-8-8-2"), init_point(Network.parse("8-8-8-2"), "zero").params
        ),
        "plain",
    ),
    ("bad symbol name", lambda: parse_symbol("w1-0"), "'w1-0'"),
    ("unknown optimizer", lambda: prove_preserved(NET, optimizer="lbfgs"), "optimizer='lbfgs'"),
    ("no pair to break", lambda: prove_symmetry_breaks(Network.parse("2-1-1")), "2-1-1"),
    ("derive too large", lambda: derive(Network.parse("20-20-2")), "20-20-2"),
    (
        "oracle abstract",
        lambda: gradients(Network.parse("2-2-1", activation="sigma"), [], [[1, 2]], [[0]]),
        "sigma",
    ),
    ("oracle wrong depth", lambda: gradients(NET, [([[1, 2]], [0])], [[1, 2]], [[0]]), "1 layers"),
    (
        "oracle wrong shape",
        lambda: gradients(NET, [([[1, 2]], [0, 0]), ([[1, 1]], [0])], [[1, 2]], [[0]]),
        "W1",
    ),
    ("not a number", lambda: exact("abc"), "'abc'"),
    ("not finite", lambda: exact(float("nan")), "nan"),
    ("certificate not an object", lambda: verify_certificate([]), "malformed"),
    (
        "certificate bad schema",
        lambda: verify_certificate({"schema": 99, "proofs": [{}]}),
        "schema",
    ),
    (
        "certificate no recipe",
        lambda: verify_certificate({"schema": 1, "proofs": [{"facts": {}}]}),
        "recipe",
    ),
    (
        "certificate bad network",
        lambda: verify_certificate(
            {
                "schema": 1,
                "proofs": [
                    {
                        "facts": {
                            "recipe": {
                                "theorem": "identical_updates",
                                "network": {
                                    "widths": [2, 0, 1],
                                    "activations": ["tanh"],
                                    "loss": "mse",
                                    "bias": True,
                                    "reduction": "mean",
                                },
                                "init": "zero",
                                "value": None,
                                "batch": 1,
                            }
                        }
                    }
                ],
            }
        ),
        "(2, 0, 1)",
    ),
]


@pytest.mark.parametrize(("case", "call", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_invalid_argument_is_rejected_with_a_message_naming_it(case, call, fragment):
    with pytest.raises(InvalidArgument) as info:
        call()
    assert fragment in str(info.value)
