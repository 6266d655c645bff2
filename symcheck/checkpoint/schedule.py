"""Running an audit's scans on a thread pool, with results that do not depend on ``jobs``.

Every member of every unit space is one task
(:func:`symcheck.checkpoint.scan.scan_member`); a space's finishing step
(:func:`symcheck.checkpoint.scan.fold`, then tie classes and distances) is
another task that waits for its members. Members of one space therefore run
in parallel, and so do the members of the residual stream, which reads every
tensor.

A member reads the slice norms of its tensor (:data:`~symcheck.checkpoint.scan.NormCache`)
only from the first member, in audit order, that publishes them: that
choice is made before anything runs (:func:`plan`), exactly as a serial run
would make it, and the member waits for that task. So the same members take
the fast path with the same norms, and every float sum is added in the same
order, for any ``jobs`` and any timing. Tasks are queued in audit order and
every wait is on an earlier task, which a worker has already taken: no
deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from symcheck.checkpoint.families import Space
from symcheck.checkpoint.scan import MemberScan, Scan, fold, publishes, scan_member, uses_norms
from symcheck.checkpoint.store import Store

__all__ = ["plan", "run"]

R = TypeVar("R")
#: A member of a space: ``(space index, member index)`` in audit order.
Slot = tuple[int, int]


def plan(store: Store, spaces: Sequence[Space]) -> dict[Slot, Slot]:
    """Each member that reads known slice norms -> the member that publishes them.

    The publisher of a tensor's norms is its first member, in audit order, that
    decodes the whole tensor (:func:`~symcheck.checkpoint.scan.publishes`); a
    later member of a wide space reads them instead of decoding.
    """
    producer: dict[str, Slot] = {}
    sources: dict[Slot, Slot] = {}
    for i, space in enumerate(spaces):
        for m, member in enumerate(space.members):
            name = member.tensors[0]
            if name in producer and uses_norms(store, space, m):
                sources[(i, m)] = producer[name]
            elif name not in producer and publishes(store, member):
                producer[name] = (i, m)
    return sources


def run(
    store: Store,
    spaces: Sequence[Space],
    finish: Callable[[Space, Scan], R],
    *,
    jobs: int,
) -> list[R]:
    """``finish(space, scan)`` of every space, in order, scanned on ``jobs`` threads."""
    sources = plan(store, spaces)
    members: dict[Slot, Future[MemberScan]] = {}
    finished: list[Future[R]] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, space in enumerate(spaces):
            distinct = threading.Event()
            for m in range(len(space.members)):
                source = sources.get((i, m))
                known = members[source] if source is not None else None
                members[(i, m)] = pool.submit(_member, store, space, m, known, distinct)
            parts = [members[(i, m)] for m in range(len(space.members))]
            finished.append(pool.submit(_finish, space, parts, finish))
        return [f.result() for f in finished]


def _member(
    store: Store,
    space: Space,
    index: int,
    source: Future[MemberScan] | None,
    distinct: threading.Event,
) -> MemberScan:
    member = space.members[index]
    known = None
    if source is not None:
        known = source.result().published[(member.tensors[0], member.axis)]
    return scan_member(store, space, index, known=known, distinct=distinct)


def _finish(space: Space, parts: list[Future[MemberScan]], finish: Callable[[Space, Scan], R]) -> R:
    return finish(space, fold(space, [p.result() for p in parts]))
