"""``RenderOptions``: what every reporter may be told about how to render a result.

One dataclass for every format and every result (issue 23, item 5): before, each reporter had
its own signature (``render_terminal(report, console, verbose=)``, ``render_lint_text(report,
out, color)``, ``render_stats_text(d, console, top=)``, ``to_json(report, indent=)`` ...).  A
reporter reads the fields that mean something for its format and ignores the others.
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderOptions:
    """How to render.

    - ``width``: the columns text wraps to; None reads the run's width (``COLUMNS``, which
      ``cli.main`` exports once per run: ``cli.termwidth``).
    - ``color``: text may use colours and styles (a terminal); False writes plain text.
    - ``verbose``: the whole diagnose report, not its first screen.
    - ``top``: rows per table (stats, classify).
    - ``show_all``: fleet's ``--all`` (every host, also those with nothing to say).
    - ``redact``: text of a fix plan shows credentials as ``[redacted]`` (the other results are
      redacted before they are rendered: ``findings.redact``).
    - ``tool_version``: written into lint's JSON and SARIF.
    """

    width: int | None = None
    color: bool = False
    verbose: bool = False
    top: int = 10
    show_all: bool = False
    redact: bool = True
    tool_version: str = ""

    def columns(self) -> int:
        """``width``, else the run's width (``COLUMNS``), else 80."""
        if self.width:
            return self.width
        import shutil

        return shutil.get_terminal_size().columns


PLAIN = RenderOptions()
"""No colour, the run's width, defaults elsewhere."""


def of_results(result: object) -> bool:
    """Whether ``result`` is one of ``findings.results``' types (classify's summary, stats' ...):
    neither a ``Report`` nor a ``LintReport``, so the reporters need not import ``findings.model``
    and ``findings.lint`` (~8 ms of ``why502 classify``'s ~150 ms start, ``python -X importtime``)
    to tell."""
    return type(result).__module__ == "why502.findings.results"
