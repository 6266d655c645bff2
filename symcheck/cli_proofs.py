"""Subcommands ``prove``, ``derive``, ``example`` and ``check`` of the ``symcheck`` command.

``prove`` exits 0 when every proof is proved, 1 when one is refuted, 2 when
one is unknown (or for bad input); ``check`` exits 0 when the certificate
holds, 1 when it does not and 2 for a malformed file.
"""

from __future__ import annotations

import argparse
import sys

from symcheck.network import Network
from symcheck.optimizers import SYMBOLIC_OPTIMIZERS
from symcheck.proof import Proof, exit_code
from symcheck.render import FORMATS, render

__all__ = ["register"]


def _network_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", help="layer widths joined by '-', e.g. 2-2-1")
    parser.add_argument(
        "--activation", default="tanh", help="hidden activation(s), e.g. tanh or sigma"
    )
    parser.add_argument("--loss", default="mse", help="mse, cross_entropy, bce or ell")
    parser.add_argument("--no-bias", action="store_true", help="a network without biases")
    parser.add_argument("--reduction", default="mean", help="mean or sum over the batch")
    parser.add_argument("--format", default="text", choices=sorted(FORMATS))


def _network(args: argparse.Namespace) -> Network:
    return Network.parse(
        args.network,
        activation=args.activation,
        loss=args.loss,
        bias=not args.no_bias,
        reduction=args.reduction,
    )


def _emit(proofs: list[Proof], fmt: str) -> None:
    sys.stdout.write(render(proofs, fmt))


def _prove(args: argparse.Namespace) -> int:
    from symcheck.theorems import prove_identical_updates, prove_preserved, prove_symmetry_breaks

    net = _network(args)
    proofs = [prove_identical_updates(net, init=args.init, value=args.value, batch=args.batch)]
    if args.optimizer is not None:
        proofs.append(
            prove_preserved(
                net, init=args.init, value=args.value, optimizer=args.optimizer, batch=args.batch
            )
        )
    if args.breaks:
        proofs.append(prove_symmetry_breaks(net, batch=args.batch))
    _emit(proofs, args.format)
    return exit_code(proofs)


def _derive(args: argparse.Namespace) -> int:
    from symcheck.derive import derive

    _emit([derive(_network(args), init=args.init, value=args.value)], args.format)
    return 0


def _example(args: argparse.Namespace) -> int:
    from symcheck.example import classic_slide

    proof = classic_slide()
    _emit([proof], args.format)
    return exit_code([proof])


def _check(args: argparse.Namespace) -> int:
    from symcheck.certificate import load_certificate, verify_certificate

    result = verify_certificate(load_certificate(args.certificate))
    _emit([result], args.format)
    return exit_code([result])


def _init_args(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--init", default=default, help="zero, constant, tied or random")
    parser.add_argument("--value", default=None, help="the constant of --init constant: 1/10 or c")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``prove``, ``derive``, ``example`` and ``check``."""
    p = sub.add_parser("prove", help="prove that tied neurons get identical updates")
    _network_args(p)
    _init_args(p, "zero")
    p.add_argument(
        "--optimizer",
        default=None,
        help="also prove one step of this optimiser: " + ", ".join(SYMBOLIC_OPTIMIZERS),
    )
    p.add_argument("--breaks", action="store_true", help="also prove random init breaks symmetry")
    p.add_argument("--batch", type=int, default=1, help="symbolic samples (default 1)")
    p.set_defaults(func=_prove)

    d = sub.add_parser("derive", help="print the gradient formulas of a network")
    _network_args(d)
    _init_args(d, "random")
    d.set_defaults(func=_derive)

    e = sub.add_parser("example", help="reproduce and check the classic slide")
    e.add_argument("--format", default="text", choices=sorted(FORMATS))
    e.set_defaults(func=_example)

    c = sub.add_parser("check", help="re-derive a JSON certificate (exit 0 holds, 1 not)")
    c.add_argument("certificate", help="a file written by 'symcheck prove ... --format json'")
    c.add_argument("--format", default="text", choices=sorted(FORMATS))
    c.set_defaults(func=_check)
