"""Subcommands ``prove``, ``derive``, ``example`` and ``check`` of the ``symcheck`` command.

``prove`` exits 0 when every proof is proved, 1 when one is refuted, 2 when
one is unknown (or for bad input); ``check`` exits 0 when the certificate
holds, 1 when it does not and 2 for a malformed file.
"""

from __future__ import annotations

import argparse
import re
import sys

from symcheck.cli.args import seed
from symcheck.errors import InvalidArgument
from symcheck.graph.prove import KINDS
from symcheck.model.network import Network
from symcheck.model.optimizers import SYMBOLIC_OPTIMIZERS
from symcheck.prove.proof import Proof, exit_code
from symcheck.prove.render import FORMATS, render

__all__ = ["register"]


#: The options that describe a chain spec, with their defaults. A zoo model or a
#: graph file carries these choices in its own spec, so they are refused there.
_CHAIN_OPTIONS = {"activation": "tanh", "loss": "mse", "reduction": "mean", "batch": 1}
_CHAIN_SPEC = re.compile(r"\s*\d+(\s*-\s*\d+)*\s*")


def _network_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "network",
        help="layer widths joined by '-', e.g. 2-2-1, a zoo spec NAME:key=value,... or a "
        "JSON graph file",
    )
    parser.add_argument("--activation", help="hidden activation(s), e.g. tanh or sigma (tanh)")
    parser.add_argument("--loss", help="mse, cross_entropy, bce or ell (mse)")
    parser.add_argument("--no-bias", action="store_true", help="a network without biases")
    parser.add_argument("--reduction", help="mean or sum over the batch (mean)")
    parser.add_argument("--format", default="text", choices=sorted(FORMATS))


def _chain_option(args: argparse.Namespace, name: str) -> object:
    value = getattr(args, name, None)
    return _CHAIN_OPTIONS[name] if value is None else value


def _network(args: argparse.Namespace) -> Network:
    return Network.parse(
        args.network,
        activation=_chain_option(args, "activation"),
        loss=_chain_option(args, "loss"),
        bias=not args.no_bias,
        reduction=_chain_option(args, "reduction"),
    )


def _is_chain(spec: str) -> bool:
    return _CHAIN_SPEC.fullmatch(spec) is not None


def _refuse_chain_options(args: argparse.Namespace) -> None:
    """A zoo model or graph file carries the chain options in its own spec: refuse them."""
    given = [
        f"--{n.replace('_', '-')}" for n in _CHAIN_OPTIONS if getattr(args, n, None) is not None
    ]
    if args.no_bias:
        given.append("--no-bias")
    if given:
        raise InvalidArgument(
            f"{', '.join(given)} describe a chain spec such as 2-2-1; a zoo model or graph file "
            f"carries them in its own spec (e.g. mlp:activation=relu); drop {given[0]}"
        )


def _prove_graph(args: argparse.Namespace) -> int:
    """``prove`` on a zoo model or a graph file: the theorems of symcheck.graph.prove."""
    from symcheck.graph.prove import prove_theorems

    _refuse_chain_options(args)
    proofs = prove_theorems(
        args.network,
        init=args.init,
        value=args.value,
        seed=0 if args.seed is None else args.seed,
        kind="auto" if args.kind is None else args.kind,
        optimizer=args.optimizer,
        breaks=args.breaks,
    )
    _emit(proofs, args.format)
    return exit_code(proofs)


def _emit(proofs: list[Proof], fmt: str) -> None:
    sys.stdout.write(render(proofs, fmt))


def _prove(args: argparse.Namespace) -> int:
    from symcheck.prove.theorems import (
        prove_identical_updates,
        prove_preserved,
        prove_symmetry_breaks,
    )

    if not _is_chain(args.network):
        return _prove_graph(args)
    _refuse_seed(args)
    if args.kind is not None:
        raise InvalidArgument(
            f"--kind={args.kind!r} applies to zoo models and graph files; a chain spec is "
            "always proved computationally; drop --kind"
        )
    batch = _chain_option(args, "batch")
    net = _network(args)
    proofs = [prove_identical_updates(net, init=args.init, value=args.value, batch=batch)]
    if args.optimizer is not None:
        proofs.append(
            prove_preserved(
                net, init=args.init, value=args.value, optimizer=args.optimizer, batch=batch
            )
        )
    if args.breaks:
        proofs.append(prove_symmetry_breaks(net, batch=batch))
    _emit(proofs, args.format)
    return exit_code(proofs)


def _refuse_seed(args: argparse.Namespace) -> None:
    """A chain spec's random point is symbolic and its witnesses are fixed: no seed to set."""
    if args.seed is not None:
        raise InvalidArgument(
            f"--seed={args.seed} applies to zoo models and graph files (their --init random); "
            "a chain spec's random point is symbolic; drop --seed"
        )


def _derive(args: argparse.Namespace) -> int:
    from symcheck.prove.derive import derive

    if not _is_chain(args.network):
        from symcheck.graph.derive import derive_graph

        _refuse_chain_options(args)
        seed = 0 if args.seed is None else args.seed
        _emit(
            [derive_graph(args.network, init=args.init, value=args.value, seed=seed)], args.format
        )
        return 0
    _refuse_seed(args)
    _emit([derive(_network(args), init=args.init, value=args.value)], args.format)
    return 0


def _example(args: argparse.Namespace) -> int:
    from symcheck.model.example import classic_slide

    proof = classic_slide()
    _emit([proof], args.format)
    return exit_code([proof])


def _check(args: argparse.Namespace) -> int:
    from symcheck.prove.certificate import load_certificate, verify_certificate

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
    p.add_argument("--batch", type=int, help="symbolic samples of a chain spec (default 1)")
    p.add_argument(
        "--kind",
        choices=KINDS,
        help="zoo models and graph files: structural, computational, both or auto (default)",
    )
    p.add_argument(
        "--seed",
        type=seed,
        default=None,
        help="zoo models and graph files: seed of --init random (default 0)",
    )
    p.set_defaults(func=_prove)

    d = sub.add_parser("derive", help="print the gradient formulas of a network or graph")
    _network_args(d)
    _init_args(d, "random")
    d.add_argument(
        "--seed", type=seed, default=None, help="zoo models and graph files: seed of --init random"
    )
    d.set_defaults(func=_derive)

    e = sub.add_parser("example", help="reproduce and check the classic slide")
    e.add_argument("--format", default="text", choices=sorted(FORMATS))
    e.set_defaults(func=_example)

    c = sub.add_parser("check", help="re-derive a JSON certificate (exit 0 holds, 1 not)")
    c.add_argument("certificate", help="a file written by 'symcheck prove ... --format json'")
    c.add_argument("--format", default="text", choices=sorted(FORMATS))
    c.set_defaults(func=_check)
