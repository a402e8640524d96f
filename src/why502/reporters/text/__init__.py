"""``--format text``: every result for a person at a terminal (rich where it draws tables).

``render(result, options)`` dispatches on the typed result to the module that draws it:

| result | module |
|---|---|
| ``findings.model.Report`` (diagnose, render, lab) | ``report`` (answer first) |
| ``findings.lint.LintReport`` | ``lint`` |
| ``findings.results.StatsReport`` / ``LbStatsReport`` | ``stats`` / ``lb_stats`` |
| ``findings.results.ClassifySummary`` | ``classify`` |
| ``findings.results.FleetReport`` | ``fleet`` |
| ``findings.results.WatchEvent`` | ``watch`` (one line per event) |
| ``findings.results.MitigationPlan`` | ``mitigate`` |
| a list of ``findings.results.CauseRow`` | ``causes`` |
| a list of other results (``explain 502 504``) | each in turn, a blank line between |
| ``findings.explain.Explanation``, ``catalog.lint_rules.LintRule`` | ``explain`` |
| ``findings.plan.Plan`` (a fix plan) | ``plan`` |

Each module reads the typed result, never its ``to_dict()``.  What came from an input (log
lines, paths, config text) is made inert for a terminal (``textutil.strip_terminal_escapes``;
rich markup never parsed from it).  ``watch``'s live screen (``app.watch.view``) is not here:
it is a rich ``Live`` UI refreshed from the running engine, not the rendering of a result.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, TextIO

from why502.reporters.options import RenderOptions, of_results

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "render", "write"]


def console(out: TextIO, options: RenderOptions, *, highlight: bool = False) -> Console:
    """The rich console every table-drawing text reporter prints to: coloured only when
    ``options.color``, at ``options.width`` (None: the run's ``COLUMNS``, rich's own rule);
    ``highlight``: rich's number and keyword colouring of plain strings (stats' and classify's
    tables have always had it)."""
    from rich.console import Console

    return Console(file=out, force_terminal=options.color, no_color=not options.color,
                   highlight=highlight, soft_wrap=False, width=options.width)


def render(result: object, options: RenderOptions) -> str:
    """``result`` as text (see the module's table); a type it does not know is a TypeError."""
    buffer = io.StringIO()
    write(result, buffer, options)
    return buffer.getvalue()


def write(result: object, out: TextIO, options: RenderOptions) -> None:
    """``render`` written to ``out``."""
    if not isinstance(result, list) and (type(result).__module__ in _LIGHT
                                         or not type(result).__module__.startswith("why502.findings")):
        # an explanation, a lint rule's page, a fix plan: `explain ID` imports no other findings
        # module (bench/startup.py: its start-up is a target)
        _write_other(result, out, options)
        return
    if not of_results(result):
        from why502.findings.model import Report

        if isinstance(result, Report):  # first: diagnose imports no other command's result types (issue 28)
            from why502.reporters.text.report import render_terminal

            render_terminal(result, console(out, options), verbose=options.verbose)
            return
        from why502.findings.lint import LintReport

        if isinstance(result, LintReport):
            from why502.reporters.text.lint import render_lint_text

            render_lint_text(result, out, options.color)
            return
    from why502.findings.results import (
        CauseRow,
        ClassifySummary,
        FleetReport,
        LbStatsReport,
        MitigationPlan,
        StatsReport,
        WatchEvent,
    )

    if isinstance(result, StatsReport):
        from why502.reporters.text.stats import render_stats_text

        render_stats_text(result, console(out, options, highlight=True), top=options.top)
    elif isinstance(result, LbStatsReport):
        from why502.reporters.text.lb_stats import render_lb_stats_text

        render_lb_stats_text(result, console(out, options, highlight=True), top=options.top)
    elif isinstance(result, ClassifySummary):
        from why502.reporters.text.classify import render_classify

        render_classify(result, console(out, options, highlight=True), options.top)
    elif isinstance(result, FleetReport):
        from why502.reporters.text.fleet import render_fleet

        out.write(render_fleet(result, options))
    elif isinstance(result, WatchEvent):
        from why502.reporters.text.watch import one_line

        out.write(one_line(result) + "\n")
    elif isinstance(result, MitigationPlan):
        from why502.reporters.text.mitigate import render_mitigation

        out.write(render_mitigation(result, options))
    elif isinstance(result, list) and all(isinstance(r, CauseRow) for r in result):
        from why502.reporters.text.causes import render_causes

        out.write(render_causes(result, options))
    elif isinstance(result, list):  # `explain 502 504`: each page in turn, a blank line between
        out.write("\n".join(render(page, options) for page in result))
    else:
        raise TypeError(f"no text reporter for {type(result).__name__}")


_LIGHT = ("why502.findings.explain", "why502.findings.plan")
"""The results whose modules load no other: dispatched without ``findings.model``'s import."""


def _write_other(result: object, out: TextIO, options: RenderOptions) -> None:
    """An explanation, a lint rule's page, a fix plan (see the module's table)."""
    from why502.catalog.lint_rules import LintRule
    from why502.findings.explain import Explanation
    from why502.findings.plan import Plan
    from why502.reporters.text.explain import render_lint_rule, render_page
    from why502.reporters.text.plan import render_plan

    if isinstance(result, LintRule):
        out.write(render_lint_rule(result, options))
    elif isinstance(result, Plan):
        out.write(render_plan(result, options))
    elif isinstance(result, Explanation):
        out.write(render_page(result, options))
    else:
        raise TypeError(f"no text reporter for {type(result).__name__}")
