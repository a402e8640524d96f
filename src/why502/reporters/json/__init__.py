"""``--format json``: the JSON document of every typed result, ``render(result, options)``.

| result | document |
|---|---|
| ``findings.model.Report`` | ``report.to_json`` (``schemas/report.schema.json``) |
| ``findings.lint.LintReport`` | ``lint.lint_json`` with ``options.tool_version`` (piece by piece) |
| ``StatsReport`` / ``LbStatsReport`` | ``stats.stats_to_json`` (``stats_version`` first) |
| ``ClassifySummary`` | one line (``classify --format json`` has always been one object on one line) |
| a list of ``ExplainResult`` | an array of their documents, one after the other |
| any other typed result, or a list of them | ``result.render``: the result's ``to_dict()``, indented |

Every document goes through ``textutil.dump_json``/``write_json``: strict (no NaN) and inert.
"""

from __future__ import annotations

import io
from typing import Any, TextIO

from why502.reporters.options import RenderOptions, of_results

__all__ = ["render", "write"]


def render(result: Any, options: RenderOptions) -> str:
    """``result`` as one JSON document ending with a newline."""
    if not of_results(result):
        from why502.findings.model import Report

        if isinstance(result, Report):  # first: diagnose imports no other command's result types (issue 28)
            from why502.reporters.json.report import to_json

            return to_json(result)
        from why502.findings.lint import LintReport

        if isinstance(result, LintReport):
            buffer = io.StringIO()
            write(result, buffer, options)
            return buffer.getvalue()
    from why502.findings.results import ClassifySummary, LbStatsReport, StatsReport

    if isinstance(result, (StatsReport, LbStatsReport)):
        from why502.reporters.json.stats import stats_to_json

        return stats_to_json(result) + "\n"
    from why502.findings.results import ExplainResult
    from why502.reporters.json.result import DOCUMENT, LINE
    from why502.reporters.json.result import render as render_result

    if isinstance(result, list) and result and all(isinstance(r, ExplainResult) for r in result):
        # `explain 502 504 --format json`: an array of the documents each as `explain ID` writes it
        return "[" + ",\n".join(render_result(r).rstrip("\n") for r in result) + "]\n"
    return render_result(result, LINE if isinstance(result, ClassifySummary) else DOCUMENT)


def write(result: Any, out: TextIO, options: RenderOptions) -> None:
    """``render`` written to ``out``; lint's document piece by piece (``textutil.write_json``:
    the JSON of 10,000 findings is not held whole)."""
    if of_results(result):
        out.write(render(result, options))
        return
    from why502.findings.model import Report

    if isinstance(result, Report):
        out.write(render(result, options))
        return
    from why502.findings.lint import LintReport

    if isinstance(result, LintReport):
        from why502.reporters.json.lint import lint_json
        from why502.textutil import write_json

        write_json(out, lint_json(result, options.tool_version))
        out.write("\n")
        return
    out.write(render(result, options))
