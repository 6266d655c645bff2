"""Regenerate the derivations checked into proofs/derivations/.

Run from the repository root::

    python proofs/regenerate.py

``proofs/test_derivations.py`` fails when a checked-in file differs from what
this script would write, so the documents cannot drift from the code.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Callable

from symcheck.model.example import classic_slide
from symcheck.model.network import Network
from symcheck.prove.derive import derive
from symcheck.prove.proof import Proof
from symcheck.prove.render import render
from symcheck.prove.theorems import prove_identical_updates, prove_preserved, prove_symmetry_breaks

HERE = pathlib.Path(__file__).with_name("derivations")

_NET = Network.parse("2-2-1", activation="sigma", loss="ell")

DERIVATIONS: dict[str, Callable[[], list[Proof]]] = {
    "gradients-2-2-1-sigma-ell-tied.md": lambda: [derive(_NET, init="tied")],
    "identical-updates-2-2-1-sigma-ell.md": lambda: [
        prove_identical_updates(_NET, init=init) for init in ("zero", "tied", "random")
    ],
    "identical-updates-3-4-2-tanh-zero.md": lambda: [
        prove_identical_updates(Network.parse("3-4-2", activation="tanh"), init="zero")
    ],
    "preserved-2-2-1-sigma-ell.md": lambda: [
        prove_preserved(_NET, init="tied", optimizer=opt) for opt in ("sgd", "momentum", "adam")
    ],
    "symmetry-breaks.md": lambda: [
        prove_symmetry_breaks(Network.parse("2-2-1", activation=act))
        for act in ("tanh", "relu", "sigma")
    ],
    "classic-slide.md": lambda: [classic_slide()],
}


def generate() -> dict[str, str]:
    """File name -> Markdown text of every derivation."""
    return {name: render(build(), "md") for name, build in DERIVATIONS.items()}


def main() -> int:
    HERE.mkdir(exist_ok=True)
    for name, text in generate().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE.name}/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
