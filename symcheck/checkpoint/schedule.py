r"""The order in which an audit's unit spaces run: the same on threads and on a cluster.

A wide space reads the slice norms that an earlier space of the same tensor
published (:data:`symcheck.checkpoint.scan.NormCache`): it then skips decoding
and sketches a sample of the positions. Whether a space finds those norms must
not depend on timing, the number of threads or a cluster, or the report would
(its nearest pair is an upper bound found through the sketch). So the plan is
cut into **phases** before anything runs:

.. math::

    \mathrm{phase}(s) = 1 + \max\{\mathrm{phase}(t) : t \text{ before } s
    \text{ in the plan}, t \text{ and } s \text{ share a tensor}\}
    \quad (0 \text{ when there is none}).

Spaces of one phase share no tensor, so they can run in any order on any
worker. Each starts from the norms of the earlier phases (read-only) and
returns those it publishes; they are merged in plan order (the first publisher
of a ``(tensor, axis)`` wins). That is what one thread running the plan in
order computes, because only spaces sharing a tensor exchange norms and those
run in plan order.

On this machine the phases are not barriers (:meth:`Threads.run_all`): a
member of a space starts as soon as the earlier spaces sharing its tensor are
done, with the norms they published, which are all the norms of its tensor the
plan gives it. A :class:`Runner` runs one phase. On this machine (:class:`Threads`) every
member of every space of the phase is one task of a thread pool
(:func:`symcheck.checkpoint.scan.scan_member`) and a space's finishing step
(:func:`symcheck.checkpoint.scan.fold`, then ``finish``) another that waits
for its members, so the members of one space (the residual stream reads every
tensor) run in parallel. A member reads the norms of the earlier phases, or
those of an earlier member of its own space that decodes the same tensor whole
(the choice a serial :func:`symcheck.checkpoint.scan.scan` makes, fixed before
the phase runs); it then waits for that member. Every wait is on a task
queued earlier, which a worker has already taken: no deadlock. On a Dask
cluster the runner is :mod:`symcheck.checkpoint.cluster`.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import numpy as np

from symcheck.checkpoint.families import Space
from symcheck.checkpoint.report import SpaceReport
from symcheck.checkpoint.scan import (
    MemberScan,
    NormCache,
    Scan,
    fold,
    publishes,
    scan_member,
    uses_norms,
)
from symcheck.checkpoint.store import Store

__all__ = ["Norms", "Runner", "Threads", "phases", "pool_map", "run_plan", "sources"]

#: Slice norms by ``(tensor, axis)`` (:data:`symcheck.checkpoint.scan.NormCache`).
Norms = Mapping[tuple[str, int], np.ndarray]
#: The finishing step of a space: its report from its folded scan.
Finish = Callable[[Space, Scan], SpaceReport]
_Item = TypeVar("_Item")


def pool_map(
    pool: ThreadPoolExecutor, fn: Callable[[_Item], Any], items: Sequence[_Item]
) -> list[Any]:
    """``[fn(x) for x in items]`` on ``pool``, callable from one of its own workers.

    Every item is queued; the workers take them from the front while the
    caller runs itself, from the back, each item no worker has started yet
    (a cancelled future), so the two meet in the middle and the caller never
    waits on a task still queued behind it: no deadlock, whatever the pool is
    doing. (Taking them from the front too, the caller would win every race
    for the GIL and run nearly all of them itself.) ``fn`` must not wait on
    other tasks.
    """
    futures = [pool.submit(fn, item) for item in items]
    mine: dict[int, Any] = {}
    for k in reversed(range(len(items))):
        if futures[k].cancel():
            mine[k] = fn(items[k])
    return [mine[k] if k in mine else futures[k].result() for k in range(len(items))]


class Runner(Protocol):
    """Runs one phase: every space with the norms of the earlier phases."""

    def run(
        self, spaces: Sequence[Space], norms: Norms
    ) -> list[tuple[SpaceReport, dict[tuple[str, int], np.ndarray]]]:
        """``(report, published norms)`` per space, in the order given."""
        ...


def phases(spaces: Sequence[Space]) -> list[list[int]]:
    """Indices of ``spaces`` by phase (see the module docstring), each in plan order."""
    last: dict[str, int] = {}
    out: list[list[int]] = []
    for index, space in enumerate(spaces):
        phase = 1 + max((last.get(t, -1) for t in space.tensors), default=-1)
        for t in space.tensors:
            last[t] = phase
        if phase == len(out):
            out.append([])
        out[phase].append(index)
    return out


def run_plan(spaces: Sequence[Space], runner: Runner) -> list[SpaceReport]:
    """Run every space phase by phase; the reports in plan order."""
    norms: dict[tuple[str, int], np.ndarray] = {}
    reports: dict[int, SpaceReport] = {}
    for phase in phases(spaces):
        results = runner.run([spaces[i] for i in phase], dict(norms))
        for index, (report, published) in zip(phase, results, strict=True):
            reports[index] = report
            for key, value in published.items():
                norms.setdefault(key, value)
    return [reports[i] for i in range(len(spaces))]


def sources(store: Store, space: Space, norms: Norms) -> list[int | None]:
    """Per member of ``space``: the earlier member whose published norms it reads, if any.

    ``None`` when the member decodes, or reads ``norms`` (the earlier phases).
    The publisher is the first member that decodes its tensor whole
    (:func:`~symcheck.checkpoint.scan.publishes`), as in a serial scan.
    """
    producer: dict[str, int] = {}
    out: list[int | None] = []
    for m, member in enumerate(space.members):
        name = member.tensors[0]
        source = None
        if uses_norms(store, space, m) and (name, member.axis) not in norms:
            source = producer.get(name)
        if source is None and name not in producer and (name, member.axis) not in norms:
            if publishes(store, member):
                producer[name] = m
        out.append(source)
    return out


class Threads:
    """The local :class:`Runner`: members of a phase's spaces as tasks of ``pool``."""

    def __init__(self, store: Store, pool: ThreadPoolExecutor, finish: Finish) -> None:
        self.store, self.pool, self.finish = store, pool, finish
        self.order = _Order(pool)

    def run(self, spaces: Sequence[Space], norms: Norms) -> list[tuple[SpaceReport, NormCache]]:
        # Largest first (LPT), so that no thread idles long at the end of a phase;
        # within a phase the order cannot change a report (the module docstring).
        sizes = [sum(self.store.tensors[t].size for t in s.tensors) for s in spaces]
        order = sorted(range(len(spaces)), key=lambda i: -sizes[i])
        done = {}
        batch = self.order.batch()
        for i in order:
            run = _SpaceRun(self, spaces[i], groups=1)
            run.start(range(len(spaces[i].members)), norms, batch)
            done[i] = run.result
        try:
            return [done[i].result() for i in range(len(spaces))]
        except BaseException:
            self.order.close()
            raise

    def run_all(self, spaces: Sequence[Space]) -> list[SpaceReport]:
        """The reports of :func:`run_plan`, without waiting at the end of each phase.

        A member of a space starts once every earlier space sharing a tensor
        with that member is done, with the norms those published, merged in
        plan order (members of one tensor start together). Norms of a tensor
        are only published by spaces holding it, which all come before in
        plan order and in phase, so each member reads exactly the norms of its
        tensor that :func:`run_plan` gives it, and the finishing step sees the
        same set of known norms: the same reports. So the residual stream's
        members on tensors no other space reads (embeddings) start at once.
        """
        if not spaces:
            return []
        holders: dict[str, list[int]] = {}
        tasks: list[tuple[int, tuple[int, ...], list[int]]] = []  # (space, after, members)
        groups = []
        for index, space in enumerate(spaces):
            by: dict[tuple[int, ...], list[int]] = {}
            for m, member in enumerate(space.members):
                after = tuple(sorted({j for t in member.tensors for j in holders.get(t, ())}))
                by.setdefault(after, []).append(m)
            if not by:  # no members: the finishing step still runs, after the sharers
                by[tuple(sorted({j for t in space.tensors for j in holders.get(t, ())}))] = []
            tasks += [(index, after, members) for after, members in by.items()]
            groups.append(len(by))
            for t in space.tensors:
                holders.setdefault(t, []).append(index)
        later: list[list[int]] = [[] for _ in spaces]
        for k, (_, after, _) in enumerate(tasks):
            for j in after:
                later[j].append(k)
        waiting = [len(after) for _, after, _ in tasks]
        outcome: list[tuple[SpaceReport, NormCache] | None] = [None] * len(spaces)
        finished: Future[None] = Future()
        lock = threading.Lock()
        left = [len(spaces)]

        def start(k: int, batch: int) -> None:
            index, after, members = tasks[k]
            norms: NormCache = {}
            for j in after:  # plan order: the first publisher wins
                for key, value in outcome[j][1].items():  # type: ignore[index]
                    norms.setdefault(key, value)
            runs[index].start(members, norms, batch)

        def done(index: int, future: Future[tuple[SpaceReport, NormCache]]) -> None:
            if future.exception() is not None:
                if not finished.done():
                    finished.set_exception(future.exception())
                return
            ready = []
            with lock:
                outcome[index] = future.result()
                for k in later[index]:
                    waiting[k] -= 1
                    if not waiting[k]:
                        ready.append(k)
                left[0] -= 1
                last = not left[0]
            if ready:
                batch = self.order.batch()  # run next, while their tensors are mapped
                for k in ready:
                    start(k, batch)
            if last:
                finished.set_result(None)

        runs = [_SpaceRun(self, space, groups=groups[i]) for i, space in enumerate(spaces)]
        for index, run in enumerate(runs):
            run.result.add_done_callback(lambda f, index=index: done(index, f))

        def size(k: int) -> int:
            index, _, members = tasks[k]
            space = spaces[index]
            return sum(
                self.store.tensors[t].size for m in members for t in space.members[m].tensors
            )

        batch = self.order.batch()
        for k in sorted((k for k, n in enumerate(waiting) if not n), key=lambda k: -size(k)):
            start(k, batch)  # largest first (LPT)
        try:
            finished.result()
        except BaseException:  # a failed space, or the caller gives up (timeout, Ctrl-C)
            self.order.close()
            raise
        return [out[0] for out in outcome]  # type: ignore[index]


class _SpaceRun:
    """One space's members, submitted group by group, and its finishing step.

    The finishing step (:func:`symcheck.checkpoint.scan.fold`, then
    ``finish``) runs in the worker that completes the last member (at once, as
    a serial scan would, so that the members' shares are folded and freed
    early), never in a worker waiting for members to finish; when the members
    are all done before the last group is submitted, it is queued.
    """

    def __init__(self, runner: Threads, space: Space, *, groups: int) -> None:
        self.runner, self.space = runner, space
        self.parts: list[Future[MemberScan] | None] = [None] * len(space.members)
        self.norms: NormCache = {}  # every norm known to some group: the finishing step's
        self.result: Future[tuple[SpaceReport, NormCache]] = Future()
        self.distinct = threading.Event()
        self.pending = len(space.members) + groups
        self.lock = threading.Lock()

    def start(self, members: Sequence[int], norms: Norms, batch: int) -> None:
        """Queue ``members`` (ascending) in ``batch``; ``norms``: those of their tensors."""
        store, space = self.runner.store, self.space
        with self.lock:
            for key, value in norms.items():
                self.norms.setdefault(key, value)
        plan = sources(store, space, norms)  # exact for the members of these tensors
        for m in members:
            source, member = plan[m], space.members[m]
            known = None
            if source is None and uses_norms(store, space, m):
                known = norms.get((member.tensors[0], member.axis))
            after = self.parts[source] if source is not None else None
            if source is not None and after is None:  # would decode instead: another report
                raise RuntimeError(f"{space.id}: member {m} started before its source {source}")
            part = self.runner.order.submit(
                batch, _member, store, space, m, known, after, self.distinct
            )
            self.parts[m] = part
            part.add_done_callback(self._ready)
        self._ready(batch=batch)

    def _ready(self, _: Future[MemberScan] | None = None, *, batch: int | None = None) -> None:
        with self.lock:
            self.pending -= 1
            if self.pending:
                return
        step = (_finish, self.space, self.parts, self.norms, self.runner.finish)
        if batch is not None:  # queued: this thread is not a worker that just finished
            self.runner.order.submit(batch, *step, result=self.result)
        else:
            _settle(self.result, *step)


class _Order:
    """Which queued task a free worker of ``pool`` runs next.

    Tasks come in batches; the newest batch runs first (depth first: the
    spaces that have just become ready read the tensors the space before
    them has just read, still mapped, :data:`symcheck.checkpoint.store.MAP_CACHE_BYTES`),
    and a batch runs in the order it was submitted, so a member queued after
    its source member (same batch) never runs before it. Every task puts one
    token into the pool; a token runs whichever task comes first then.
    """

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.heap: list[tuple[int, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self.lock = threading.Lock()
        self.batches = self.count = 0
        self.closed = False

    def close(self) -> None:
        """Run nothing more: queued tasks are dropped and later ones not queued.

        For a caller that gives up (``--timeout``, Ctrl-C, a failed space):
        the tasks running finish, the rest never start, and no callback
        submits to a pool that is shutting down. Their futures stay pending;
        nobody waits for them any more.
        """
        with self.lock:
            self.closed = True
            self.heap.clear()

    def batch(self) -> int:
        """A new batch, which runs before every earlier one."""
        with self.lock:
            self.batches += 1
            return self.batches

    def submit(
        self,
        batch: int,
        fn: Callable[..., Any],
        *args: Any,
        result: Future[Any] | None = None,
    ) -> Future[Any]:
        """Queue ``fn(*args)`` in ``batch``; its future (``result`` when given)."""
        future: Future[Any] = Future() if result is None else result
        with self.lock:
            if self.closed:
                return future
            self.count += 1
            heapq.heappush(self.heap, (-batch, self.count, future, fn, args))
            self.pool.submit(self._next)  # under the lock: never after close()
        return future

    def _next(self) -> None:
        with self.lock:
            if not self.heap:  # dropped by close()
                return
            _, _, future, fn, args = heapq.heappop(self.heap)
        _settle(future, fn, *args)


def _member(
    store: Store,
    space: Space,
    index: int,
    known: np.ndarray | None,
    source: Future[MemberScan] | None,
    distinct: threading.Event,
) -> MemberScan:
    if source is not None:
        member = space.members[index]
        known = source.result().published[(member.tensors[0], member.axis)]
    return scan_member(store, space, index, known=known, distinct=distinct)


def _settle(result: Future[Any], fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` and put its outcome (value or exception) into ``result``."""
    try:
        result.set_result(fn(*args))
    except BaseException as exc:  # re-raised by result.result() in the caller
        result.set_exception(exc)


def _finish(
    space: Space, parts: list[Future[MemberScan]], norms: Norms, finish: Finish
) -> tuple[SpaceReport, NormCache]:
    scans = [p.result() for p in parts]
    published: NormCache = {}
    for part in scans:  # in member order: the first publisher wins, as in a serial scan
        for key, value in part.published.items():
            if key not in norms:
                published.setdefault(key, value)
    return finish(space, fold(space, scans)), published
