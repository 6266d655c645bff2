"""The ``symcheck lumping NETWORK`` subcommand (see :mod:`symcheck.prove.lumping`)."""

from __future__ import annotations

import argparse
import sys

from symcheck.errors import InvalidArgument
from symcheck.model.network import Network
from symcheck.model.optimizers import SYMBOLIC_OPTIMIZERS
from symcheck.prove.lumping import MODES, prove_lumping_preserved
from symcheck.prove.proof import exit_code
from symcheck.prove.render import FORMATS, render

__all__ = ["parse_labels", "register"]


def parse_labels(text: str) -> list[list[int]]:
    """Parse ``"0,0,1;0,0"`` into one label list per hidden layer."""
    try:
        return [[int(v) for v in layer.split(",")] for layer in text.split(";")]
    except ValueError:
        raise InvalidArgument(
            f"--partition={text!r} is not a partition; give one comma-separated label list "
            "per hidden layer, layers separated by ';', e.g. '0,0,0;0,0,0'"
        ) from None


def _run(args: argparse.Namespace) -> int:
    network = Network.parse(args.network, activation=args.activation, loss=args.loss)
    labels = (
        parse_labels(args.partition)
        if args.partition
        else [[0] * network.widths[layer] for layer in network.hidden_layers]
    )
    proof = prove_lumping_preserved(
        network,
        labels,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        l1=args.l1,
        mode=args.mode,
    )
    sys.stdout.write(render(proof, args.format))
    return exit_code([proof])


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``symcheck lumping``."""
    parser = sub.add_parser(
        "lumping",
        help="prove that one optimiser step keeps an equitable partition (T3)",
        description=(
            "Prove symbolically that one optimiser step keeps the block-sum constraints of a "
            "partition of the hidden layers, or refute it with an exact witness. Exit code 0 "
            "proved, 1 refuted, 2 unknown or bad input."
        ),
    )
    parser.add_argument("network", help="widths, e.g. 1-3-3-1")
    parser.add_argument(
        "--partition",
        default=None,
        help="labels per hidden layer, e.g. '0,0,0;0,0,0' (default: one block per layer)",
    )
    parser.add_argument("--optimizer", choices=sorted(SYMBOLIC_OPTIMIZERS), default="sgd")
    parser.add_argument(
        "--weight-decay", action="store_true", help="L2 decay (coupled; decoupled for adamw)"
    )
    parser.add_argument("--l1", action="store_true", help="L1 decay")
    parser.add_argument("--mode", choices=MODES, default="lumped")
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--loss", default="mse")
    parser.add_argument("--format", choices=sorted(FORMATS), default="text")
    parser.set_defaults(func=_run)
