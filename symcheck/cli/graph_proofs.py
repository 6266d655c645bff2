"""Subcommands ``prove-graph`` and ``ties``: the theorems and tie classes on any graph.

``prove-graph`` exits 0 when every proof is proved, 1 when one is refuted and 2
when one is unknown (or for bad input), as ``prove`` does; ``ties`` exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys

from symcheck.cli.args import seed
from symcheck.graph.points import INITS
from symcheck.graph.prove import KINDS
from symcheck.model.optimizers import SYMBOLIC_OPTIMIZERS
from symcheck.prove.proof import exit_code
from symcheck.prove.render import FORMATS, render

__all__ = ["register"]

_MODEL_HELP = "a chain spec (3-4-4-2), a zoo spec NAME:key=value,... or a JSON graph file"


def _prove(args: argparse.Namespace) -> int:
    from symcheck.graph.prove import prove_theorems

    proofs = prove_theorems(
        args.model,
        init=args.init,
        value=args.value,
        seed=args.seed,
        kind=args.kind,
        optimizer=args.optimizer,
        breaks=args.breaks,
    )
    sys.stdout.write(render(proofs, args.format))
    return exit_code(proofs)


def _ties(args: argparse.Namespace) -> int:
    from symcheck.graph.ties import tie_classes, ties_text

    ties = tie_classes(args.model, init=args.init, value=args.value, seed=args.seed)
    if args.format == "json":
        sys.stdout.write(json.dumps(ties.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(ties_text(ties))
    return 0


def _init_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help=_MODEL_HELP)
    parser.add_argument("--init", default="zero", choices=sorted(INITS))
    parser.add_argument("--value", default=None, help="the constant of --init constant: 1/10 or c")
    parser.add_argument("--seed", type=seed, default=0, help="seed of --init random (default 0)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``prove-graph`` and ``ties``."""
    p = sub.add_parser(
        "prove-graph",
        help="prove identical updates (and preservation) on any model",
        description=(
            "Prove that the units an init ties receive identical gradients (T1) and, with "
            "--optimizer, stay tied after every step (T2), on any model: structurally (op-by-op "
            "equivariance certificates plus permutations fixing the init; any size), "
            "computationally (exact SymPy gradients; small graphs), or both. Random init is "
            "refuted with a certified witness. Exit 0 proved, 1 refuted, 2 unknown or bad input."
        ),
    )
    _init_args(p)
    p.add_argument(
        "--optimizer",
        default=None,
        choices=sorted(SYMBOLIC_OPTIMIZERS),
        help="also prove that one step of this optimiser keeps the ties",
    )
    p.add_argument(
        "--kind",
        default="auto",
        choices=KINDS,
        help="evidence: auto (both when small, else structural), structural, computational, both",
    )
    p.add_argument("--breaks", action="store_true", help="also prove random init breaks ties")
    p.add_argument("--format", default="text", choices=sorted(FORMATS))
    p.set_defaults(func=_prove)

    t = sub.add_parser(
        "ties",
        help="the certified tie classes of an init in every unit space",
        description=(
            "List the tie classes of an init point in every movable unit space of a model, each "
            "certified by a permutation of that space that fixes the parameters exactly. "
            "Exit 0, or 2 on bad input."
        ),
    )
    _init_args(t)
    t.add_argument("--format", default="text", choices=("text", "json"))
    t.set_defaults(func=_ties)
