"""``audit_checkpoint``: the architecture-aware, streamed audit of a checkpoint.

1. The source is opened without reading data (:mod:`symcheck.checkpoint.store`).
2. A ``config.json`` beside the weights (or given) names the ``model_type``;
   its family file (:mod:`symcheck.checkpoint.families`) gives the unit
   spaces. Without a known family every tensor of two or more axes gets two
   observation spaces (its rows, its columns) and no claim is made.
3. Every space is scanned once (:mod:`symcheck.checkpoint.scan`), its tie
   classes verified and certified (:mod:`symcheck.checkpoint.ties`), its
   nearest pair and near duplicates measured
   (:mod:`symcheck.checkpoint.distance`). The spaces run phase by phase
   (:mod:`symcheck.checkpoint.schedule`): on this machine every member of
   every space is a task of a thread pool of ``jobs`` workers (NumPy releases
   the GIL in the heavy loops); on a Dask cluster (``scheduler``,
   :mod:`symcheck.checkpoint.cluster`) each task analyses whole spaces. The
   report is the same for any ``jobs`` and on a cluster.

Soundness (docs/theory.md): a tie is called permanent only when the family
is known, the config matches the tensors, no tensor outside the family could
couple to the space, the permutation is certified on every tensor, and no
value of the space is NaN or infinite.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from symcheck.audit.weights import Limits
from symcheck.checkpoint.distance import Mapper, distances
from symcheck.checkpoint.families import Member, Space, coupled, family_for, resolve
from symcheck.checkpoint.report import CheckpointReport, SpaceReport
from symcheck.checkpoint.scan import NormCache, Scan, scan
from symcheck.checkpoint.schedule import Norms, Threads, pool_map, run_plan
from symcheck.checkpoint.store import Store, _open_regular, open_store
from symcheck.checkpoint.ties import certify, tie_classes
from symcheck.errors import InvalidArgument, UnsafeFile

if TYPE_CHECKING:
    from distributed import Client

    from symcheck.checkpoint.cluster import Cluster

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_THRESHOLD",
    "analyse_space",
    "audit_checkpoint",
    "load_config",
]

#: Relative distance under which two units are reported as near duplicates.
DEFAULT_THRESHOLD = 1e-2
#: Seconds allowed to reach a Dask scheduler.
CONNECT_TIMEOUT = 10.0
_MAX_CONFIG = 1 << 20


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A Hugging Face ``config.json``, read as untrusted input (regular file, 1 MiB cap)."""
    name = os.fspath(path)
    fd, size = _open_regular(name, Limits(max_file_bytes=_MAX_CONFIG))
    try:
        raw = os.pread(fd, size, 0)
    finally:
        os.close(fd)
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise UnsafeFile(f"{name}: not a valid JSON config") from None
    if not isinstance(config, dict):
        raise UnsafeFile(f"{name}: a config must be a JSON object")
    return config


def _observation_spaces(store: Store) -> list[Space]:
    spaces = []
    for name, ref in store.tensors.items():
        if len(ref.shape) < 2 or not ref.dtype.floating or ref.size == 0:
            continue
        for axis, kind in ((0, "rows"), (1, "columns")):
            member = Member((name,), axis, 0, 1, 1, "in", tiled=True)
            spaces.append(
                Space(
                    f"{name}:{kind}",
                    kind,
                    f"{name} {kind}",
                    ref.shape[axis],
                    (member,),
                    "no claim: unknown architecture",
                )
            )
    return spaces


def analyse_space(
    store: Store, space: Space, *, threshold: float, claims: bool, norms: Norms
) -> tuple[SpaceReport, NormCache]:
    """One space in one piece (a cluster's unit of work): its report and the norms it publishes.

    ``norms`` (those of the earlier phases) is only read.
    """
    own: NormCache = dict(norms)
    report = _analyse(store, space, scan(store, space, norms=own), threshold, claims)
    return report, {k: v for k, v in own.items() if k not in norms}


def _analyse(
    store: Store,
    space: Space,
    s: Scan,
    threshold: float,
    claims: bool,
    mapper: Mapper | None = None,
) -> SpaceReport:
    """The report of ``space`` from its scan; ``mapper`` reads members for the distances."""
    classes = tie_classes(store, space, s.keys) if s.hashed_all else []
    certified = certify(store, space, classes) if classes else False
    if mapper is None:
        d = distances(store, space, s, threshold=threshold)
    else:
        d = distances(store, space, s, threshold=threshold, mapper=mapper)
    permanent = bool(classes) and claims and space.unsound is None and certified and not s.nonfinite
    reason = None
    if classes and not permanent:
        reason = (
            space.unsound
            or (None if claims else "no claim: unknown architecture")
            or ("no claim: NaN or Inf among the values" if s.nonfinite else None)
            or "no claim: the permutation changes some tensor (not certified)"
        )
    dead = np.flatnonzero(s.zero_in | s.zero_out)
    return SpaceReport(
        space.id,
        space.kind,
        space.label,
        space.width,
        space.tensors,
        tuple(classes),
        certified,
        tuple(int(u) for u in dead),
        d.nearest,
        d.distance,
        d.exact,
        d.near,
        d.complete,
        threshold,
        permanent,
        reason,
        s.nonfinite,
    )


def audit_checkpoint(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    jobs: int | None = None,
    limits: Limits | None = None,
    scheduler: str | Client | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> CheckpointReport:
    """Audit a checkpoint: file, directory, ``*.safetensors.index.json`` or list of files.

    ``config`` is a ``config.json`` path or mapping (default: ``config.json``
    beside the weights, when present). ``threshold`` is the relative distance
    for near duplicates; ``jobs`` the worker threads (default: all cores).
    ``scheduler`` (a Dask scheduler address or a ``distributed.Client``) runs
    the same units of work on a cluster whose workers see the same files at
    the same paths; the report is identical to the local one. A scheduler not
    reached within ``connect_timeout`` seconds is refused.
    """
    threshold = float(threshold)
    if not np.isfinite(threshold) or not 0 <= threshold < 1:
        raise InvalidArgument(f"threshold={threshold!r} must be in [0, 1) (e.g. 0.01)")
    if scheduler is not None and jobs is not None:
        raise InvalidArgument(
            f"jobs={jobs!r} does not apply with a scheduler (its workers set the "
            "parallelism); drop jobs"
        )
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if not isinstance(jobs, int) or isinstance(jobs, bool) or not 1 <= jobs <= 1024:
        raise InvalidArgument(f"jobs={jobs!r} must be an int in [1, 1024]")
    cluster = None
    if scheduler is not None:
        from symcheck.checkpoint.cluster import Cluster

        cluster = Cluster.connect(scheduler, timeout=connect_timeout)
    try:
        return _audit(
            source, config=config, threshold=threshold, jobs=jobs, limits=limits, cluster=cluster
        )
    finally:
        if cluster is not None:
            cluster.close()


def _audit(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    config: str | os.PathLike[str] | Mapping[str, Any] | None,
    threshold: float,
    jobs: int,
    limits: Limits | None,
    cluster: Cluster | None,
) -> CheckpointReport:
    with open_store(source, limits=limits) as store:
        cfg = _config(store, config)
        model_type = cfg.get("model_type") if cfg else None
        family = family_for(model_type) if cfg else None
        shapes = {n: r.shape for n, r in store.tensors.items()}
        note, unrecognised = None, ()
        claims = family is not None
        if family is not None:
            try:
                spaces, _, recognised = resolve(family, cfg, shapes)
            except InvalidArgument as exc:
                spaces, claims, note = _observation_spaces(store), False, f"no claim: {exc}"
            else:
                unknown = {n: shapes[n] for n in store.tensors if n not in recognised}
                unrecognised = tuple(sorted(unknown))
                spaces = [_coupled(s, unknown, shapes) for s in spaces]
        else:
            spaces = _observation_spaces(store)
            note = (
                "no config.json: observations only"
                if not cfg
                else f"model_type {model_type!r} is not a known family: observations only"
            )
        runnable = [s for s in spaces if s.members and s.width > 0 and not s.mismatch]
        unanalysed = tuple((s.id, s.unsound or "no members") for s in spaces if s not in runnable)
        # The residual stream reads every tensor: it comes last, reusing the slice
        # norms the other spaces computed (symcheck.checkpoint.scan.NormCache), in
        # phases fixed in advance (symcheck.checkpoint.schedule), whatever the runner.
        ordered = sorted(runnable, key=lambda s: s.kind == "stream")
        if cluster is not None:
            done = run_plan(
                ordered,
                cluster.runner(source, store, limits=limits, threshold=threshold, claims=claims),
            )
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                # The last space (the residual stream) reads every tensor again for
                # its exact distances: its members are read by the whole pool too.
                def mapper(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
                    return pool_map(pool, fn, items)

                runner = Threads(
                    store,
                    pool,
                    lambda space, s: _analyse(store, space, s, threshold, claims, mapper),
                )
                try:
                    done = runner.run_all(ordered)
                except BaseException:  # --timeout, Ctrl-C, a failure: only running tasks end
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
        by_id = {r.id: r for r in done}
        reports = [by_id[s.id] for s in runnable]
        return CheckpointReport(
            source=_label(source),
            files=len(store.files),
            tensors=len(store.tensors),
            parameters=sum(r.size for r in store.tensors.values()),
            container=store.container,
            model_type=model_type if isinstance(model_type, str) else None,
            family=family.name if family is not None else None,
            claims=claims,
            note=note,
            spaces=tuple(reports),
            unrecognised=unrecognised,
            skipped=store.skipped,
            unanalysed=unanalysed,
        )


def _coupled(
    space: Space, unknown: Mapping[str, tuple[int, ...]], shapes: Mapping[str, tuple[int, ...]]
) -> Space:
    if space.unsound is not None or not space.members:
        return space
    name = coupled(space, {n: s for n, s in unknown.items()}, shapes)
    if name is None:
        return space
    reason = f"no claim: tensor {name!r} is outside the family and could act on these units"
    return Space(space.id, space.kind, space.label, space.width, space.members, reason, False)


def _config(store: Store, config: object) -> dict[str, Any] | None:
    if isinstance(config, Mapping):
        return dict(config)
    if config is not None:
        return load_config(config)
    if store.directory is None:
        return None
    path = os.path.join(store.directory, "config.json")
    return load_config(path) if os.path.lexists(path) else None


def _label(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.path.basename(os.path.normpath(os.fspath(source)))
    return f"{len(list(source))} files"  # type: ignore[arg-type]
