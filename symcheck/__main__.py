"""``python -m symcheck`` runs the command line."""

from symcheck.cli import main

raise SystemExit(main())
