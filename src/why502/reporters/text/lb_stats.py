"""Terminal rendering of ``why502 stats`` on a cloud load balancer / proxy log: its typed
result, ``findings.results.LbStatsReport`` (computed by ``evidence.lbstats.compute_lb_stats``).
Everything taken from the log is hostile: cleaned with ``strip_terminal_escapes``
and printed as ``rich.text.Text``, never as markup.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from why502 import proxies
from why502.findings.results import LbStatsReport
from why502.reporters.text.stats import NOTHING_READ, sparkline
from why502.textutil import plural, shorten, strip_terminal_escapes


def _t(value: object, width: int = 60) -> Text:
    return Text(shorten(strip_terminal_escapes("" if value is None else str(value)), width))


def _ms(v: object) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    return f"{v:.0f}ms" if v < 1000 else f"{v / 1000:.2f}s"


def headline(rep: LbStatsReport) -> list[str]:
    """The answer first: how many 5xx, who made them, the leading reason, the worst target."""
    total, five, lb = rep.requests, rep.total_5xx, rep.made_by_name
    if rep.read_nothing:  # nothing was looked at (stats exits 3)
        return [NOTHING_READ]
    if not total and not rep.error_lines:
        return ["no requests in the window read"]
    out: list[str] = []
    if total:
        if five:
            kinds = ", ".join(f"{n:,}x{s}" for s, n in rep.by_status.items() if s.startswith("5"))
            made = rep.made_by
            share = f"{100.0 * five / total:.2f}%"
            out.append(f"{five:,} of {plural(total, 'request')} ended in a 5xx ({share}): {kinds}; "
                       f"made by {lb} itself {made['lb']:,}, by the backend {made['backend']:,}"
                       + (f", cannot tell {made['unknown']:,}" if made.get("unknown") else ""))
        else:
            out.append(f"no 5xx in {plural(total, 'request')}")
    if rep.by_code:
        top = rep.by_code[0]
        word = strip_terminal_escapes(str(top["code"] or top["status"]))
        what = f" -> {top['symptom']}" if top["symptom"] else ""
        cause = f" (why502 explain {top['cause']})" if top["cause"] else ""
        out.append(f"leading reason: {word}{what}, {top['count']:,}x"
                   + (f", Proxy-Status {top['proxy_status']}" if top["proxy_status"] else "") + cause)
        if not top["code"] and not top["symptom"]:
            where = "; ".join(f"{p.vocabulary.title}: {p.vocabulary.error_lines}"
                              for p in proxies.PROXIES.values() if p.vocabulary.error_lines)
            out.append(f"{rep.log_type}'s access log does not say why it made these: give its error log "
                       f"too{f' ({where})' if where else ''} as another FILE")
    worst = (next((t for t in rep.targets if t["5xx"]), None)
             or next((g for g in rep.groups if g["5xx"]), None))
    if worst:
        key = "target" if "target" in worst else "group"
        name = shorten(strip_terminal_escapes(str(worst[key])), 60)
        out.append(f"worst {key} {name}: {worst['5xx']:,} 5xx "
                   f"({worst['5xx_lb']:,} by {lb}, {worst['5xx_backend']:,} by the backend)")
    tm = rep.timings["timeout"]
    if tm.get("seconds") and tm.get("near"):
        out.append(f"{tm['near']:,} backend timings at >= 80% of the {tm['seconds']:g}s timeout "
                   f"({tm['source']})")
    r = rep.retries
    if r["requests"]:
        out.append(f"{r['requests']:,} requests were retried by {lb}; "
                   f"{r['still_failed']:,} still ended in a 5xx")
    if rep.unparsed:
        out.append(f"{rep.unparsed:,} lines were not {rep.log_type} request lines (not counted)")
    return out


def render_lb_stats_text(rep: LbStatsReport, console: Console, top: int = 10) -> None:
    for line in headline(rep):
        console.print(Text(line))
    console.print(Text(f"\nlog type: {rep.log_type} ({len(rep.files)} file(s), {rep.lines:,} lines)"))
    tl = rep.timeline
    if tl:
        spark, per = sparkline([r["5xx_lb"] + r["5xx_backend"] for r in tl])
        console.print(Text(f"5xx per minute {tl[0]['minute']} .. {tl[-1]['minute']}"
                           + (f" ({per} min/char)" if per > 1 else "") + f":  {spark}"))
        t = Table(title=f"5xx per minute, by who made them (top {top} minutes)")
        for col in ("minute", "requests", f"5xx by {rep.made_by_name}", "5xx by the backend"):
            t.add_column(col, justify="right" if col != "minute" else "left")
        for r in sorted(tl, key=lambda r: -(r["5xx_lb"] + r["5xx_backend"]))[:top]:
            if r["5xx_lb"] + r["5xx_backend"]:
                t.add_row(_t(r["minute"]), f"{r['total']:,}", f"{r['5xx_lb']:,}", f"{r['5xx_backend']:,}")
        console.print(t)
    if rep.by_code:
        t = Table(title=f"Failures made by {rep.made_by_name}, in its own words")
        for col in ("word", "count", "status", "symptom", "Proxy-Status", "root cause", "first", "last"):
            t.add_column(col)
        for r in rep.by_code[:top]:
            t.add_row(_t(r["code"] or "(not said)"), f"{r['count']:,}", str(r["status"] or "-"),
                      _t(r["symptom"] or "-"), _t(r["proxy_status"] or "-"), _t(r["cause"] or "-"),
                      _t(r["first"], 32), _t(r["last"], 32))
        console.print(t)
    tmo = rep.timings["timeout"]
    for key, title in (("targets", "target"), ("groups", "group")):
        rows = getattr(rep, key)[:top]
        if not rows:
            continue
        t = Table(title=f"Per {title}")
        cols = [title, "requests", "5xx", f"by {rep.made_by_name}", "by backend", "retried",
                "p50", "p95", "p99", "max"]
        if tmo.get("seconds"):
            cols.append(f">=80% of {tmo['seconds']:g}s")
        for col in cols:
            t.add_column(col, justify="left" if col == title else "right")
        name = "target" if key == "targets" else "group"
        for r in rows:
            cells: list[Text | str] = [
                _t(r[name], 50), f"{r['requests']:,}", f"{r['5xx']:,}", f"{r['5xx_lb']:,}",
                f"{r['5xx_backend']:,}", f"{r['retried']:,}",
                _ms(r["p50_ms"]), _ms(r["p95_ms"]), _ms(r["p99_ms"]), _ms(r["max_ms"]),
            ]
            if tmo.get("seconds"):
                cells.append(f"{r.get('near_timeout', 0):,}")
            t.add_row(*cells)
        console.print(t)
    if tmo.get("seconds"):
        console.print(Text(f"timeout used: {tmo['seconds']:g}s ({tmo['source']}); "
                           "--lb-timeout SECONDS sets yours"))
