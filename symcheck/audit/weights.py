"""Safe loaders for weight files from strangers: ``.npz``, ``.safetensors``, PyTorch.

Weight files are untrusted input (`docs/audit.md`). Every loader here

* accepts only a regular file: ``lstat`` refuses symbolic links, directories,
  FIFOs, sockets and devices *before* the path is opened (so a FIFO never
  blocks), and the open itself uses ``O_NOFOLLOW | O_NONBLOCK`` and checks
  again; the file must be no larger than :attr:`Limits.max_file_bytes`;
* checks every declared size *before* reading data: the members of a zip
  archive (``.npz``, PyTorch's zip format) against the byte cap, so a zip bomb
  is refused from its directory; every shape against the element cap with
  Python integers (no overflow), and against the bytes actually present;
* refuses object dtypes (they would need pickle) and anything that is not a
  plain real or boolean array;
* never unpickles: ``.npz`` members are parsed with NumPy's header reader and
  read as raw bytes (pickle is never reachable), ``.safetensors`` headers are
  parsed here as JSON, and PyTorch files go only through
  ``torch.load(..., weights_only=True)``, only when torch is installed, with
  no fallback;
* records NaN and Inf per tensor instead of failing on them.

Every refusal is an :class:`~symcheck.errors.UnsafeFile` whose message is one
line naming the file, the problem and, when there is one, the fix.
"""

from __future__ import annotations

import importlib
import io
import itertools
import json
import math
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, BinaryIO

import numpy as np

from symcheck.errors import UnsafeFile, choices_message

__all__ = [
    "FORMATS",
    "Limits",
    "NonFinite",
    "WeightFile",
    "load_weights",
]

NDArray = np.ndarray

_GIB = 1 << 30

#: What a loader returns: the tensors by name, and the names of skipped entries.
_Loaded = tuple[dict[str, NDArray], tuple[str, ...]]


@dataclass(frozen=True)
class Limits:
    """Caps applied to every file before its data is read."""

    max_file_bytes: int = 32 * _GIB
    #: Bytes of tensor data after decompression (sum over the file).
    max_data_bytes: int = 32 * _GIB
    max_tensors: int = 100_000
    #: Elements over all tensors.
    max_elements: int = 8_000_000_000
    max_header_bytes: int = 100 * (1 << 20)


@dataclass(frozen=True)
class NonFinite:
    """A tensor holding NaN or Inf values, with their counts."""

    tensor: str
    nan: int
    inf: int


@dataclass(frozen=True)
class WeightFile:
    """The tensors of a weight file, in file order, as read-only NumPy arrays.

    bfloat16 tensors are widened to float32 exactly; big-endian arrays are
    converted to native order. ``skipped`` names entries of a PyTorch file
    that are not tensors (step counters, strings).
    """

    name: str
    format: str
    tensors: Mapping[str, NDArray]
    nonfinite: tuple[NonFinite, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def parameter_count(self) -> int:
        return sum(int(t.size) for t in self.tensors.values())


# --------------------------------------------------------------------------- opening


#: What a non-regular file is, for the refusal message (``stat`` test -> description).
_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    return next((what for test, what in _KINDS if test(mode)), "not a plain file")


def _open(path: str | os.PathLike[str], limits: Limits) -> tuple[BinaryIO, int, str]:
    name = os.fspath(path)
    try:
        info = os.lstat(name)
    except FileNotFoundError:
        raise UnsafeFile(f"{name}: no such file") from None
    except OSError as exc:
        raise UnsafeFile(f"{name}: cannot be read ({exc.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFile(
            f"{name} is a symbolic link; symcheck reads only regular files "
            "(pass the link's target explicitly if you trust it)"
        )
    if not stat.S_ISREG(info.st_mode):  # checked before open: opening a FIFO can block
        raise UnsafeFile(f"{name} is {_kind(info.st_mode)}, not a regular file; give a weight file")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; no effect on files.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(name, flags)
    except OSError as exc:
        raise UnsafeFile(f"{name}: cannot be opened ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # replaced between lstat and open
        os.close(fd)
        raise UnsafeFile(f"{name} is {_kind(info.st_mode)}, not a regular file; give a weight file")
    if info.st_size > limits.max_file_bytes:
        os.close(fd)
        raise UnsafeFile(
            f"{name} is {info.st_size} bytes, beyond the limit of {limits.max_file_bytes} "
            "(raise it with --max-bytes if you trust the file)"
        )
    return os.fdopen(fd, "rb"), info.st_size, name


def _check_dtype(name: str, tensor: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise UnsafeFile(
            f"{name}: tensor {tensor!r} has object dtype, which needs pickle; "
            "symcheck never unpickles (save plain numeric arrays)"
        )
    if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in "fiub":
        raise UnsafeFile(
            f"{name}: tensor {tensor!r} has dtype {dtype}; only real and boolean arrays are read"
        )
    if dtype.kind == "f" and dtype.itemsize not in (2, 4, 8):
        raise UnsafeFile(f"{name}: tensor {tensor!r} has dtype {dtype}; use float16/32/64")


def _elements(name: str, tensor: str, shape: object, limits: Limits) -> int:
    if not isinstance(shape, (list, tuple)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise UnsafeFile(
            f"{name}: tensor {tensor!r} has shape {shape!r}; expected non-negative ints"
        )
    count = math.prod(shape)
    if count > limits.max_elements:
        raise UnsafeFile(
            f"{name}: tensor {tensor!r} declares shape {tuple(shape)} = {count} elements, "
            f"beyond the limit of {limits.max_elements}"
        )
    return count


class _Budget:
    """Running totals of tensors, elements and bytes against the limits."""

    def __init__(self, name: str, limits: Limits) -> None:
        self.name, self.limits = name, limits
        self.tensors = self.elements = self.bytes = 0

    def add(self, tensor: str, elements: int, nbytes: int) -> None:
        self.tensors += 1
        self.elements += elements
        self.bytes += nbytes
        lim = self.limits
        if self.tensors > lim.max_tensors:
            raise UnsafeFile(f"{self.name}: more than {lim.max_tensors} tensors")
        if self.elements > lim.max_elements:
            raise UnsafeFile(
                f"{self.name}: more than {lim.max_elements} elements in total (at {tensor!r})"
            )
        if self.bytes > lim.max_data_bytes:
            raise UnsafeFile(
                f"{self.name}: more than {lim.max_data_bytes} bytes of tensor data "
                f"(at {tensor!r}; raise --max-bytes if you trust the file)"
            )


def _readinto(fp: Any, buffer: NDArray) -> int:
    view = memoryview(buffer).cast("B")
    done = 0
    while done < len(view):
        got = fp.readinto(view[done:])
        if not got:
            break
        done += got
    return done


# --------------------------------------------------------------------------- zip directories


def _check_zip_directory(archive: zipfile.ZipFile, name: str, limits: Limits) -> None:
    """Refuse a zip whose directory declares too much, before extracting anything."""
    members = archive.infolist()
    if len(members) > limits.max_tensors + 16:
        raise UnsafeFile(f"{name}: the archive lists {len(members)} members, too many")
    total = 0
    for member in members:
        if stat.S_ISLNK(member.external_attr >> 16):
            raise UnsafeFile(f"{name}: archive member {member.filename!r} is a symbolic link")
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnsafeFile(
                f"{name}: archive member {member.filename!r} uses compression "
                f"{member.compress_type}; only stored and deflated members are read"
            )
        total += member.file_size
        if total > limits.max_data_bytes:
            raise UnsafeFile(
                f"{name}: the archive declares {total} or more bytes once decompressed, "
                f"beyond the limit of {limits.max_data_bytes} (a zip bomb?)"
            )


# --------------------------------------------------------------------------- .npz

#: What zipfile and zlib raise on corrupt archives (found by properties/test_weights_fuzz.py):
#: bad headers, bad deflate streams, CRC mismatches, encryption, unknown features.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def _load_npz(fp: BinaryIO, size: int, name: str, limits: Limits) -> _Loaded:
    try:
        archive = zipfile.ZipFile(fp)
    except _ZIP_ERRORS:
        raise UnsafeFile(f"{name}: not a valid .npz (zip) archive") from None
    with archive:
        _check_zip_directory(archive, name, limits)
        budget = _Budget(name, limits)
        out: dict[str, NDArray] = {}
        for member in archive.infolist():
            if not member.filename.endswith(".npy"):
                raise UnsafeFile(f"{name}: archive member {member.filename!r} is not a .npy array")
            tensor = member.filename[: -len(".npy")]
            try:
                with archive.open(member) as stream:
                    out[tensor] = _read_npy(stream, member.file_size, name, tensor, budget)
            except UnsafeFile:
                raise
            except _ZIP_ERRORS as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise UnsafeFile(f"{name}: member {tensor!r} is corrupt ({reason})") from None
    return out, ()


def _read_npy(stream: Any, declared: int, name: str, tensor: str, budget: _Budget) -> NDArray:
    fmt = np.lib.format
    version = fmt.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(stream)
    else:
        raise UnsafeFile(f"{name}: member {tensor!r} uses .npy format {version}; expected 1.0/2.0")
    _check_dtype(name, tensor, dtype)
    count = _elements(name, tensor, shape, budget.limits)
    nbytes = count * dtype.itemsize
    header = stream.tell()
    if header + nbytes != declared:
        raise UnsafeFile(
            f"{name}: member {tensor!r} declares shape {shape} ({nbytes} bytes) but holds "
            f"{declared - header} bytes of data"
        )
    budget.add(tensor, count, nbytes)
    buffer = np.empty(nbytes, dtype=np.uint8)
    if _readinto(stream, buffer) != nbytes:
        raise UnsafeFile(f"{name}: member {tensor!r} is truncated")
    array = buffer.view(dtype)
    order = "F" if fortran else "C"
    return _native(array.reshape(shape, order=order))


def _native(array: NDArray) -> NDArray:
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


# --------------------------------------------------------------------------- .safetensors

_SAFETENSORS_DTYPES: dict[str, str] = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",  # widened to float32 below
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U64": "<u8",
    "U32": "<u4",
    "U16": "<u2",
    "U8": "u1",
    "BOOL": "?",
}


def _load_safetensors(fp: BinaryIO, size: int, name: str, limits: Limits) -> _Loaded:
    head = fp.read(8)
    if len(head) < 8:
        raise UnsafeFile(f"{name}: truncated safetensors file (no header length)")
    (length,) = struct.unpack("<Q", head)
    if length > limits.max_header_bytes:
        raise UnsafeFile(
            f"{name}: safetensors header declares {length} bytes, beyond the limit of "
            f"{limits.max_header_bytes}"
        )
    if 8 + length > size:
        raise UnsafeFile(
            f"{name}: truncated safetensors file (header of {length} bytes, file of {size})"
        )
    try:
        header = json.loads(fp.read(length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise UnsafeFile(f"{name}: the safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise UnsafeFile(f"{name}: the safetensors header is not a JSON object")
    data_bytes = size - 8 - length
    entries = _safetensors_entries(header, data_bytes, name, limits)
    data = np.empty(data_bytes, dtype=np.uint8)
    if _readinto(fp, data) != data_bytes:
        raise UnsafeFile(f"{name}: truncated safetensors file")
    out: dict[str, NDArray] = {}
    for tensor, (dtype_name, shape, begin, end) in entries.items():
        raw = data[begin:end].view(np.dtype(_SAFETENSORS_DTYPES[dtype_name]))
        if dtype_name == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        out[tensor] = raw.reshape(shape)
    return out, ()


def _safetensors_entries(
    header: dict, data_bytes: int, name: str, limits: Limits
) -> dict[str, tuple[str, tuple[int, ...], int, int]]:
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict):
        raise UnsafeFile(f"{name}: safetensors __metadata__ is not an object")
    budget = _Budget(name, limits)
    entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    for tensor, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise UnsafeFile(
                f"{name}: tensor {tensor!r} must have exactly dtype, shape and data_offsets"
            )
        dtype_name = info["dtype"]
        if dtype_name not in _SAFETENSORS_DTYPES:
            raise UnsafeFile(
                f"{name}: tensor {tensor!r}: "
                + choices_message("dtype", dtype_name, _SAFETENSORS_DTYPES)
            )
        count = _elements(name, tensor, info["shape"], limits)
        offsets = info["data_offsets"]
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_bytes
        ):
            raise UnsafeFile(
                f"{name}: tensor {tensor!r} has data_offsets {offsets!r} outside the "
                f"{data_bytes} data bytes (truncated or corrupt file)"
            )
        itemsize = np.dtype(_SAFETENSORS_DTYPES[dtype_name]).itemsize
        begin, end = offsets
        if end - begin != count * itemsize:
            raise UnsafeFile(
                f"{name}: tensor {tensor!r} declares shape {tuple(info['shape'])} "
                f"({count * itemsize} bytes) but its offsets span {end - begin} bytes"
            )
        budget.add(tensor, count, end - begin)
        entries[tensor] = (dtype_name, tuple(info["shape"]), begin, end)
    spans = sorted((b, e, t) for t, (_, _, b, e) in entries.items() if e > b)
    for (_, end, first), (begin, _, second) in itertools.pairwise(spans):
        if begin < end:
            raise UnsafeFile(f"{name}: tensors {first!r} and {second!r} overlap")
    return entries


# --------------------------------------------------------------------------- PyTorch


def _import_torch() -> Any:
    """PyTorch, or None when it is not installed (a seam for tests)."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def _load_torch(fp: BinaryIO, size: int, name: str, limits: Limits) -> _Loaded:
    torch = _import_torch()
    if torch is None:
        raise UnsafeFile(
            f"{name}: reading PyTorch files needs torch (pip install torch); or convert the "
            "file to .safetensors or .npz. symcheck never unpickles without torch's "
            "weights_only loader"
        )
    start = fp.read(4)
    fp.seek(0)
    if start == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(fp)
        except _ZIP_ERRORS:
            raise UnsafeFile(f"{name}: corrupt PyTorch zip archive") from None
        with archive:  # outside the try: UnsafeFile is a ValueError, one of _ZIP_ERRORS
            _check_zip_directory(archive, name, limits)
        fp.seek(0)
    try:
        obj = torch.load(fp, map_location="cpu", weights_only=True)
    except Exception as exc:  # untrusted bytes: every failure is a refusal
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if len(reason) > 100:  # torch's own advice is long; the verdict above must stay visible
            reason = reason[:99] + "…"
        raise UnsafeFile(
            f"{name}: PyTorch refused to load it with weights_only=True: {reason}"
        ) from None
    budget = _Budget(name, limits)
    out: dict[str, NDArray] = {}
    skipped: list[str] = []
    _flatten(obj, "", out, skipped, torch, name, budget)
    if not out:
        raise UnsafeFile(f"{name}: holds no tensors (is it a state dict?)")
    return out, tuple(skipped)


def _flatten(
    obj: object,
    prefix: str,
    out: dict[str, NDArray],
    skipped: list[str],
    torch: Any,
    name: str,
    budget: _Budget,
) -> None:
    if isinstance(obj, torch.Tensor):
        key = prefix or "tensor"
        if obj.is_complex() or obj.is_quantized or obj.layout != torch.strided:
            raise UnsafeFile(f"{name}: tensor {key!r} is {obj.dtype}/{obj.layout}; not readable")
        t = obj.detach().cpu()
        if t.dtype == torch.bfloat16 or (t.dtype.is_floating_point and t.element_size() == 1):
            t = t.float()
        budget.add(key, t.numel(), t.numel() * t.element_size())
        out[key] = t.numpy()
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, skipped, torch, name, budget)
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _flatten(v, f"{prefix}.{i}" if prefix else str(i), out, skipped, torch, name, budget)
        return
    skipped.append(prefix or "<root>")


# --------------------------------------------------------------------------- public


_Loader = Callable[[BinaryIO, int, str, Limits], _Loaded]

#: File extension -> (format name, loader).
FORMATS: Mapping[str, tuple[str, _Loader]] = MappingProxyType(
    {
        ".npz": ("npz", _load_npz),
        ".safetensors": ("safetensors", _load_safetensors),
        ".pt": ("pytorch", _load_torch),
        ".pth": ("pytorch", _load_torch),
        ".bin": ("pytorch", _load_torch),
    }
)


def _nonfinite(tensors: Mapping[str, NDArray]) -> tuple[NonFinite, ...]:
    found = []
    for tensor, array in tensors.items():
        if array.dtype.kind != "f" or array.size == 0:
            continue
        with np.errstate(all="ignore"):
            total = np.add.reduce(array.reshape(-1))
        if np.isfinite(total):
            continue
        nan = int(np.count_nonzero(np.isnan(array)))
        inf = int(np.count_nonzero(np.isinf(array)))
        if nan or inf:
            found.append(NonFinite(tensor, nan, inf))
    return tuple(found)


def load_weights(path: str | os.PathLike[str], *, limits: Limits | None = None) -> WeightFile:
    """Read a weight file safely; see the module docstring for every check made.

    The format is chosen by the extension (:data:`FORMATS`).
    """
    limits = limits or Limits()
    name = os.fspath(path)
    ext = os.path.splitext(name)[1].lower()
    if ext not in FORMATS:
        raise UnsafeFile(f"{name}: " + choices_message("extension", ext or "(none)", FORMATS))
    fmt, loader = FORMATS[ext]
    fp, size, name = _open(path, limits)
    with fp:
        try:
            tensors, skipped = loader(fp, size, name, limits)
        except (MemoryError, OverflowError, io.UnsupportedOperation) as exc:
            raise UnsafeFile(f"{name}: cannot be read ({type(exc).__name__})") from None
    for array in tensors.values():
        array.flags.writeable = False
    return WeightFile(
        name=os.path.basename(name),
        format=fmt,
        tensors=MappingProxyType(tensors),
        nonfinite=_nonfinite(tensors),
        skipped=skipped,
    )
