"""Checkpoint sources, opened safely and read one tensor at a time.

A source is a weight file, a directory, a Hugging Face
``model.safetensors.index.json`` (sharded layout) or a list of files. The
result is a :class:`Store`: every tensor's name, stored dtype, shape and
where its bytes are, without reading any data.

``.safetensors`` headers are parsed here with the caps of
:class:`symcheck.audit.weights.Limits` (header size, offsets inside the file, a
dtype whitelist, overflow-free shapes in Python integers, no overlaps), and
every file is checked to be a regular file (``O_NOFOLLOW``, ``fstat``)
before anything is read; its descriptor stays open, so the file audited is
the file checked. Data is mapped with ``mmap`` one tensor at a time and
unmapped afterwards, so memory stays near the largest tensor, never the
file size. ``.pt``/``.pth``/``.bin``/``.npz`` files go through
:func:`symcheck.audit.weights.load_weights` (PyTorch only with
``weights_only=True``); a training checkpoint ``{model, optimizer, epoch}``
contributes the state dict under ``model`` (or ``state_dict``,
``model_state_dict``) only.
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import os
import stat
import struct
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from symcheck.audit.weights import Limits, load_weights
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


@dataclass
class Store:
    """Every tensor of a checkpoint by name, plus the directory holding it."""

    tensors: dict[str, TensorRef]
    files: tuple[str, ...]
    directory: str | None
    container: str = "state dict"
    skipped: tuple[str, ...] = ()
    _fds: list[int] = field(default_factory=list, repr=False)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def bits(self, name: str) -> Iterator[NDArray]:
        """The tensor's bit patterns (read-only, shaped), mapped for the block only."""
        ref = self.tensors[name]
        if ref.array is not None:
            yield ref.array
            return
        if ref.nbytes == 0:
            yield np.zeros(ref.shape, dtype=ref.dtype.bits)
            return
        page = mmap.ALLOCATIONGRANULARITY
        base = ref.start - ref.start % page
        mapped = mmap.mmap(
            ref.fd, ref.start + ref.nbytes - base, access=mmap.ACCESS_READ, offset=base
        )
        if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_SEQUENTIAL"):
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        array = np.frombuffer(
            mapped,
            dtype=np.dtype(ref.dtype.bits).newbyteorder("<"),
            count=ref.size,
            offset=ref.start - base,
        ).reshape(ref.shape)
        try:
            yield array
        finally:
            del array
            try:
                mapped.close()
            except BufferError:  # a caller still holds a view: unmapped when it is freed
                pass


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


def _shape(path: str, tensor: str, shape: object, limits: Limits) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise UnsafeFile(
            f"{path}: tensor {tensor!r} has shape {shape!r}; expected non-negative ints"
        )
    count = math.prod(shape)  # Python integers: no overflow
    if count > limits.max_elements:
        raise UnsafeFile(
            f"{path}: tensor {tensor!r} declares {count} elements, beyond the limit of "
            f"{limits.max_elements}"
        )
    return tuple(shape)


def _safetensors(path: str, limits: Limits, fds: list[int]) -> dict[str, TensorRef]:
    fd, size = _open_regular(path, limits)
    fds.append(fd)
    if size < 8:
        raise UnsafeFile(f"{path}: truncated safetensors file (no header length)")
    (length,) = struct.unpack("<Q", _read_exact(fd, 0, 8))
    if length > limits.max_header_bytes or 8 + length > size:
        raise UnsafeFile(
            f"{path}: safetensors header declares {length} bytes (file of {size}, limit "
            f"{limits.max_header_bytes})"
        )
    try:
        header = json.loads(_read_exact(fd, 8, length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise UnsafeFile(f"{path}: the safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise UnsafeFile(f"{path}: the safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    if len(header) > limits.max_tensors:
        raise UnsafeFile(f"{path}: more than {limits.max_tensors} tensors")
    data_start, data_bytes = 8 + length, size - 8 - length
    out: dict[str, TensorRef] = {}
    total = 0
    for tensor, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise UnsafeFile(
                f"{path}: tensor {tensor!r} must have exactly dtype, shape, data_offsets"
            )
        if info["dtype"] not in DTYPES:
            raise UnsafeFile(
                f"{path}: tensor {tensor!r}: " + choices_message("dtype", info["dtype"], DTYPES)
            )
        dtype = DTYPES[info["dtype"]]
        shape = _shape(path, tensor, info["shape"], limits)
        offsets = info["data_offsets"]
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_bytes
            and offsets[1] - offsets[0] == math.prod(shape) * dtype.itemsize
        ):
            raise UnsafeFile(
                f"{path}: tensor {tensor!r} has data_offsets {offsets!r} that do not match its "
                f"shape and dtype inside the {data_bytes} data bytes"
            )
        total += offsets[1] - offsets[0]
        if total > limits.max_data_bytes:
            raise UnsafeFile(f"{path}: more than {limits.max_data_bytes} bytes of tensor data")
        out[tensor] = TensorRef(
            tensor, dtype, shape, path, fd, data_start + offsets[0], offsets[1] - offsets[0]
        )
    spans = sorted((r.start, r.start + r.nbytes, r.name) for r in out.values() if r.nbytes)
    for (_, end, first), (begin, _, second) in itertools.pairwise(spans):
        if begin < end:
            raise UnsafeFile(f"{path}: tensors {first!r} and {second!r} overlap")
    return out


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
