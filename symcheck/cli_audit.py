"""The ``symcheck audit FILE`` subcommand (see :mod:`symcheck.audit`)."""

from __future__ import annotations

import argparse
import re
import sys

from symcheck.audit import ARCHITECTURES, FORMATS, audit_file, render_audit
from symcheck.errors import InvalidArgument
from symcheck.weights import Limits

__all__ = ["parse_size", "register"]

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Parse a byte count such as ``512M``, ``32G`` or ``1000`` (binary units)."""
    match = _SIZE.match(text)
    if not match:
        raise InvalidArgument(
            f"--max-bytes={text!r} is not a size; write a number with an optional "
            "unit K, M, G or T, e.g. 64G"
        )
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def _run(args: argparse.Namespace) -> int:
    limits = Limits()
    if args.max_bytes is not None:
        size = parse_size(args.max_bytes)
        limits = Limits(max_file_bytes=size, max_data_bytes=size)
    layers = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
    report = audit_file(
        args.file, tolerance=args.tolerance, layers=layers, arch=args.arch, limits=limits
    )
    sys.stdout.write(render_audit(report, args.format))
    return report.exit_code


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``symcheck audit``."""
    parser = sub.add_parser(
        "audit",
        help="tie classes and effective width of a weight file (.npz, .safetensors, .pt)",
        description=(
            "Read a weight file safely and report identical units (same incoming row, bias "
            "and outgoing column), dead units (all-zero incoming or outgoing weights) and the "
            "nearest pair of units of every hidden layer when the 2-D weights chain in the "
            "numeric order of their names, else the identical and all-zero rows and columns "
            "of every 2-D tensor. These are observations: nothing is claimed about training "
            "unless you assert the architecture (--arch mlp or --layers); then a layer whose "
            "ties and lumped blocks are certified is reported 'collapsed'. Exit code 1 when "
            "identical units were observed (or a layer collapsed), 0 when none were, 2 for "
            "bad input."
        ),
    )
    parser.add_argument("file", help="weight file: .npz, .safetensors, .pt/.pth/.bin")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument(
        "--tolerance",
        type=_tolerance,
        default=0.0,
        help="relative tolerance for comparing weights (default 0: exact)",
    )
    parser.add_argument(
        "--layers",
        default=None,
        metavar="NAME,NAME,...",
        help="assert a plain sequential MLP made of these weight tensors, input side first",
    )
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
        default=None,
        help="assert the architecture: 'mlp' = every floating tensor is a weight or bias of "
        "one plain MLP chain (ordered by the numbers in the names); default: none asserted, "
        "observations only",
    )
    parser.add_argument(
        "--max-bytes",
        default=None,
        metavar="SIZE",
        help="largest file and decompressed data accepted (default 32G)",
    )
    parser.set_defaults(func=_run)
