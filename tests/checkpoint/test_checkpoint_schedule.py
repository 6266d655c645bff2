"""Phases: the report is a function of the checkpoint, not of the runner's timing."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import save_file

from symcheck.checkpoint import audit_checkpoint
from symcheck.checkpoint.audit import _observation_spaces, analyse_space
from symcheck.checkpoint.families import Member, Space
from symcheck.checkpoint.schedule import phases, run_plan
from symcheck.checkpoint.store import open_store


def _space(i: int, tensors: tuple[str, ...]) -> Space:
    members = tuple(Member((t,), 0, 0, 1, 1, "in") for t in tensors)
    return Space(f"s{i}", "rows", f"s{i}", 4, members)


def test_spaces_sharing_a_tensor_run_in_later_phases():
    spaces = [
        _space(0, ("a",)),
        _space(1, ("a",)),
        _space(2, ("b",)),
        _space(3, ("b", "c")),
        _space(4, ("a", "b", "c")),
    ]
    assert phases(spaces) == [[0, 2], [1, 3], [4]]


@given(st.lists(st.sets(st.sampled_from("abcde"), min_size=1, max_size=3), max_size=12))
def test_phases_order_every_pair_that_shares_a_tensor(tensor_sets):
    spaces = [_space(i, tuple(sorted(t))) for i, t in enumerate(tensor_sets)]
    plan = phases(spaces)
    where = {i: p for p, members in enumerate(plan) for i in members}
    assert sorted(where) == list(range(len(spaces)))  # every space exactly once
    assert all(members == sorted(members) for members in plan)
    for i, s in enumerate(spaces):
        for j in range(i + 1, len(spaces)):
            if set(s.tensors) & set(spaces[j].tensors):
                assert where[i] < where[j]


class _Backwards:
    """A runner that analyses each phase last space first (as a loaded pool might)."""

    def __init__(self, store):
        self.store, self.calls = store, []

    def run(self, spaces, norms):
        self.calls.append(len(spaces))
        done = [
            analyse_space(self.store, s, threshold=0.01, claims=False, norms=norms)
            for s in reversed(spaces)
        ]
        return done[::-1]


def _wide_observations(tmp_path):
    rng = np.random.default_rng(0)
    t = {f"l{i}.weight": rng.standard_normal((150, 200)).astype(np.float32) for i in range(3)}
    path = tmp_path / "wide.safetensors"
    save_file(t, str(path))
    return path


def test_the_order_inside_a_phase_does_not_change_the_report(tmp_path):
    # Rows and columns of one wide tensor: the columns reuse the rows' slice norms
    # and sketch a sample; before phases, threads raced for them and the nearest
    # pair (an upper bound) changed from run to run.
    path = _wide_observations(tmp_path)
    with open_store([path]) as store:
        spaces = _observation_spaces(store)
        # The reference: one thread, the plan in order, every norm visible at once.
        norms, sequential = {}, []
        for space in spaces:
            report, published = analyse_space(
                store, space, threshold=0.01, claims=False, norms=norms
            )
            sequential.append(report.to_dict())
            for key, value in published.items():
                norms.setdefault(key, value)
        runner = _Backwards(store)
        backwards = [r.to_dict() for r in run_plan(spaces, runner)]
    assert runner.calls == [3, 3]
    assert backwards == sequential
    for jobs in (1, 2, 4):
        report = audit_checkpoint([path], jobs=jobs)
        assert [s.to_dict() for s in report.spaces] == sequential
