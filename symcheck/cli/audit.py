"""The ``symcheck audit SOURCE...`` subcommand.

One weight file is audited by :mod:`symcheck.audit` (chains of dense layers,
observations unless the architecture is asserted). A checkpoint — a
directory, a sharded ``*.safetensors.index.json``, several files, or a file
with a Hugging Face ``config.json`` beside it or given with ``--config`` — is
audited per unit space of its architecture by :mod:`symcheck.checkpoint`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from symcheck.audit import ARCHITECTURES, FORMATS, audit_file, render_audit
from symcheck.audit.weights import Limits
from symcheck.cli.args import int_in
from symcheck.errors import InvalidArgument

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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} must be in (0, 3600] seconds, e.g. 10")
    return value


def _is_checkpoint(args: argparse.Namespace) -> bool:
    if len(args.file) > 1 or args.config is not None:
        return True
    path = args.file[0]
    if path.endswith(".index.json") or os.path.isdir(path):
        return True
    return os.path.isfile(os.path.join(os.path.dirname(path) or ".", "config.json"))


def _refuse_mixed(args: argparse.Namespace, checkpoint: bool) -> None:
    file_only = {"--layers": args.layers, "--arch": args.arch, "--tolerance": args.tolerance}
    ckpt_only = {
        "--config": args.config,
        "--threshold": args.threshold,
        "--jobs": args.jobs,
        "--scheduler": args.scheduler,
        "--connect-timeout": args.connect_timeout,
    }
    wrong = file_only if checkpoint else ckpt_only
    given = [name for name, value in wrong.items() if value is not None]
    if given:
        what = (
            "a checkpoint (directory, index, several files or a config)"
            if checkpoint
            else ("a single weight file without config.json")
        )
        raise InvalidArgument(f"{', '.join(given)} does not apply to {what}; drop {given[0]}")
    if checkpoint and args.scheduler is None and args.connect_timeout is not None:
        raise InvalidArgument("--connect-timeout applies only with --scheduler; drop it")
    if args.scheduler is not None and args.jobs is not None:
        raise InvalidArgument(
            "--jobs does not apply with --scheduler (the cluster's workers set the "
            "parallelism); drop --jobs"
        )


def _run(args: argparse.Namespace) -> int:
    limits = Limits()
    if args.max_bytes is not None:
        size = parse_size(args.max_bytes)
        limits = Limits(max_file_bytes=size, max_data_bytes=size)
    checkpoint = _is_checkpoint(args)
    _refuse_mixed(args, checkpoint)
    if checkpoint:
        from symcheck.checkpoint import (
            CONNECT_TIMEOUT,
            DEFAULT_THRESHOLD,
            audit_checkpoint,
            render,
        )

        sources = args.file[0] if len(args.file) == 1 else args.file
        threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
        timeout = CONNECT_TIMEOUT if args.connect_timeout is None else args.connect_timeout
        ckpt = audit_checkpoint(
            sources,
            config=args.config,
            threshold=threshold,
            jobs=args.jobs,
            limits=limits,
            scheduler=args.scheduler,
            connect_timeout=timeout,
        )
        sys.stdout.write(render(ckpt, args.format))
        return ckpt.exit_code
    layers = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
    tolerance = 0.0 if args.tolerance is None else args.tolerance
    report = audit_file(
        args.file[0], tolerance=tolerance, layers=layers, arch=args.arch, limits=limits
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
    parser.add_argument(
        "file",
        nargs="+",
        metavar="SOURCE",
        help="a weight file (.npz, .safetensors, .pt/.pth/.bin), or a checkpoint: a "
        "directory, a *.safetensors.index.json or several files",
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument(
        "--tolerance",
        type=_tolerance,
        default=None,
        help="one weight file: relative tolerance for comparing weights (default 0: exact)",
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help="checkpoints: the Hugging Face config.json (default: config.json beside the weights)",
    )
    parser.add_argument(
        "--threshold",
        type=_tolerance,
        default=None,
        help="checkpoints: relative distance below which units are near duplicates (0.01)",
    )
    parser.add_argument(
        "--jobs",
        type=int_in(1, 1024),
        default=None,
        help="checkpoints: worker threads (default: all cores)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="checkpoints: run the audit on this Dask scheduler (e.g. tcp://HOST:8786; needs "
        "symcheck[dask], workers reading the same files at the same paths); same report",
    )
    parser.add_argument(
        "--connect-timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="with --scheduler: give up reaching the scheduler after SECONDS (default 10)",
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
