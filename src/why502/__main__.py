"""``python -m why502`` is the same as the ``why502`` console script."""

from why502.cli.main import console

raise SystemExit(console())
