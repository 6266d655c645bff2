"""The ``symcheck torch-survival pkg.module:factory`` subcommand (a CI gate on tie survival).

The factory is imported from the current directory and called with no
arguments; it returns ``(model, example_inputs)`` or a dict with the keys
``model`` and ``inputs`` and optionally ``targets`` (default: N(0, 1) of the
output's shape from ``--seed``) and ``loss`` (a torch loss; default
``nn.MSELoss()``). A copy of the model, cast to ``--dtype``, is trained with
the torch optimiser ``--optimizer`` (:data:`OPTIMIZERS`) by
:func:`symcheck.torch.tie_survival`; the first break of each class is
located by :func:`symcheck.torch.locate.locate_first_difference`.

Exit codes: 0 every tie exact, 1 drifting or broken, 2 bad input (also a
factory that raises, or a model without ties).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from symcheck.cli.args import finite_float, int_in, seed
from symcheck.errors import InvalidArgument
from symcheck.files import check_output_path

__all__ = ["DTYPES", "OPTIMIZERS", "load_factory", "register"]

#: ``--optimizer`` name -> the class name in ``torch.optim``.
OPTIMIZERS: dict[str, str] = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}
DTYPES = ("float32", "float64")
MAX_STEPS = 100_000
_SPEC = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


def load_factory(spec: str) -> Callable[[], Any]:
    """Import ``module:callable`` from the current directory (this runs the module's code)."""
    if not _SPEC.match(spec):
        raise InvalidArgument(
            f"factory {spec!r} is not of the form module.path:callable (e.g. mymodels:make)"
        )
    module_name, attr = spec.split(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any error is bad input, in one line
        raise InvalidArgument(
            f"cannot import {module_name!r} from the current directory: {type(exc).__name__}: {exc}"
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise InvalidArgument(f"{module_name!r} has no callable {attr!r}")
    return factory


def _build(args: argparse.Namespace, dtype_name: str) -> dict[str, Any]:
    import torch

    try:
        made = load_factory(args.factory)()
    except InvalidArgument:
        raise
    except Exception as exc:
        raise InvalidArgument(
            f"factory {args.factory} raised {type(exc).__name__}: {exc}"
        ) from None
    if isinstance(made, tuple) and len(made) == 2:
        made = {"model": made[0], "inputs": made[1]}
    if not isinstance(made, dict) or not {"model", "inputs"} <= set(made):
        raise InvalidArgument(
            f"factory {args.factory} returned {type(made).__name__}; return (model, "
            "example_inputs) or a dict with keys model, inputs[, targets, loss]"
        )
    unknown = set(made) - {"model", "inputs", "targets", "loss"}
    if unknown:
        raise InvalidArgument(f"factory dict has unknown keys {sorted(unknown)}")
    if not isinstance(made["model"], torch.nn.Module):
        raise InvalidArgument(f"model is a {type(made['model']).__name__}, not a torch nn.Module")
    dtype = getattr(torch, dtype_name)
    model = made["model"].to(dtype)
    raw = made["inputs"] if isinstance(made["inputs"], (tuple, list)) else (made["inputs"],)
    inputs = tuple(
        t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t for t in raw
    )
    targets = made.get("targets")
    if targets is None:
        with torch.no_grad():
            shape = model(*inputs).shape
        generator = torch.Generator().manual_seed(args.seed)
        targets = torch.randn(shape, generator=generator, dtype=dtype)
    elif isinstance(targets, torch.Tensor) and targets.is_floating_point():
        targets = targets.to(dtype)
    return {"model": model, "inputs": inputs, "targets": targets, "loss": made.get("loss")}


def _run(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        raise InvalidArgument(
            "torch-survival needs PyTorch; install it with: pip install 'symcheck[torch]'"
        ) from None
    from symcheck.torch import tie_survival

    if args.plot is not None:
        check_output_path(args.plot, what="--plot")
    optimizer_class = getattr(torch.optim, OPTIMIZERS[args.optimizer])

    def make_optimizer(params: Any) -> torch.optim.Optimizer:
        return optimizer_class(params, lr=args.lr)

    def run(dtype: str, *, locate: bool) -> Any:
        built = _build(args, dtype)
        torch.manual_seed(args.seed)
        return tie_survival(
            built["model"],
            make_optimizer,
            built["inputs"],
            built["targets"],
            args.steps,
            loss=built["loss"],
            threshold=args.threshold,
            locate=locate,
        )

    result = run(args.dtype, locate=True)
    if args.plot is not None:
        from symcheck.torch.survival_plot import save_survival_figure

        runs = {args.dtype: result}
        for dtype in DTYPES:
            if dtype not in runs:
                runs[dtype] = run(dtype, locate=False)
        title = f"{args.factory}: {args.optimizer} lr={args.lr:g}, {args.steps} steps"
        save_survival_figure([(d, runs[d]) for d in DTYPES], args.plot, title=title)
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(_text(args, result))
    return 0 if result.verdict == "exact" else 1


def _text(args: argparse.Namespace, result: Any) -> str:
    lines = [
        f"{args.factory}: {args.optimizer} lr={args.lr:g}, {args.steps} steps, {result.dtype}, "
        f"threshold {result.threshold:g}"
    ]
    for survival in result.classes:
        rate = "-" if survival.rate is None else f"{survival.rate:.3g}/step"
        lines.append(
            f"  space {survival.tie.space} units {_units(survival.tie.units)}: {survival.verdict}; "
            f"max spread {max(survival.spreads):.3g}, first non-zero step "
            f"{survival.first_nonzero or '-'}, growth rate {rate}, reaches the threshold at "
            f"step {survival.first_broken or '-'}"
        )
        lines.extend(_where(survival.first_difference))
    lines.append(f"verdict: {result.verdict}")
    return "\n".join(lines) + "\n"


def _where(where: Any) -> list[str]:
    """The first difference of a class in two lines: stage and op (none if exact)."""
    if where is None:
        return []
    named = f" ({', '.join(where.parameters)})" if where.parameters else ""
    stage = where.stage or "not located"
    lines = [f"    first difference at step {where.step}: {stage}{named}"]
    if where.site is None:
        lines.append(f"      op: unknown; {where.note}")
    else:
        pair = f"units {where.pair[0]} and {where.pair[1]}"
        lines.append(f"      op: {where.site.text()} ({pair}); {where.note}")
    return lines


def _units(units: tuple[int, ...]) -> str:
    """``[0, 1, 2]``, or ``0..63 (64 units)`` for a long contiguous run."""
    if len(units) > 6 and list(units) == list(range(units[0], units[-1] + 1)):
        return f"{units[0]}..{units[-1]} ({len(units)} units)"
    return str(list(units))


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``symcheck torch-survival``."""
    parser = sub.add_parser(
        "torch-survival",
        help="train a copy of a torch model and measure how long its tied units stay tied",
        description=(
            "Import FACTORY (module.path:callable, importable from the current directory; "
            "importing it RUNS that module's code, as pytest does with test files: only "
            "point it at your own code), call it with no arguments to get (model, "
            "example_inputs) or a dict {model, inputs[, targets, loss]}, train a copy in "
            "--dtype with the torch optimiser and print, per tie class, the spread between "
            "tied units, the step it first leaves 0, its growth rate and the verdict, and "
            "where the first difference came from: autograd's gradients or the optimiser "
            "step, and the first op (module path, phase) whose output differs between tied "
            "units. Targets default to N(0,1) noise of the output's shape (--seed), the loss "
            "to nn.MSELoss(). Exit code 0 exact, 1 drifting or broken, 2 bad input."
        ),
    )
    parser.add_argument("factory", metavar="FACTORY", help="module.path:callable")
    parser.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="sgd")
    parser.add_argument("--lr", type=finite_float(positive=True), default=0.01)
    parser.add_argument("--steps", type=int_in(1, MAX_STEPS), default=100)
    parser.add_argument("--dtype", choices=DTYPES, default="float32")
    parser.add_argument(
        "--threshold",
        type=finite_float(positive=True),
        default=1e-6,
        help="relative spread counted as broken (default 1e-6)",
    )
    parser.add_argument("--seed", type=seed, default=0, help="seed of torch and the targets")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--plot",
        metavar="OUT.png",
        help="also train a float32 and a float64 copy and draw the spread per step of every "
        "tie class on a log scale, with the fitted exponential rates (needs matplotlib)",
    )
    parser.set_defaults(func=_run)
