"""Crafted malicious and broken weight files: one line on stderr, exit code 2, no harm."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from symcheck.audit import weights
from symcheck.audit.weights import Limits, load_weights
from symcheck.cli import main
from symcheck.errors import UnsafeFile

Capsys = pytest.CaptureFixture[str]


class _CreatesFile:
    """Unpickling this object creates the file at ``path`` (the attack)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (open, (str(self.path), "w"))


def _npy_bytes(header: dict, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + payload


def _zip(path: Path, members: dict[str, bytes], *, compress: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compress) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["audit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_refused(capsys: pytest.CaptureFixture[str], *argv: str, says: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("symcheck: error: ")
    assert says in err


def _valid_npz(path: Path) -> Path:
    rng = np.random.default_rng(1)
    np.savez(path, **{"0.weight": rng.random((3, 2)), "2.weight": rng.random((1, 3))})
    return path


def test_npz_with_a_pickle_payload_is_refused_and_never_unpickled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(np.array([_CreatesFile(marker)], dtype=object), protocol=2)
    header = {"descr": "|O", "fortran_order": False, "shape": (1,)}
    evil = _zip(tmp_path / "evil.npz", {"w.npy": _npy_bytes(header, payload)})
    _assert_refused(capsys, str(evil), says="object dtype")
    assert not marker.exists()
    # The payload is live: unpickling it does create the file.
    pickle.loads(payload)[0].close()
    assert marker.exists()


def test_object_dtype_array_saved_by_numpy_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, w=np.array([{"a": 1}, None], dtype=object))
    _assert_refused(capsys, str(path), says="object dtype")


def test_pytorch_file_with_a_non_allowlisted_global_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"0.weight": torch.zeros(2, 2), "hook": _CreatesFile(marker)}, path)
    _assert_refused(capsys, str(path), says="weights_only=True")
    assert not marker.exists()


def test_pytorch_file_without_torch_installed_says_how_to_proceed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04 not really")
    monkeypatch.setattr(weights, "_import_torch", lambda: None)
    _assert_refused(capsys, str(path), says="needs torch")


def _safetensors(path: Path, header: dict, data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def test_truncated_safetensors_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    header = {"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}
    path = _safetensors(tmp_path / "cut.safetensors", header, b"\0" * 40)
    _assert_refused(capsys, str(path), says="truncated or corrupt")


def test_safetensors_cut_inside_its_header_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cut.safetensors"
    path.write_bytes(struct.pack("<Q", 500) + b'{"w": {')
    _assert_refused(capsys, str(path), says="truncated safetensors")


def test_safetensors_with_a_huge_declared_header_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 62) + b"{}")
    _assert_refused(capsys, str(path), says="beyond the limit")


def test_overflowing_shape_in_safetensors_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = {"w": {"dtype": "F64", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 8]}}
    path = _safetensors(tmp_path / "overflow.safetensors", header, b"\0" * 8)
    _assert_refused(capsys, str(path), says="elements, beyond the limit")


def test_overflowing_shape_in_npz_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    header = {"descr": "<f8", "fortran_order": False, "shape": (1 << 62, 1 << 62)}
    path = _zip(tmp_path / "overflow.npz", {"w.npy": _npy_bytes(header, b"\0" * 8)})
    _assert_refused(capsys, str(path), says="elements, beyond the limit")


def test_npz_whose_shape_disagrees_with_its_bytes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = {"descr": "<f8", "fortran_order": False, "shape": (100,)}
    path = _zip(tmp_path / "short.npz", {"w.npy": _npy_bytes(header, b"\0" * 16)})
    _assert_refused(capsys, str(path), says="holds 16 bytes")


def test_zip_bomb_is_refused_from_its_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = {"descr": "<f8", "fortran_order": False, "shape": (8 << 20,)}
    bomb = _npy_bytes(header, bytes(64 << 20))
    path = _zip(tmp_path / "bomb.npz", {"w.npy": bomb}, compress=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < (1 << 20)  # 64 MiB squeezed below 1 MiB
    _assert_refused(capsys, str(path), "--max-bytes", "16M", says="zip bomb")


def test_zip_bomb_check_reads_nothing_before_refusing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = {"descr": "<f8", "fortran_order": False, "shape": (1 << 20,)}
    path = _zip(tmp_path / "bomb.npz", {"w.npy": _npy_bytes(header, bytes(8 << 20))}, compress=8)

    def _no_extraction(*args: object, **kwargs: object) -> None:
        raise AssertionError("a member was opened before the directory check")

    monkeypatch.setattr(zipfile.ZipFile, "open", _no_extraction)
    with pytest.raises(UnsafeFile, match="zip bomb"):
        load_weights(path, limits=Limits(max_data_bytes=1 << 20))


def test_symlink_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    target = _valid_npz(tmp_path / "real.npz")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    _assert_refused(capsys, str(link), says="symbolic link")
    assert _run(capsys, str(target))[0] == 0  # the target itself is fine


def test_directory_and_fifo_are_refused(tmp_path: Path, capsys: Capsys) -> None:
    folder = tmp_path / "dir.npz"
    folder.mkdir()
    _assert_refused(capsys, str(folder), says="holds no .safetensors")  # read as a checkpoint
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    _assert_refused(capsys, str(fifo), says="not a regular file")


def test_nan_and_inf_are_flagged_not_fatal(tmp_path: Path, capsys: Capsys) -> None:
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((3, 2))
    w1[0, 0], w1[1, 1] = np.nan, np.inf
    path = tmp_path / "nan.npz"
    np.savez(path, **{"0.weight": w1, "2.weight": rng.standard_normal((1, 3))})
    code, out, err = _run(capsys, str(path))
    assert (code, err) == (0, "")
    assert "holds 1 NaN and 1 Inf" in out
    code, out, _ = _run(capsys, str(path), "--format", "json")
    assert json.loads(out)["nonfinite"] == [{"tensor": "0.weight", "nan": 1, "inf": 1}]


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("model.h5", b"\x89HDF", "extension='.h5' is not supported"),
        ("garbage.npz", b"not a zip at all", "not a valid .npz"),
        ("garbage.safetensors", struct.pack("<Q", 3) + b"{x}", "not valid JSON"),
        ("list.safetensors", struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        ("missing.npz", None, "no such file"),
    ],
)
def test_broken_files_are_refused_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes | None, says: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    _assert_refused(capsys, str(path), says=says)


def test_a_refusal_through_the_real_command_has_no_traceback(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(np.array([_CreatesFile(marker)], dtype=object), protocol=2)
    header = {"descr": "|O", "fortran_order": False, "shape": (1,)}
    evil = _zip(tmp_path / "evil.npz", {"w.npy": _npy_bytes(header, payload)})
    done = subprocess.run(
        [sys.executable, "-m", "symcheck", "audit", str(evil)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not marker.exists()
