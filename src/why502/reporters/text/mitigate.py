"""``why502 mitigate``'s proposals for a person: each stop-gap numbered, its why and evidence,
then why it is refused or how it is made (the runtime call, the fallback's answer, each file's
diff).  Moved from ``app.mitigate.run.show``, which printed them as the run went (issue 23, item
5); the words are the same.  Every line is made inert for a terminal (an evidence line comes
from a log)."""

from __future__ import annotations

from why502.findings.results import MitigationPlan
from why502.reporters.options import RenderOptions
from why502.textutil import strip_terminal_escapes

NOTHING = "nothing to mitigate: no server group with a failing server, no slow-backend finding"


def render_mitigation(plan: MitigationPlan, options: RenderOptions) -> str:
    """The plan, one stop-gap after the other (``NOTHING`` when there is none)."""
    lines: list[str] = [] if plan.stopgaps else [NOTHING]
    for i, s in enumerate(plan.stopgaps, 1):
        servers = f": {', '.join(s.servers)}" if s.servers else ""
        lines.append(f"[{i}] {s.kind}: {s.proxy} group {s.group}{servers}")
        lines.append(f"    why: {s.why}")
        lines.extend(f"    evidence: {e}" for e in s.evidence)
        if s.refused:
            lines.append(f"    REFUSED: {s.refused}")
            continue
        lines.extend("    " + step for step in s.steps)
        lines.extend("    " + line for diff in s.diffs for line in diff.splitlines())
    return "".join(strip_terminal_escapes(line) + "\n" for line in lines)
