"""The ``symcheck diff A B`` subcommand: two checkpoints, the same network up to permutation?

The work is :func:`symcheck.checkpoint.diff` (docs/checkpoint.md, comparing
two checkpoints). Exit code 0 when B, permuted, equals A (exactly, or
within ``--tolerance`` when given), 1 when they differ, 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys

from symcheck.audit.weights import Limits
from symcheck.cli.args import seed
from symcheck.cli.audit import _tolerance, parse_size

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from symcheck.checkpoint.compare import diff, render

    file_limits = None
    if args.max_bytes is not None:
        size = parse_size(args.max_bytes)
        file_limits = Limits(max_file_bytes=size, max_data_bytes=size)
    report = diff(
        args.a,
        args.b,
        config=args.config,
        model=args.model,
        tolerance=args.tolerance,
        seed=args.seed,
        file_limits=file_limits,
    )
    sys.stdout.write(render(report, args.format))
    return report.exit_code


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``symcheck diff``."""
    parser = sub.add_parser(
        "diff",
        help="are two checkpoints the same network up to a permutation of units?",
        description=(
            "Align checkpoint B to checkpoint A in every unit space of the architecture "
            "(FFN neurons, heads, channels, experts, residual stream; from --model, else a "
            "config.json beside A or --config, else the hidden layers of an MLP chain) by "
            "weight matching, then compare every tensor: the relative distance |A-B|/|A| "
            "before and after alignment, and the verdict 'same-up-to-permutation' only when "
            "B, permuted, equals A bit for bit (or within --tolerance, if given). Both "
            "checkpoints must have the same tensor names, shapes and dtypes. Exit code 0 "
            "same, 1 different, 2 bad input."
        ),
    )
    parser.add_argument("a", metavar="A", help="checkpoint A: a file, directory or index")
    parser.add_argument("b", metavar="B", help="checkpoint B, aligned to A")
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help="the Hugging Face config.json (default: config.json beside A)",
    )
    parser.add_argument(
        "--model",
        default=None,
        metavar="SPEC",
        help="the model whose parameters are the tensors: a zoo spec (transformer:heads=4), "
        "a chain spec (3-4-4-2) or a graph file; its unit spaces are inferred",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--tolerance",
        type=_tolerance,
        default=None,
        help="call them the same when every tensor's aligned relative distance is at most "
        "this (default: exact equality only)",
    )
    parser.add_argument(
        "--seed", type=seed, default=0, help="order of the spaces in each sweep (default 0)"
    )
    parser.add_argument(
        "--max-bytes",
        default=None,
        metavar="SIZE",
        help="largest file and decompressed data accepted (default 32G)",
    )
    parser.set_defaults(func=_run)
