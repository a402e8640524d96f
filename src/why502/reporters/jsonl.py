"""``--format jsonl``: one typed result as one JSON object on one line (``watch``'s events;
``classify``'s and ``explain -``'s records are written by their readers as they stream).
``render(result, options)``: ``json.result``'s ``LINE`` (strict, inert)."""

from __future__ import annotations

from typing import Any

from why502.reporters.options import RenderOptions

__all__ = ["render"]


def render(result: Any, options: RenderOptions) -> str:
    """The result's document on one line, ending with a newline."""
    from why502.reporters.json.result import LINE
    from why502.reporters.json.result import render as render_result

    return render_result(result, LINE)
