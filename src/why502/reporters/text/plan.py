"""A fix plan for a person (``why502 fix`` and ``lint --fix`` dry runs, before ``--apply``):
each change (its finding, file, diff), the commands why502 never runs, the notes.

The plan is ``findings.plan.Plan`` (made by ``app.fix.plan``).  Credentials in it
show as ``[redacted]`` unless ``options.redact`` is False; what is *applied* is the plan itself,
never this text.  Moved from ``cli/cmd_fix.py`` (``print_plan``; issue 23, item 5).
"""

from __future__ import annotations

from why502.findings.plan import Plan
from why502.reporters.options import RenderOptions


def render_plan(plan: Plan, options: RenderOptions) -> str:
    """The plan as text (see the module docstring)."""
    from why502.findings.redact import notice, redact_diff, redact_text
    from why502.textutil import strip_terminal_escapes

    hidden = 0

    def shown(text: str, diff: bool = False) -> str:
        nonlocal hidden
        if not options.redact:
            return strip_terminal_escapes(text)
        out, n = redact_diff(text) if diff else redact_text(text)
        hidden += n
        return strip_terminal_escapes(out)

    parts: list[str] = []
    if not plan.changes:
        parts.append("no config change to make\n")
    for i, ch in enumerate(plan.changes, 1):
        parts.append(shown(f"[{i}] {ch.key}: {ch.title}\n    file: {ch.file}\n"))
        for line in shown(ch.diff, diff=True).splitlines():
            parts.append("    " + line + "\n")
    if plan.commands:
        parts.append("\nNot config changes -- why502 fix never runs these; run them yourself if they fit:\n")
        for key, cmd in plan.commands:
            parts.append(shown(f"  [{key}] $ {cmd}\n"))
    for note in plan.notes:
        parts.append(shown(f"note: {note}\n"))
    if hidden:
        parts.append(f"note: {notice(hidden)}\n")
    return "".join(parts)
