"""Phases and the thread pool: the report is a function of the checkpoint, not of timing.

The JSON is the same for any ``jobs``, with slow publishers, in any order inside a
phase, and on a Dask cluster (tests/checkpoint/test_checkpoint_cluster.py).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import save_file

from symcheck.checkpoint import audit_checkpoint, distance, render, schedule
from symcheck.checkpoint.audit import _analyse, _observation_spaces, analyse_space
from symcheck.checkpoint.families import Member, Space, family_for, resolve
from symcheck.checkpoint.schedule import Threads, phases, pool_map, run_plan, sources
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


def test_the_stream_reads_the_norms_of_the_spaces_before_it(wide, checkpoint, tensors):
    folder = checkpoint("llama", tensors("llama", config=wide), wide)
    with open_store(folder) as store:
        shapes = {n: r.shape for n, r in store.tensors.items()}
        spaces, _, _ = resolve(family_for("llama"), wide, shapes)
        spaces = sorted(spaces, key=lambda s: s.kind == "stream")
        plan = phases(spaces)
        published: dict = {}
        for phase in plan[:-1]:
            for i in phase:
                published.update(
                    analyse_space(store, spaces[i], threshold=0.01, claims=True, norms=published)[1]
                )
    assert plan[-1] == [len(spaces) - 1] and spaces[-1].kind == "stream"
    gate = "model.layers.1.mlp.gate_proj.weight"
    assert (gate, 0) in published and (gate, 1) in published  # the FFN (80) decodes whole
    o_proj = "model.layers.0.self_attn.o_proj.weight"
    assert not any(k[0] == o_proj for k in published)  # no space decodes o_proj whole before


def _tied(tmp_path):
    # One space with two members on one tensor (as a tied embedding in a stream):
    # the second reads the norms the first publishes, inside the phase.
    rng = np.random.default_rng(1)
    t = rng.standard_normal((100, 100)).astype(np.float32)
    t[7] = t[3]
    t[:, 7] = t[:, 3]  # unit 7 (row and column 7) equals unit 3
    path = tmp_path / "tied.safetensors"
    save_file({"t": t}, str(path))
    members = (
        Member(("t",), 0, 0, 1, 1, "in", tiled=True),
        Member(("t",), 1, 0, 1, 1, "out", tiled=True),
    )
    return path, Space("both", "rows", "t rows and columns", 100, members)


def test_a_member_reads_the_norms_of_an_earlier_member_of_its_space(tmp_path, monkeypatch):
    path, space = _tied(tmp_path)
    real, fast = schedule.scan_member, []

    def spy(store, space, index, **kw):
        fast.append((index, kw["known"] is not None))
        return real(store, space, index, **kw)

    monkeypatch.setattr(schedule, "scan_member", spy)
    with open_store([path]) as store:
        assert sources(store, space, {}) == [None, 0]
        known = {("t", 0): np.ones(100), ("t", 1): np.ones(100)}
        assert sources(store, space, known) == [None, None]  # the earlier phases' norms
        serial = analyse_space(store, space, threshold=0.01, claims=False, norms={})
        for jobs in (1, 3):
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                runner = Threads(store, pool, lambda sp, s: _analyse(store, sp, s, 0.01, False))
                [(report, published)] = runner.run([space], {})
            assert report.to_dict() == serial[0].to_dict()
            assert published.keys() == serial[1].keys() == {("t", 0), ("t", 1)}
    assert sorted(fast) == [(0, False), (0, False), (1, True), (1, True)]
    assert serial[0].nearest == (3, 7) and serial[0].distance == 0.0


@pytest.mark.parametrize("jobs", [2, 4])
def test_the_json_is_the_same_for_any_jobs_even_when_publishers_are_slow(
    wide, checkpoint, tensors, monkeypatch, jobs
):
    # Without a config every matrix gives a rows and a columns space: the columns
    # space reads the norms its rows space publishes.
    folder = checkpoint("llama", tensors("llama", config=wide), wide, with_config=False)
    real = schedule.scan_member
    fast: set[tuple[str, int]] = set()

    def slow_publisher(store, space, index, **kw):
        if kw["known"] is None and schedule.publishes(store, space.members[index]):
            time.sleep(0.02)  # a consumer scheduled meanwhile must wait, not decode
        if kw["known"] is not None:
            fast.add((space.id, index))
        return real(store, space, index, **kw)

    monkeypatch.setattr(schedule, "scan_member", slow_publisher)
    serial = render(audit_checkpoint(folder, jobs=1), "json")
    planned, fast = set(fast), set()
    assert render(audit_checkpoint(folder, jobs=jobs), "json") == serial
    assert planned and fast == planned
    assert all(i.endswith(":columns") for i, _ in planned)


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


def test_pool_map_from_inside_its_own_one_worker_pool_runs_every_item_once_in_order():
    # The only worker runs the caller, so every item is run inline: a plain
    # submit-and-wait would block forever here.
    runs: list[int] = []

    def square(x: int) -> int:
        runs.append(x)
        return x * x

    with ThreadPoolExecutor(max_workers=1) as pool:
        outer = pool.submit(pool_map, pool, square, list(range(20)))
        assert outer.result(timeout=30) == [x * x for x in range(20)]
    assert sorted(runs) == list(range(20))


def test_exact_distances_read_through_a_pool_are_the_same_bits(tmp_path):
    # Three members, read by two workers in any order: the per-window sums are
    # added in member order, so the float64 results do not change.
    path = _wide_observations(tmp_path)
    members = tuple(Member((f"l{i}.weight",), 0, 0, 1, 1, "in", tiled=True) for i in range(3))
    space = Space("all", "rows", "rows of l0-l2", 150, members)
    pairs = [(0, 1), (3, 7), (10, 149), (5, 6)]
    with open_store([path]) as store:
        serial = distance._measure(store, space, pairs)
        with ThreadPoolExecutor(max_workers=2) as pool:
            pooled = distance._measure(
                store, space, pairs, lambda fn, items: pool_map(pool, fn, items)
            )
        one = distance._measure(store, Space("l0", "rows", "l0", 150, members[:1]), pairs)
    for a, b in zip(serial, pooled, strict=True):
        assert np.array_equal(a.view(np.uint64), b.view(np.uint64))
    assert not np.array_equal(serial[0], one[0])  # every member counts


def _fails_without_hanging(monkeypatch, path, broken_when, call) -> None:
    """``call(runner, store)`` raises the error of the broken members within 30 s."""
    real = schedule.scan_member

    def broken(store, space, index, **kw):
        if broken_when(space, index):
            raise RuntimeError("this member is broken")
        return real(store, space, index, **kw)

    monkeypatch.setattr(schedule, "scan_member", broken)
    with open_store([path]) as store, ThreadPoolExecutor(max_workers=2) as pool:
        runner = Threads(store, pool, lambda sp, s: _analyse(store, sp, s, 0.01, False))
        with ThreadPoolExecutor(max_workers=1) as outside:
            run = outside.submit(call, runner, store)
            with pytest.raises(RuntimeError, match="this member is broken"):
                run.result(timeout=30)


def test_a_failing_member_fails_its_space_instead_of_hanging(tmp_path, monkeypatch):
    # The finishing step is queued when the last member is done, failed or not.
    path, space = _tied(tmp_path)
    _fails_without_hanging(
        monkeypatch, path, lambda sp, index: index == 1, lambda r, _: r.run([space], {})
    )


def test_run_all_fails_when_a_space_fails(tmp_path, monkeypatch):
    _fails_without_hanging(
        monkeypatch,
        _wide_observations(tmp_path),
        lambda sp, _: sp.id.startswith("l1.weight"),
        lambda r, store: r.run_all(_observation_spaces(store)),
    )


@pytest.mark.parametrize("jobs", [1, 3])
def test_run_all_without_phase_barriers_gives_the_reports_of_run_plan(
    wide, checkpoint, tensors, jobs
):
    # A space starts when the earlier spaces sharing its tensors are done (not
    # the whole phase): it must read the same norms, hence give the same report.
    folder = checkpoint("llama", tensors("llama", config=wide), wide, with_config=False)
    with open_store(folder) as store:
        spaces = _observation_spaces(store)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            runner = Threads(store, pool, lambda sp, s: _analyse(store, sp, s, 0.01, False))
            flowing = [r.to_dict() for r in runner.run_all(spaces)]
        planned = [r.to_dict() for r in run_plan(spaces, _Backwards(store))]
    assert len(phases(spaces)) > 1 and flowing == planned


def test_pool_map_caller_runs_unstarted_items_from_the_back():
    # The worker is busy: the caller runs every item itself, last first (so that,
    # with free workers taking items from the front, the two share the work),
    # and the results still come in item order.
    runs: list[int] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        gate = threading.Event()
        pool.submit(gate.wait, 30)
        try:
            out = pool_map(pool, lambda x: runs.append(x) or -x, list(range(6)))
        finally:
            gate.set()
    assert out == [0, -1, -2, -3, -4, -5]
    assert runs == [5, 4, 3, 2, 1, 0]


def test_pool_map_shares_the_items_with_a_free_worker():
    # A free worker and the caller each run some items (the caller alone would
    # be correct but serial): each item sleeps, so both get a share.
    threads: list[int] = []

    def slow(x: int) -> int:
        threads.append(threading.get_ident())
        time.sleep(0.01)
        return x

    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool_map(pool, slow, list(range(20))) == list(range(20))
    assert len(set(threads)) == 2 and len(threads) == 20


def test_order_runs_the_newest_batch_first_and_a_batch_in_order():
    runs: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        gate = threading.Event()
        pool.submit(gate.wait, 30)  # hold the worker while everything is queued
        order = schedule._Order(pool)
        old, new = order.batch(), order.batch()
        futures = [order.submit(old, runs.append, f"old{i}") for i in range(3)]
        futures += [order.submit(new, runs.append, f"new{i}") for i in range(3)]
        gate.set()
        for future in futures:
            future.result(timeout=30)
    assert runs == ["new0", "new1", "new2", "old0", "old1", "old2"]


def test_a_member_starts_before_unrelated_earlier_spaces_finish(tmp_path, monkeypatch):
    # Space "a" reads t1; space "b" reads t1 and t2. b's member on t2 shares no
    # tensor with a, so it starts while a is still running (a waits for it).
    rng = np.random.default_rng(3)
    path = tmp_path / "two.safetensors"
    save_file({n: rng.standard_normal((20, 30)).astype(np.float32) for n in ("t1", "t2")}, path)

    def rows(t: str) -> Member:
        return Member((t,), 0, 0, 1, 1, "in", tiled=True)

    a = Space("a", "rows", "a", 20, (rows("t1"),))
    b = Space("b", "rows", "b", 20, (rows("t1"), rows("t2")))
    real, started = schedule.scan_member, threading.Event()
    waited: list[bool] = []

    def spy(store, space, index, **kw):
        if space.id == "a":
            waited.append(started.wait(10))
        if space.id == "b" and index == 1:
            started.set()
        return real(store, space, index, **kw)

    monkeypatch.setattr(schedule, "scan_member", spy)
    with open_store([path]) as store, ThreadPoolExecutor(max_workers=2) as pool:
        runner = Threads(store, pool, lambda sp, s: _analyse(store, sp, s, 0.01, False))
        flowing = [r.to_dict() for r in runner.run_all([a, b])]
        planned = [r.to_dict() for r in run_plan([a, b], _Backwards(store))]
    assert waited == [True] and flowing == planned
