"""Any value in any argument slot of a public entry point: a result or a SymcheckError, quickly.

Each example puts one hostile value (None, huge or negative ints, nan/inf,
text, bytes, lists, a NumPy ufunc, a bare object) into one argument of one
entry point, the other arguments valid, and checks that the call returns or
raises :class:`~symcheck.errors.SymcheckError` — never AttributeError,
TypeError, IndexError, RecursionError or MemoryError — within 20 s.
``tests/test_api_contract.py`` holds the named cases and the sibling checks.
"""

from __future__ import annotations

from collections.abc import Callable

import hypothesis.strategies as st
import numpy as np
from hypothesis import HealthCheck, example, given, note, settings

import symcheck as S
from symcheck.cli.contract import time_guard
from symcheck.errors import SymcheckError

NET = S.Network.parse("2-2-1")
DATA = (np.ones((2, 2)), np.ones((2, 1)))
SGD = S.get_optimizer("sgd", lr=0.1)
ZEROS = S.initialize(NET, "zeros")

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=8),
    st.lists(st.integers(-3, 3), max_size=3),
    st.sampled_from(["2-2-1", "tanh", "relu", "zero", "random", "sgd", "", "nan", "x" * 3000]),
    st.just(np.tanh),
    st.just(object()),
)

#: entry point and slot -> a call with the hostile value ``h`` in that slot.
SLOTS: dict[str, Callable[[object], object]] = {
    "prove_identical_updates(network)": lambda h: S.prove_identical_updates(h),
    "prove_identical_updates(init)": lambda h: S.prove_identical_updates(NET, init=h),
    "prove_identical_updates(value)": lambda h: S.prove_identical_updates(
        NET, init="constant", value=h
    ),
    "prove_identical_updates(batch)": lambda h: S.prove_identical_updates(NET, batch=h),
    "prove_preserved(optimizer)": lambda h: S.prove_preserved(NET, optimizer=h),
    "prove_symmetry_breaks(batch)": lambda h: S.prove_symmetry_breaks(NET, batch=h),
    "prove_lumping_preserved(partition)": lambda h: S.prove_lumping_preserved(NET, h),
    "prove_lumping_preserved(mode)": lambda h: S.prove_lumping_preserved(NET, [[0, 0]], mode=h),
    "Network.parse(spec)": lambda h: S.Network.parse(h),
    "Network.parse(activation)": lambda h: S.Network.parse("2-2-1", activation=h),
    "Network.parse(loss)": lambda h: S.Network.parse("2-2-1", loss=h),
    "Network.parse(reduction)": lambda h: S.Network.parse("2-2-1", reduction=h),
    "Network(widths)": lambda h: S.Network(h),
    "gradients(params)": lambda h: S.gradients(NET, h, *DATA),
    "gradients(x)": lambda h: S.gradients(NET, ZEROS, h, DATA[1]),
    "initialize(scheme)": lambda h: S.initialize(NET, h),
    "train(steps)": lambda h: S.train(NET, ZEROS, DATA, SGD, h),
    "train(data)": lambda h: S.train(NET, ZEROS, h, SGD, 1),
    "train(dropout)": lambda h: S.train(NET, ZEROS, DATA, SGD, 1, dropout=h),
    "mean_field(activation)": lambda h: S.mean_field(h, sigma_w2=1.0),
    "mean_field(sigma_w2)": lambda h: S.mean_field("tanh", sigma_w2=h),
    "derive(init)": lambda h: S.derive(NET, init=h),
    "init_point(init)": lambda h: S.init_point(NET, h),
    "layered_gradients(params)": lambda h: S.layered_gradients(NET, h),
    "get_activation": lambda h: S.get_activation(h),
    "get_loss": lambda h: S.get_loss(h),
    "get_initializer": lambda h: S.get_initializer(h),
    "get_optimizer(name)": lambda h: S.get_optimizer(h, lr=0.1),
    "get_optimizer(lr)": lambda h: S.get_optimizer("sgd", lr=h),
    "verify_certificate": lambda h: S.verify_certificate(h),
}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slot=st.sampled_from(sorted(SLOTS)), value=HOSTILE)
@example(slot="get_optimizer(name)", value=[])  # was TypeError: unhashable type
@example(slot="get_loss", value=[1])
@example(slot="initialize(scheme)", value={})
@example(slot="prove_preserved(optimizer)", value=[1])
@example(slot="prove_identical_updates(network)", value="2-2-1")  # was AttributeError
@example(slot="Network.parse(activation)", value=np.tanh)  # was TypeError
@example(slot="gradients(params)", value=None)
@example(slot="mean_field(sigma_w2)", value="1")
@example(slot="prove_identical_updates(batch)", value=0)  # was IndexError
@example(slot="prove_identical_updates(batch)", value=10**8)  # was a hang
def test_a_hostile_value_gives_a_result_or_a_symcheck_error(slot: str, value: object) -> None:
    note(f"{slot} <- {value!r:.200}")
    try:
        with time_guard(20.0):
            SLOTS[slot](value)
    except SymcheckError:
        pass
