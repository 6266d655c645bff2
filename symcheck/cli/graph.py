"""The ``symcheck symmetries MODEL`` subcommand (see :mod:`symcheck.graph.symmetry`)."""

from __future__ import annotations

import argparse
import json
import sys

from symcheck.graph.symmetry import infer_symmetries, symmetries_text
from symcheck.graph.zoo import ZOO, resolve_model

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    graph = resolve_model(args.model)
    symmetries = infer_symmetries(graph)
    if args.format == "json":
        sys.stdout.write(json.dumps(symmetries.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(
            f"{args.model}: {len(graph.nodes)} nodes, {graph.parameter_count()} parameters; "
            + symmetries_text(symmetries)
        )
    return 0


def _zoo_help() -> str:
    return "; ".join(
        f"{m.name}:{','.join(f'{k}={v}' for k, v in m.defaults.items())}" for m in ZOO.values()
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``symcheck symmetries``."""
    parser = sub.add_parser(
        "symmetries",
        help="infer the permutation symmetries (unit spaces) of a model",
        description=(
            "Infer the unit spaces of a model by union-find over its tensor axes: which "
            "neurons, channels, heads, head dims, residual-stream dims and experts can be "
            "permuted without changing the function, and which axes are fixed. MODEL is a "
            "chain spec (3-4-4-2), a zoo spec NAME:key=value,... or a JSON graph file. Zoo "
            f"defaults: {_zoo_help()}. Exit code 0, or 2 on bad input."
        ),
    )
    parser.add_argument("model", help="3-4-4-2, NAME:key=value,... or graph.json")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=_run)
