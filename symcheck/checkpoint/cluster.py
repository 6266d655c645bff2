"""The checkpoint audit on a Dask cluster (``symcheck audit ... --scheduler ADDRESS``).

The phases are those of the local path, run and merged by
:func:`symcheck.checkpoint.schedule.run_plan`; the unit of work is one unit
space (:func:`symcheck.checkpoint.audit.analyse_space`, a serial scan of its
members, which is what the local threads compute member by member), so the
report is the local one, byte for byte. Per phase the spaces are cut into at most four
tasks per worker thread, contiguous in plan order; a task opens the
checkpoint on its worker (the same paths: a shared file system), checks that
it is the checkpoint the client opened, analyses its spaces and returns
their reports and the slice norms they publish. The norms of earlier phases
they read (those of their own tensors) go with each task.

The check is a fingerprint of the layout: every file's absolute path and
size, every tensor's name, stored dtype, shape, file and byte range. A
worker that sees other files at those paths is refused with one line; files
of the same layout with other values are not detected (give workers the same
files).

Nothing here needs ``distributed`` until a scheduler is given; then a missing
package, an empty or malformed address, or a scheduler not reached within
the connect timeout is one :class:`InvalidArgument`, checked before any work.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from symcheck.audit.weights import Limits
from symcheck.checkpoint.audit import analyse_space
from symcheck.checkpoint.families import Space
from symcheck.checkpoint.report import SpaceReport
from symcheck.checkpoint.scan import NormCache
from symcheck.checkpoint.schedule import Norms
from symcheck.checkpoint.store import Store, open_store
from symcheck.errors import InvalidArgument, SymcheckError

__all__ = ["MAX_CONNECT_TIMEOUT", "TASKS_PER_THREAD", "Cluster", "fingerprint"]

TASKS_PER_THREAD = 4
#: Longest connect timeout accepted, in seconds.
MAX_CONNECT_TIMEOUT = 3600.0
_INSTALL = "pip install 'symcheck[dask]'"
_EXAMPLE = "tcp://HOST:8786"

Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def fingerprint(store: Store) -> str:
    """SHA-256 of the checkpoint's layout (files and sizes, tensors and byte ranges)."""
    digest = hashlib.sha256()
    for path in store.files:
        digest.update(f"{os.path.abspath(path)}\0{os.stat(path).st_size}\n".encode())
    for name in sorted(store.tensors):
        r = store.tensors[name]
        where = (os.path.abspath(r.file), r.start, r.nbytes)
        digest.update(repr((name, r.dtype.name, r.shape, where)).encode())
    return digest.hexdigest()


def _absolute(source: Source) -> str | list[str]:
    if isinstance(source, (str, os.PathLike)):
        return os.path.abspath(os.fspath(source))
    return [os.path.abspath(os.fspath(s)) for s in source]


def _task(
    source: str | list[str],
    limits: Limits | None,
    expected: str,
    spaces: list[Space],
    threshold: float,
    claims: bool,
    norms: Norms,
) -> list[tuple[SpaceReport, NormCache]]:
    """Runs on a worker: open the checkpoint, check it, analyse ``spaces`` in order."""
    with open_store(source, limits=limits) as store:
        if fingerprint(store) != expected:
            where = source if isinstance(source, str) else source[0]
            raise SymcheckError(
                f"a Dask worker sees other files at {where!r} than this machine; give every "
                "worker the same checkpoint at the same path (a shared file system)"
            )
        return [
            analyse_space(store, s, threshold=threshold, claims=claims, norms=norms) for s in spaces
        ]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _check_address(address: object, timeout: float) -> str:
    if not isinstance(address, str) or not address.strip():
        raise InvalidArgument(
            f"scheduler={address!r} is not an address; give the one the Dask scheduler "
            f"prints, e.g. {_EXAMPLE}"
        )
    if len(address) > 1000 or any(c.isspace() or not c.isprintable() for c in address):
        raise InvalidArgument(
            f"scheduler={address[:80]!r} is not an address (spaces, control characters or "
            f"over 1000 characters); give e.g. {_EXAMPLE}"
        )
    t = float(timeout)
    if not math.isfinite(t) or not 0 < t <= MAX_CONNECT_TIMEOUT:
        raise InvalidArgument(
            f"connect_timeout={timeout!r} must be in (0, {MAX_CONNECT_TIMEOUT:g}] seconds (e.g. 10)"
        )
    return address


def _probe(address: str, timeout: float) -> None:
    """Open and close one connection (with the Dask handshake) within ``timeout`` seconds.

    Done before ``Client`` is built: a ``Client`` that fails to connect prints
    tracebacks while it is collected.
    """
    from distributed.comm import connect

    async def once() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout + 1)
        await comm.close()

    try:
        # A thread of its own: the caller may already run an event loop (notebooks).
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, once()).result()
    except (OSError, ValueError, TypeError, asyncio.TimeoutError) as exc:
        raise InvalidArgument(
            f"scheduler={address!r}: cannot connect within {timeout:g} s "
            f"({_first_line(exc)}); give the address the Dask scheduler prints, e.g. "
            f"{_EXAMPLE}, and check that it runs and is reachable"
        ) from None


class Cluster:
    """A Dask client the audit sends its phases to."""

    def __init__(self, client: Any, address: str, *, owned: bool) -> None:
        self.client, self.address, self.owned = client, address, owned

    @classmethod
    def connect(cls, scheduler: object, *, timeout: float) -> Cluster:
        """A client for ``scheduler`` (an address, or a ``distributed.Client`` to reuse)."""
        try:
            from distributed import Client
        except ImportError:
            raise InvalidArgument(
                f"scheduler={str(scheduler)[:80]!r} needs dask.distributed, which is not "
                f"installed; {_INSTALL}, or drop the scheduler to audit on this machine"
            ) from None
        if isinstance(scheduler, Client):
            address = getattr(getattr(scheduler, "scheduler", None), "address", None)
            return cls(scheduler, str(address or "the client's scheduler"), owned=False)
        address = _check_address(scheduler, timeout)
        _probe(address, float(timeout))
        try:
            client = Client(address, timeout=float(timeout), set_as_default=False)
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            raise InvalidArgument(
                f"scheduler={address!r}: cannot connect within {timeout:g} s "
                f"({_first_line(exc)}); check that the scheduler runs and is reachable"
            ) from None
        return cls(client, address, owned=True)

    def close(self) -> None:
        if self.owned:
            self.client.close()

    def runner(
        self,
        source: Source,
        store: Store,
        *,
        limits: Limits | None,
        threshold: float,
        claims: bool,
    ) -> _Phases:
        return _Phases(self, _absolute(source), fingerprint(store), limits, threshold, claims)


class _Phases:
    """The :class:`symcheck.checkpoint.schedule.Runner` of a cluster."""

    def __init__(
        self,
        cluster: Cluster,
        source: str | list[str],
        expected: str,
        limits: Limits | None,
        threshold: float,
        claims: bool,
    ) -> None:
        self.cluster, self.source, self.expected = cluster, source, expected
        self.limits, self.threshold, self.claims = limits, threshold, claims

    def run(self, spaces: Sequence[Space], norms: Norms) -> list[tuple[SpaceReport, NormCache]]:
        from distributed import KilledWorker

        client = self.cluster.client
        futures = []
        try:
            threads = max(1, sum(client.nthreads().values()))
            tasks = min(len(spaces), TASKS_PER_THREAD * threads)
            for part in np.array_split(np.arange(len(spaces)), tasks):
                if not part.size:
                    continue
                chunk = [spaces[i] for i in part]
                # Only the norms of the chunk's own tensors travel, scattered (not
                # inlined in the task: they can be large for the residual stream).
                tensors = {t for s in chunk for t in s.tensors}
                [mine] = client.scatter(
                    [{k: v for k, v in norms.items() if k[0] in tensors}], hash=False
                )
                futures.append(
                    client.submit(
                        _task,
                        self.source,
                        self.limits,
                        self.expected,
                        chunk,
                        self.threshold,
                        self.claims,
                        mine,
                        pure=False,
                    )
                )
            batches = client.gather(futures)
        except SymcheckError:
            raise
        except (OSError, asyncio.TimeoutError, KilledWorker) as exc:
            raise SymcheckError(
                f"the Dask cluster at {self.cluster.address} failed during the audit "
                f"({_first_line(exc)}); run again, or without a scheduler"
            ) from None
        finally:
            if futures:
                client.cancel(futures)
        return [result for batch in batches for result in batch]
