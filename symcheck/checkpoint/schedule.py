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
space starts as soon as the earlier spaces sharing a tensor with it are done,
with the norms they published, which are all the norms of its tensors the
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

    Every item is queued; the caller then takes the results in order and runs
    itself each item no worker has started yet (a cancelled future), so it
    never waits on a task still queued behind it: no deadlock, whatever the
    pool is doing. ``fn`` must not wait on other tasks.
    """
    futures = [pool.submit(fn, item) for item in items]
    out = []
    for future, item in zip(futures, items, strict=True):
        out.append(fn(item) if future.cancel() else future.result())
    return out


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

    def run(self, spaces: Sequence[Space], norms: Norms) -> list[tuple[SpaceReport, NormCache]]:
        # Largest first (LPT), so that no thread idles long at the end of a phase;
        # within a phase the order cannot change a report (the module docstring).
        sizes = [sum(self.store.tensors[t].size for t in s.tensors) for s in spaces]
        order = sorted(range(len(spaces)), key=lambda i: -sizes[i])
        done = {i: self._submit(spaces[i], norms) for i in order}
        return [done[i].result() for i in range(len(spaces))]

    def run_all(self, spaces: Sequence[Space]) -> list[SpaceReport]:
        """The reports of :func:`run_plan`, without waiting at the end of each phase.

        A space starts once every earlier space sharing a tensor with it is
        done, with the norms those published, merged in plan order. Norms of a
        tensor are only published by spaces holding it, which all come before
        in plan order and in phase, so each space reads exactly the norms of
        its tensors that :func:`run_plan` gives it: the same reports.
        """
        sharers: list[list[int]] = []  # per space: the earlier spaces sharing a tensor
        holders: dict[str, list[int]] = {}
        for index, space in enumerate(spaces):
            sharers.append(sorted({j for t in space.tensors for j in holders.get(t, [])}))
            for t in space.tensors:
                holders.setdefault(t, []).append(index)
        later: list[list[int]] = [[] for _ in spaces]
        for index, before in enumerate(sharers):
            for j in before:
                later[j].append(index)
        waiting = [len(before) for before in sharers]
        outcome: list[tuple[SpaceReport, NormCache] | None] = [None] * len(spaces)
        finished: Future[None] = Future()
        lock = threading.Lock()
        left = [len(spaces)]

        def start(index: int) -> None:
            norms: NormCache = {}
            for j in sharers[index]:  # plan order: the first publisher wins
                for key, value in outcome[j][1].items():  # type: ignore[index]
                    norms.setdefault(key, value)
            self._submit(spaces[index], norms).add_done_callback(
                lambda f, index=index: done(index, f)
            )

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
            for k in ready:
                start(k)
            if last:
                finished.set_result(None)

        first = [i for i, n in enumerate(waiting) if not n]
        sizes = {i: sum(self.store.tensors[t].size for t in spaces[i].tensors) for i in first}
        if not spaces:
            return []
        for index in sorted(first, key=lambda i: -sizes[i]):  # largest first (LPT)
            start(index)
        finished.result()
        return [out[0] for out in outcome]  # type: ignore[index]

    def _submit(self, space: Space, norms: Norms) -> Future[tuple[SpaceReport, NormCache]]:
        distinct = threading.Event()
        parts: list[Future[MemberScan]] = []
        for m, source in enumerate(sources(self.store, space, norms)):
            member = space.members[m]
            known = None
            if source is None and uses_norms(self.store, space, m):
                known = norms.get((member.tensors[0], member.axis))
            after = parts[source] if source is not None else None
            parts.append(self.pool.submit(_member, self.store, space, m, known, after, distinct))
        # The finishing step runs in the worker that completes the last member (at
        # once, as a serial scan would, so that the members' shares are folded and
        # freed early), never in a worker waiting for members to finish; when the
        # members are all done before this thread is, it is queued.
        result: Future[tuple[SpaceReport, NormCache]] = Future()
        pending, lock = [len(parts) + 1], threading.Lock()

        def ready(_: Future[MemberScan] | None = None, *, queue: bool = False) -> None:
            with lock:
                pending[0] -= 1
                if pending[0]:
                    return
            step = (result, _finish, space, parts, norms, self.finish)
            if queue:
                self.pool.submit(_settle, *step)
            else:
                _settle(*step)

        for part in parts:
            part.add_done_callback(ready)
        ready(queue=True)
        return result


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
