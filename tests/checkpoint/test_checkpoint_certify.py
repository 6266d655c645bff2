"""The checkpoint audit's two checkers, called directly with forged input.

``tie_classes`` must return only classes whose units are identical in every
member, whatever the keys claim (forced collisions); ``certify`` must refuse
any class whose permutation changes some tensor, whoever proposes it. A false
"collapsed" needs both to fail, so each is tested on its own here.
"""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.checkpoint.families import Member, Space
from symcheck.checkpoint.store import open_store
from symcheck.checkpoint.ties import certify, permutation, tie_classes


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(11)
    w = rng.standard_normal((6, 4)).astype(np.float32)  # units are rows
    v = rng.standard_normal((3, 6)).astype(np.float32)  # units are columns
    w[4], v[:, 4] = w[1], v[:, 1]  # units 1 and 4: identical in both members
    w[5], v[:, 5] = w[2], v[:, 2]
    v[2, 5] += 1.0  # units 2 and 5: identical rows of w, one entry of v differs
    w[3, 0] = -0.0
    w[0] = w[3]
    w[0, 0] = 0.0  # units 0 and 3: equal rows up to the sign of a zero ...
    v[:, 3] = v[:, 0]  # ... and equal columns: identical units
    q = rng.standard_normal((8, 3)).astype(np.float32)  # 4 heads of 2 rows
    q[4:6] = q[0:2]  # heads 0 and 2 identical; head 1 differs from head 3 in one entry
    q[6:8] = q[2:4]
    q[7, 2] += 1.0
    e = rng.standard_normal((3, 5, 2)).astype(np.float32)  # three experts
    e[2] = e[0]
    e[1] = e[0]
    e[1, 0, 0] += 1.0  # expert 1 differs from expert 0 in its first entry only
    router = rng.standard_normal((3, 4)).astype(np.float32)  # a row per expert, all distinct
    tensors = {"w": w, "v": v, "q": q, "e0": e[0], "e1": e[1], "e2": e[2], "router": router}
    path = tmp_path / "forged.safetensors"
    save_file(tensors, str(path))
    with open_store([path]) as opened:
        yield opened


ROWS = Space(
    "units",
    "neuron",
    "units",
    6,
    (Member(("w",), 0, 0, 1, 1, "in", tiled=True), Member(("v",), 1, 0, 1, 1, "out", tiled=True)),
)
HEADS = Space("heads", "head", "heads", 4, (Member(("q",), 0, 0, 2, 2, "in", tiled=True),))
ROUTED = Space(  # experts 0 and 2 are equal tensors, but the router tells them apart
    "routed",
    "expert",
    "routed experts",
    3,
    (
        Member(("e0", "e1", "e2"), None, 0, 1, 1, "in"),
        Member(("router",), 0, 0, 1, 1, "in", tiled=True),
    ),
)
EXPERTS = Space(
    "experts", "expert", "experts", 3, (Member(("e0", "e1", "e2"), None, 0, 1, 1, "in"),)
)


@pytest.mark.parametrize(
    ("space", "tied"),
    [(ROWS, [(0, 3), (1, 4)]), (HEADS, [(0, 2)]), (EXPERTS, [(0, 2)])],
)
def test_forced_collisions_leave_exactly_the_identical_units(store, space, tied):
    # Every key equal: every unit is a candidate; only real ties survive, singletons go.
    assert tie_classes(store, space, np.zeros(space.width, dtype=np.uint64)) == tied
    assert certify(store, space, tied)


@pytest.mark.parametrize("space", [ROWS, HEADS, EXPERTS])
def test_distinct_keys_give_no_class(store, space):
    assert tie_classes(store, space, np.arange(space.width, dtype=np.uint64)) == []


def test_routed_experts_that_are_equal_tensors_are_not_a_class(store):
    assert tie_classes(store, ROUTED, np.zeros(3, dtype=np.uint64)) == []


@pytest.mark.parametrize(
    ("space", "forged"),
    [
        (ROWS, [(2, 5)]),  # equal in w, one entry apart in v
        (ROWS, [(1, 4), (2, 5)]),  # a true class does not carry a forged one
        (ROWS, [(1, 4, 0)]),
        (HEADS, [(1, 3)]),  # one entry apart in the second row of the block
        (HEADS, [(0, 1)]),
        (EXPERTS, [(0, 1)]),  # one entry apart: the first of the tensor
        (EXPERTS, [(0, 2, 1)]),
        (ROUTED, [(0, 2)]),  # the whole-tensor member agrees; the next member does not
    ],
)
def test_certify_refuses_a_forged_class(store, space, forged):
    assert certify(store, space, forged) is False


def test_certify_refuses_no_class(store):
    assert certify(store, ROWS, []) is False


def test_permutation_cycles_each_class_and_fixes_the_rest():
    assert permutation(6, [(1, 3, 4)]).tolist() == [0, 3, 2, 4, 1, 5]
    assert permutation(5, [(0, 4), (1, 2)]).tolist() == [4, 2, 1, 3, 0]
