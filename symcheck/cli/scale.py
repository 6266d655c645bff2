"""``symcheck scale`` and ``symcheck derive-init``: diagnose and derive initialisation scales.

``symcheck scale ARCH --activation A --init NAME [--std S]`` initialises the
network with a :mod:`symcheck.model.init` scheme (``--std`` is passed to it as its
``std`` option), measures it on ``--samples`` standard-normal inputs and prints
the per-layer report beside mean-field theory, the verdict and the fix.
``--check`` makes the exit code 1 unless the verdict is ``healthy``.

``symcheck derive-init --activation relu`` prints the derivation of the
critical weight variance; ``--glorot`` the Glorot conditions; ``--preset NAME
--width N`` the :math:`\\chi_1` of a classic preset.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from symcheck.cli.args import finite_float, int_in, seed
from symcheck.errors import InvalidArgument
from symcheck.files import check_output_path
from symcheck.limits import LIMITS
from symcheck.measure.diagnose import EPSILON, Diagnosis, diagnose_fix, diagnose_init
from symcheck.measure.scale_plot import DEFAULT_SCALES, save_scale_figure
from symcheck.model.network import Network
from symcheck.prove.proof import exit_code
from symcheck.prove.render import FORMATS, render
from symcheck.prove.scale_derive import (
    PRESETS,
    catalogue,
    derive_critical_init,
    derive_glorot,
    derive_preset,
)

__all__ = ["catalogue_markdown", "format_diagnosis", "register"]

_COLUMNS = (
    ("layer", lambda r: str(r.layer)),
    ("width", lambda r: str(r.width)),
    ("activation", lambda r: r.activation),
    ("sigma_w^2", lambda r: f"{r.sigma_w2:.4g}"),
    ("q meas", lambda r: f"{r.q:.4g}"),
    ("q mf", lambda r: f"{r.q_pred:.4g}"),
    ("sat meas", lambda r: _maybe(r.saturation, "{:.3f}")),
    ("sat mf", lambda r: _maybe(r.saturation_pred, "{:.3f}")),
    ("grad meas", lambda r: f"{r.grad_norm:.4g}"),
    ("grad mf", lambda r: f"{r.grad_norm_pred:.4g}"),
    ("gain meas", lambda r: _maybe(r.gain, "{:.4g}")),
    ("chi mf", lambda r: _maybe(r.gain_pred, "{:.4g}")),
    ("chi crit", lambda r: _maybe(r.gain_critical, "{:.4g}")),
)


def _maybe(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _rows(d: Diagnosis) -> list[list[str]]:
    return [[cell(r) for _, cell in _COLUMNS] for r in d.layers]


def _summary(d: Diagnosis) -> list[str]:
    lines = [f"verdict: {d.verdict} ({d.reason})"]
    if d.fix:
        checked = f" -> {d.fix_verdict} when diagnosed the same way" if d.fix_verdict else ""
        lines.append(f"fix: {d.fix}{checked}")
    return lines


def _legend(d: Diagnosis) -> str:
    return (
        f"{d.samples} samples x ~ N(0, I); q = mean z^2; sat = fraction of hidden units with "
        f"|phi'(z)| < {d.epsilon:.4g}; grad = RMS per-sample ||dl/dW^l||_F; gain = "
        "E||delta^l||^2 / E||delta^(l+1)||^2; mf = mean-field prediction; chi crit = mean-field "
        "gain under the critical initialiser"
    )


def _text(d: Diagnosis) -> str:
    header = [name for name, _ in _COLUMNS]
    rows = [header, *_rows(d)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(
        [f"scale diagnosis of {d.network}, init {d.init}", *table, _legend(d), *_summary(d)]
    )


def _md(d: Diagnosis) -> str:
    header = [name for name, _ in _COLUMNS]
    table = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(row) + " |" for row in _rows(d)],
    ]
    summary = [f"**{line.split(':', 1)[0]}:**{line.split(':', 1)[1]}" for line in _summary(d)]
    return "\n".join(
        [
            f"### Scale diagnosis of `{d.network}`, init `{d.init}`",
            "",
            *table,
            "",
            f"*{_legend(d)}.*",
            "",
            *[s + "  " for s in summary],
        ]
    )


def _json(d: Diagnosis) -> str:
    return json.dumps(d.to_dict(), indent=2, allow_nan=True)


_DIAGNOSIS_FORMATS: dict[str, Callable[[Diagnosis], str]] = {
    "json": _json,
    "md": _md,
    "text": _text,
}


def format_diagnosis(d: Diagnosis, fmt: str = "text") -> str:
    """The report of a diagnosis as ``text``, ``md`` or ``json``."""
    if fmt not in _DIAGNOSIS_FORMATS:
        raise InvalidArgument(
            f"format={fmt!r} is not supported; use one of {sorted(_DIAGNOSIS_FORMATS)!r}"
        )
    return _DIAGNOSIS_FORMATS[fmt](d)


def _run_scale(args: argparse.Namespace) -> int:
    net = Network.parse(args.arch, activation=args.activation, loss=args.loss)
    if args.plot is not None:
        check_output_path(args.plot, what="--plot")
    options = {} if args.std is None else {"std": args.std}
    settings: dict[str, Any] = {
        "samples": args.samples,
        "bias": args.bias,
        "options": options,
        "epsilon": args.epsilon,
    }
    found = diagnose_init(net, args.init, rng=np.random.default_rng(args.seed), **settings)
    print(format_diagnosis(found, args.format))
    if args.plot:
        sweep = [
            diagnose_init(
                net,
                args.init,
                rng=np.random.default_rng(args.seed),
                scale=c,
                check_fix=False,
                **settings,
            )
            for c in DEFAULT_SCALES
        ]
        if found.fix:
            sweep.append(
                diagnose_fix(
                    net,
                    rng=np.random.default_rng(args.seed),
                    samples=args.samples,
                    epsilon=args.epsilon,
                )
            )
        path = save_scale_figure(sweep, args.plot)
        print(f"wrote {path}", file=sys.stderr)
    return 1 if args.check and found.verdict != "healthy" else 0


_CATALOGUE_HEADER = (
    "# Derivations of the initialisation scales\n\n"
    "Generated by `symcheck derive-init --catalogue --format md --write "
    "proofs/scale_derivations.md`; `proofs/test_scale_derivations.py` fails when this "
    "file is stale.\n\n"
)


def catalogue_markdown() -> str:
    """The Markdown document of every derivation (``proofs/scale_derivations.md``)."""
    return _CATALOGUE_HEADER + render(catalogue(), "md")


def _run_catalogue(args: argparse.Namespace) -> int:
    if args.write is not None:
        check_output_path(args.write, what="--write")
    text = catalogue_markdown() if args.format == "md" else render(catalogue(), args.format)
    if args.write:
        try:
            with open(args.write, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise InvalidArgument(f"--write {args.write!r}: {exc.strerror}") from None
        print(f"wrote {args.write}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _run_derive(args: argparse.Namespace) -> int:
    if args.catalogue:
        return _run_catalogue(args)
    if args.write is not None:
        raise InvalidArgument("--write goes with --catalogue")
    if args.glorot:
        if (args.fan_in is None) != (args.fan_out is None):
            raise InvalidArgument("--glorot takes both --fan-in and --fan-out, or neither")
        proof = derive_glorot(args.fan_in, args.fan_out)
    elif args.preset:
        if args.width is None:
            raise InvalidArgument("--preset needs --width N, the layer width, e.g. --width 256")
        proof = derive_preset(args.preset, activation=args.activation, width=args.width)
    else:
        proof = derive_critical_init(args.activation)
    text = render(proof, args.format)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return exit_code([proof])


def register(sub: Any) -> None:
    """Add ``scale`` and ``derive-init`` to the ``symcheck`` command."""
    p = sub.add_parser(
        "scale",
        help="diagnose vanishing, exploding or saturating signals at initialisation",
        description=(
            "Initialise ARCH with a symcheck.model.init scheme (--std is passed as its std "
            "option), measure it on --samples standard-normal inputs, and print per layer the "
            "pre-activation second moment, saturation fraction, gradient norms and backward "
            "gain beside mean-field theory, then the verdict (vanishing, exploding, "
            "saturating, healthy) and the initialiser that fixes it. --check exits 1 unless "
            "healthy."
        ),
    )
    p.add_argument("arch", metavar="ARCH", help="layer widths, e.g. 784-256-256-10")
    p.add_argument("--activation", default="tanh", help="hidden activation (default tanh)")
    p.add_argument("--loss", default="mse", help="loss (default mse)")
    p.add_argument(
        "--init", required=True, help="initialiser of symcheck.model.init, e.g. he_normal"
    )
    p.add_argument(
        "--std", type=finite_float(), help="the std option of the initialiser (normal, ...)"
    )
    p.add_argument("--bias", type=finite_float(), default=0.0, help="constant bias (default 0)")
    p.add_argument(
        "--samples",
        type=int_in(1, LIMITS.samples),
        default=256,
        help="number of inputs (default 256)",
    )
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument(
        "--epsilon",
        type=finite_float(positive=True),
        default=EPSILON,
        help=f"saturation threshold on |phi'(z)| (default {EPSILON:.4g})",
    )
    p.add_argument("--format", choices=sorted(_DIAGNOSIS_FORMATS), default="text")
    p.add_argument("--plot", metavar="OUT.png", help="gradient norm per layer for several scales")
    p.add_argument("--check", action="store_true", help="exit 1 unless the verdict is healthy")
    p.set_defaults(func=_run_scale)

    d = sub.add_parser(
        "derive-init",
        help="derive He, LeCun, Glorot and the classic presets' chi_1",
        description=(
            "Derive the critical weight variance of --activation (He, leaky He, LeCun), the "
            "Glorot conditions (--glorot), or chi_1 of a classic preset at a width (--preset "
            "NAME --width N); --catalogue renders all of them. Exit 0 proved, 1 refuted, "
            "2 unknown."
        ),
    )
    d.add_argument("--activation", default="relu", help="activation (default relu)")
    d.add_argument("--glorot", action="store_true", help="derive the Glorot conditions")
    d.add_argument("--fan-in", type=int, help="with --glorot: a concrete fan-in")
    d.add_argument("--fan-out", type=int, help="with --glorot: a concrete fan-out")
    d.add_argument("--preset", choices=sorted(PRESETS), help="chi_1 of a classic preset")
    d.add_argument("--width", type=int, help="with --preset: the layer width")
    d.add_argument("--catalogue", action="store_true", help="every derivation in one document")
    d.add_argument("--write", metavar="PATH", help="with --catalogue: write to PATH")
    d.add_argument("--format", choices=sorted(FORMATS), default="text")
    d.set_defaults(func=_run_derive)
