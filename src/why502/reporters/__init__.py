"""why502.reporters layer (see docs/architecture.md): one module per output format.

``text`` (the terminal, through rich), ``json``, ``jsonl``, ``markdown``, ``html``, ``sarif``
and ``csv`` (stats' per-minute timeline) each expose ``render(result, options) -> str`` (and
``write(result, out, options)`` where writing piece by piece matters), which dispatch on the
typed result (``findings.model.Report``, ``findings.lint.LintReport``, ``findings.results``'
``StatsReport``, ``ClassifySummary``, ``FleetReport`` ...)
and take one ``options.RenderOptions``.  The names are ``cli.vocab``'s
``--format`` vocabulary, so a command renders with ``write(args.format, result, out, options)``.
Standard library only at import (``why502 --help`` stays fast): a format's module is imported
when it is asked for.
"""

from __future__ import annotations

import importlib
from typing import TextIO

from why502.reporters.options import RenderOptions

__all__ = ["RenderOptions", "render", "write"]

_MODULES = {"text": "text", "json": "json", "jsonl": "jsonl", "markdown": "markdown", "html": "html",
            "sarif": "sarif", "csv": "csv"}


def _module(fmt: str) -> object:
    try:
        name = _MODULES[fmt]
    except KeyError:
        raise ValueError(f"no reporter for format {fmt!r}") from None
    return importlib.import_module(f"why502.reporters.{name}")


def render(fmt: str, result: object, options: RenderOptions | None = None) -> str:
    """``result`` in the format ``fmt`` (a name of ``cli.vocab.FORMATS`` or ``csv``)."""
    text: str = _module(fmt).render(result, options or RenderOptions())  # type: ignore[attr-defined]
    return text


def write(fmt: str, result: object, out: TextIO, options: RenderOptions | None = None) -> None:
    """``render`` written to ``out``: through the format module's own ``write`` when it has one
    (text, json and sarif write lint's findings piece by piece: ``textutil.write_json``)."""
    module = _module(fmt)
    if hasattr(module, "write"):
        module.write(result, out, options or RenderOptions())
    else:
        out.write(render(fmt, result, options))
