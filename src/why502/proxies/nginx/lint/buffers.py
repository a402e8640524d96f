"""The response-header buffer against the backend's headers."""

from __future__ import annotations

from why502.analyzers.lint.common import finding
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding
from why502.proxies.nginx.config.edit import ConfigEdits
from why502.proxies.nginx.config.units import parse_size
from why502.proxies.nginx.lint.config import PASSES, header
from why502.proxies.nginx.lint.input import NginxLintInput


def _pow2_at_least(n: int) -> int:
    size = 4096
    while size < n:
        size *= 2
    return size


@rule("W502-004", directives=PASSES)
def check_buffer_size(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-004.  ``ngx_http_upstream_process_header()``: a header that does not fit
    ``u->buffer`` (``*_buffer_size``) is "upstream sent too big header" (502)."""
    if not inp.header_bytes:
        return []
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in cfg.located_targets():
        if t.kind == "memcached":
            continue
        name = f"{t.kind}_buffer_size"
        eff = loc.effective(name)
        size = eff.bytes
        if size is None or size >= inp.header_bytes:
            continue
        new = _pow2_at_least(inp.header_bytes + 512)
        edits = ConfigEdits(cfg)
        existing = eff.entries[-1] if eff.level in ("location", "if") and eff.entries else None
        edits.set(loc.file, loc.line, name, f"{new // 1024}k", existing, header(loc))
        if t.kind != "grpc":
            bufs = loc.effective(f"{t.kind}_buffers")
            busy = loc.effective(f"{t.kind}_busy_buffers_size")
            if bufs.is_default or (parse_size(bufs.args[-1]) or 0) < new:
                edits.set(loc.file, loc.line, f"{t.kind}_buffers", f"8 {new // 1024}k",
                          bufs.entries[-1] if bufs.level in ("location", "if") and bufs.entries else None,
                          header(loc))
            if busy.is_default or (busy.bytes or 0) < 2 * new:
                edits.set(loc.file, loc.line, f"{t.kind}_busy_buffers_size", f"{2 * new // 1024}k",
                          busy.entries[-1] if busy.level in ("location", "if") and busy.entries else None,
                          header(loc))
        where = (eff.file, eff.line) if eff.file and eff.line else (t.file, t.line)
        dflt = " (default, one page)" if eff.is_default else ""
        out.append(finding(rule, f"{name} is {eff.value}{dflt}"
                            + f" but the backend sends {inp.header_bytes} bytes of headers: "
                            '"upstream sent too big header" -> 502', where[0], where[1], edits.diff(),
                            ((t.file, t.line),) if where != (t.file, t.line) else ()))
    return out
