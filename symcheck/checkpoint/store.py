"""Checkpoint sources, opened safely and read one tensor at a time.

A source is a weight file, a directory, a Hugging Face
``model.safetensors.index.json`` (sharded layout) or a list of files. The
result is a :class:`Store`: every tensor's name, stored dtype, shape and
where its bytes are, without reading any data.

``.safetensors`` headers are parsed by
:func:`symcheck.audit.weights.safetensors_header`, the parser
:func:`symcheck.audit.weights.load_weights` uses, with the caps of
:class:`symcheck.audit.weights.Limits` (header size, offsets inside the file, a
dtype whitelist, overflow-free shapes in Python integers, no overlaps), and
every file is checked to be a regular file (``O_NOFOLLOW``, ``fstat``)
before anything is read; its descriptor stays open, so the file audited is
the file checked. Data is mapped with ``mmap`` one tensor at a time and
unmapped once :data:`MAP_CACHE_BYTES` of idle mappings are kept, so memory
stays near the largest tensors in use plus that constant, never the file
size. ``.pt``/``.pth``/``.bin``/``.npz`` files go through
:func:`symcheck.audit.weights.load_weights` (PyTorch only with
``weights_only=True``); a training checkpoint ``{model, optimizer, epoch}``
contributes the state dict under ``model`` (or ``state_dict``,
``model_state_dict``) only.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from symcheck.audit.weights import Limits, load_weights, safetensors_header
from symcheck.checkpoint.dtypes import DTYPES, NUMPY_NAMES, StoredDtype
from symcheck.errors import UnsafeFile, choices_message

__all__ = ["INDEX_SUFFIX", "Store", "TensorRef", "open_store"]

NDArray = np.ndarray

INDEX_SUFFIX = ".safetensors.index.json"
_LOADED = (".pt", ".pth", ".bin", ".npz")
#: Top-level keys of a training checkpoint that hold the model's state dict.
_MODEL_KEYS = ("model", "state_dict", "model_state_dict")


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor lives: a byte range of an open file, or an in-memory array."""

    name: str
    dtype: StoredDtype
    shape: tuple[int, ...]
    file: str
    fd: int = -1
    start: int = 0
    nbytes: int = 0
    array: NDArray | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


#: Bytes of tensor mappings kept after use (least recently used first out): a
#: tensor read again soon (every head space of a layer reads its attention
#: projections) is then not faulted in again. Mapped pages count in the RSS.
MAP_CACHE_BYTES = 128 << 20


class _Mapping:
    """One tensor's ``mmap`` and how many readers hold it."""

    __slots__ = ("array", "mapped", "readers")

    def __init__(self, mapped: mmap.mmap, array: NDArray) -> None:
        self.mapped, self.array, self.readers = mapped, array, 0

    def close(self) -> None:
        self.array = None
        try:
            self.mapped.close()
        except BufferError:  # a caller still holds a view: unmapped when it is freed
            pass


@dataclass
class Store:
    """Every tensor of a checkpoint by name, plus the directory holding it.

    Tensor data is mapped on demand (:meth:`bits`); mappings no reader holds
    stay until :data:`MAP_CACHE_BYTES` (``cache_bytes``) of them are kept,
    so memory stays near the largest tensors in use plus that constant.
    Thread-safe.
    """

    tensors: dict[str, TensorRef]
    files: tuple[str, ...]
    directory: str | None
    container: str = "state dict"
    skipped: tuple[str, ...] = ()
    cache_bytes: int = MAP_CACHE_BYTES
    _fds: list[int] = field(default_factory=list, repr=False)
    _maps: OrderedDict[str, _Mapping] = field(default_factory=OrderedDict, repr=False)
    _mapped_bytes: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def close(self) -> None:
        with self._lock:
            for entry in self._maps.values():
                entry.close()
            self._maps.clear()
            self._mapped_bytes = 0
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def bits(self, name: str) -> Iterator[NDArray]:
        """The tensor's bit patterns (read-only, shaped), mapped at least for the block."""
        ref = self.tensors[name]
        if ref.array is not None:
            yield ref.array
            return
        if ref.nbytes == 0:
            yield np.zeros(ref.shape, dtype=ref.dtype.bits)
            return
        with self._lock:
            entry = self._maps.get(name)
            if entry is None:
                entry = self._maps[name] = _map(ref)
                self._mapped_bytes += ref.nbytes
            else:
                self._maps.move_to_end(name)
            entry.readers += 1
        try:
            yield entry.array
        finally:
            with self._lock:
                entry.readers -= 1
                self._evict()

    def _evict(self) -> None:
        """Unmap idle tensors, least recently used first, down to ``cache_bytes``."""
        for name in list(self._maps):
            if self._mapped_bytes <= self.cache_bytes:
                return
            entry = self._maps[name]
            if not entry.readers:
                del self._maps[name]
                self._mapped_bytes -= self.tensors[name].nbytes
                entry.close()


def _map(ref: TensorRef) -> _Mapping:
    """Map the pages holding ``ref``'s bytes; the array views exactly those bytes."""
    page = mmap.ALLOCATIONGRANULARITY
    base = ref.start - ref.start % page
    mapped = mmap.mmap(ref.fd, ref.start + ref.nbytes - base, access=mmap.ACCESS_READ, offset=base)
    if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_SEQUENTIAL"):
        mapped.madvise(mmap.MADV_SEQUENTIAL)
    array = np.frombuffer(
        mapped,
        dtype=np.dtype(ref.dtype.bits).newbyteorder("<"),
        count=ref.size,
        offset=ref.start - base,
    ).reshape(ref.shape)
    array.flags.writeable = False
    return _Mapping(mapped, array)


# --------------------------------------------------------------------------- opening files


def _open_regular(path: str, limits: Limits) -> tuple[int, int]:
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise UnsafeFile(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFile(f"{path} is a symbolic link; symcheck reads only regular files")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile(f"{path} is not a regular file; give a weight file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UnsafeFile(f"{path}: cannot be opened ({exc.strerror})") from None
    size = os.fstat(fd).st_size
    if not stat.S_ISREG(os.fstat(fd).st_mode) or size > limits.max_file_bytes:
        os.close(fd)
        raise UnsafeFile(f"{path} is not a regular file of at most {limits.max_file_bytes} bytes")
    return fd, size


def _read_exact(fd: int, offset: int, count: int) -> bytes:
    data = os.pread(fd, count, offset)
    if len(data) != count:
        raise UnsafeFile("truncated file")
    return data


#: Bytes per element of every dtype a checkpoint tensor may have.
_ITEMSIZES = {code: dtype.itemsize for code, dtype in DTYPES.items()}


def _safetensors(path: str, limits: Limits, fds: list[int]) -> dict[str, TensorRef]:
    fd, size = _open_regular(path, limits)
    fds.append(fd)
    start, entries = safetensors_header(
        lambda offset, count: _read_exact(fd, offset, count), size, path, limits, _ITEMSIZES
    )
    return {
        tensor: TensorRef(tensor, DTYPES[code], shape, path, fd, start + begin, end - begin)
        for tensor, (code, shape, begin, end) in entries.items()
    }


def _loaded(path: str, limits: Limits) -> tuple[dict[str, TensorRef], str, tuple[str, ...]]:
    weights = load_weights(path, limits=limits)
    tensors = dict(weights.tensors)
    container = "state dict"
    heads = {name.split(".", 1)[0] for name in tensors}
    model = next((k for k in _MODEL_KEYS if k in heads), None)
    skipped = list(weights.skipped)
    if (model is not None and len(heads) > 1) or (model is not None and weights.skipped):
        prefix = model + "."
        skipped += sorted(n for n in tensors if not n.startswith(prefix))
        tensors = {n[len(prefix) :]: a for n, a in tensors.items() if n.startswith(prefix)}
        container = f"training checkpoint (state dict under {model!r})"
    out = {}
    for name, array in tensors.items():
        code = NUMPY_NAMES.get(array.dtype.name)
        if code is None:
            raise UnsafeFile(f"{path}: tensor {name!r} has dtype {array.dtype}; not audited")
        dtype = DTYPES[code]
        bits = np.ascontiguousarray(array).view(dtype.bits)
        out[name] = TensorRef(name, dtype, tuple(array.shape), path, array=bits)
    return out, container, tuple(skipped)


# --------------------------------------------------------------------------- sources


def _pairs_no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise UnsafeFile(f"index lists {key!r} twice")
        out[key] = value
    return out


def _index(path: str, limits: Limits) -> tuple[list[str], dict[str, str]]:
    """Shard paths and the tensor -> shard map of a ``*.safetensors.index.json``."""
    fd, size = _open_regular(path, limits)
    try:
        if size > limits.max_header_bytes:
            raise UnsafeFile(f"{path}: index of {size} bytes, beyond {limits.max_header_bytes}")
        raw = _read_exact(fd, 0, size)
    finally:
        os.close(fd)
    try:
        index = json.loads(raw.decode("utf-8"), object_pairs_hook=_pairs_no_duplicates)
    except UnsafeFile as exc:
        raise UnsafeFile(f"{path}: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise UnsafeFile(f"{path}: not a valid JSON index") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise UnsafeFile(f"{path}: the index has no 'weight_map' object of tensor -> shard")
    folder = os.path.dirname(os.path.abspath(path))
    shards: list[str] = []
    for tensor, shard in weight_map.items():
        if (
            not isinstance(shard, str)
            or not shard.endswith(".safetensors")
            or os.path.basename(shard) != shard
            or shard in (".", "..")
            or "\\" in shard
            or "\x00" in shard
        ):
            raise UnsafeFile(
                f"{path}: tensor {tensor!r} names shard {str(shard)[:80]!r}; shards must be "
                ".safetensors files in the index's own directory"
            )
        full = os.path.join(folder, shard)
        if full not in shards:
            shards.append(full)
    return shards, {t: os.path.join(folder, s) for t, s in weight_map.items()}


def _files_of(source: str) -> tuple[list[str], dict[str, str] | None, str | None]:
    if os.path.isdir(source) and not os.path.islink(source):
        names = sorted(os.listdir(source))
        index = [n for n in names if n.endswith(INDEX_SUFFIX)]
        if len(index) == 1:
            return [], None, os.path.join(source, index[0])
        if len(index) > 1:
            raise UnsafeFile(f"{source}: holds several index files {index}; pass one of them")
        found = [n for n in names if n.endswith(".safetensors")]
        if not found:
            found = [n for n in names if n.endswith(_LOADED)]
        if not found:
            raise UnsafeFile(f"{source}: holds no .safetensors, .pt, .pth, .bin or .npz file")
        return [os.path.join(source, n) for n in found], None, None
    if source.endswith(INDEX_SUFFIX) or source.endswith("index.json"):
        return [], None, source
    return [source], None, None


def open_store(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    limits: Limits | None = None,
) -> Store:
    """Open a checkpoint (file, directory, index or list of files) without reading data."""
    limits = limits or Limits()
    if isinstance(source, (str, os.PathLike)):
        files, weight_map, index = _files_of(os.fspath(source))
    else:
        files, weight_map, index = [os.fspath(s) for s in source], None, None
        if not files:
            raise UnsafeFile("no checkpoint files given")
    if index is not None:
        files, weight_map = _index(index, limits)
    store = Store({}, tuple(files), os.path.dirname(os.path.abspath(index or files[0])))
    try:
        _fill(store, files, weight_map, limits)
    except BaseException:
        store.close()
        raise
    return store


def _fill(
    store: Store, files: list[str], weight_map: Mapping[str, str] | None, limits: Limits
) -> None:
    skipped: list[str] = []
    for path in files:
        ext = os.path.splitext(path)[1].lower()
        if ext == ".safetensors":
            found = _safetensors(path, limits, store._fds)
        elif ext in _LOADED:
            found, store.container, more = _loaded(path, limits)
            skipped += more
        else:
            raise UnsafeFile(
                f"{path}: "
                + choices_message("extension", ext or "(none)", [".safetensors", *_LOADED])
            )
        for name, ref in found.items():
            if name in store.tensors:
                raise UnsafeFile(f"{path}: tensor {name!r} is also in {store.tensors[name].file}")
            if weight_map is not None and weight_map.get(name) != path:
                raise UnsafeFile(
                    f"{path}: holds tensor {name!r}, which the index does not assign to it"
                )
            store.tensors[name] = ref
        if len(store.tensors) > limits.max_tensors:
            raise UnsafeFile(f"{path}: more than {limits.max_tensors} tensors in total")
    if weight_map is not None:
        missing = [t for t in weight_map if t not in store.tensors]
        if missing:
            raise UnsafeFile(
                f"the index lists {len(missing)} tensor(s) absent from their shard, "
                f"first {missing[0]!r} in {os.path.basename(weight_map[missing[0]])}"
            )
    store.skipped = tuple(skipped)
