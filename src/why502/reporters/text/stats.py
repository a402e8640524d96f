"""Terminal rendering of ``why502 stats`` (rich tables) from its typed result,
``findings.results.StatsReport`` (what ``--format json`` writes, read as attributes).

Reporters render saved data only (import-linter contract): a report read back with
``StatsReport.from_dict`` renders the same.  Every
string that came from a log (hosts, URIs, clients, upstream names, samples) is hostile: it goes
through ``strip_terminal_escapes`` and into ``rich.text.Text`` so neither escape sequences nor
rich markup in a request line can reach the terminal.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from why502 import proxies
from why502.findings.results import StatsReport
from why502.textutil import compact_time, plural, shorten, strip_terminal_escapes

_SPARK = " ▁▂▃▄▅▆▇█"


def _t(value: object, width: int = 80, style: str = "") -> Text:
    return Text(shorten(strip_terminal_escapes("" if value is None else str(value)), width), style=style)


def _n(value: object) -> Text:
    return Text(
        "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value), justify="right"
    )


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def sparkline(values: list[int], width: int = 72) -> tuple[str, int]:
    """Values squeezed into ``width`` characters (max per character); returns (line, minutes per char)."""
    if not values:
        return "", 1
    per = max(1, -(-len(values) // width))
    cols = [max(values[i : i + per]) for i in range(0, len(values), per)]
    top = max(cols) or 1
    return "".join(_SPARK[min(8, -(-v * 8 // top))] if v else " " for v in cols), per


# The engine's word for "the proxy itself made the 5xx" is the default proxy's name
# (``made_by.nginx``, a JSON contract); another proxy's log was rewritten into nginx's fields, so
# its text names the proxy that wrote it (``Vocabulary.stats_word``).


NOTHING_READ = ("nothing to count: no line was read -- an empty or just-rotated log (its lines are in "
                "its .1), or an empty pipe (a grep before it that matched nothing)")


def who(key: object, rep: StatsReport) -> str:
    """The engine's word for the proxy as the proxy that wrote the log: nginx, haproxy, Apache."""
    if key == proxies.DEFAULT:
        return proxies.of(rep.proxy).vocabulary.stats_word
    return str(key) if key is not None else ""


def headline(rep: StatsReport) -> list[str]:
    """The answer in a few sentences, before any table: how many requests failed and with
    what, who made the failures, the worst upstream (and how close it runs to its timeout),
    the biggest burst, the leading error-log symptom.  Log-controlled strings are cleaned."""
    total, five = rep.requests, rep.total_5xx
    if rep.read_nothing:  # not "no 5xx": nothing was looked at (stats exits 3)
        return [NOTHING_READ]
    if not total:
        return ["no requests in the window read"]
    if not five:
        return [f"no 5xx in {plural(total, 'request')} ({rep.first_time} .. {rep.last_time})"]
    by = rep.by_status
    kinds = ", ".join(f"{n:,}x{s}" for s, n in sorted(by.items(), key=lambda kv: -kv[1]) if s.startswith("5"))
    out = [f"{five:,} of {plural(total, 'request')} ended in a 5xx ({100.0 * five / total:.2f}%): {kinds}"]
    made = {k: v for k, v in (rep.made_by or {}).items() if v}
    if made:
        makers = ", ".join(
            f"{who(k, rep) + ' itself' if k == proxies.DEFAULT else 'the backend' if k == 'backend' else k}"
            f" {v:,}"
            for k, v in sorted(made.items(), key=lambda kv: -kv[1])
        )
        out[-1] += f"; made by {makers}"
    ups = [u for u in rep.upstreams if u.get("requests_5xx") or u.get("near_timeout")]
    if ups:
        u = max(ups, key=lambda u: (u.get("requests_5xx", 0), u.get("near_timeout", 0)))
        text = (
            f"worst upstream {strip_terminal_escapes(u['address'])}: {u.get('requests_5xx', 0):,} 5xx, "
            f"{plural(u.get('failed_attempts', 0), 'failed attempt')}"
        )
        if u.get("near_timeout") and u.get("timeout"):
            word = proxies.of(rep.proxy).vocabulary.stats_timeout
            text += f", {plural(u['near_timeout'], 'attempt')} at >= 80% of its {u['timeout']:g}s {word}"
        out.append(text)
    inc = rep.incidents
    if inc:
        big = max(inc, key=lambda i: i["total_5xx"])
        out.append(
            f"{plural(len(inc), 'burst')} of 5xx; the largest {big['start']} .. {big['end']}: "
            f"{big['total_5xx']:,} 5xx, peak {big['peak_per_minute']:,}/min"
        )
    if rep.rescued:
        out.append(f"{rep.rescued:,} more requests failed an attempt and were rescued by a retry")
    el = rep.errorlog or {}
    if el.get("by_symptom"):
        sym, n = next(iter(el["by_symptom"].items()))
        out.append(
            f"leading error-log symptom: {strip_terminal_escapes(str(sym))} ({n:,} of "
            f"{el.get('matched_5xx', 0):,} joined 5xx; why502 explain {strip_terminal_escapes(str(sym))})"
        )
    return out


def render_stats_text(rep: StatsReport, console: Console, top: int = 10) -> None:
    """Print the statistics, the answer first (``headline``), then: inputs, status, who made
    the 5xx, incidents, upstreams, breakdowns."""
    c = console
    for i, line in enumerate(headline(rep)):
        c.print(Text(line, style="bold" if i == 0 else ""))
    c.print()
    files = ", ".join(strip_terminal_escapes(f) for f in rep.files)
    c.print(Text.assemble(("why502 stats", "bold"), ": ", _t(files, 200)))
    for note in rep.notes:
        c.print(_t(note, 300, "dim"))
    total = rep.requests
    c.print(
        Text(
            f"{plural(rep.lines, 'line')}, {plural(total, 'request')}, "
            f"{rep.unparsed:,} unparsed"
            + (f", {rep.filtered_out:,} outside --since/--until" if rep.filtered_out else "")
            + (f"; {rep.first_time} .. {rep.last_time}" if rep.first_time else "")
        )
    )
    if rep.unparsed_samples:
        c.print(Text("lines that do not match the log format (first ones):", style="yellow"))
        for smp in rep.unparsed_samples[:3]:
            c.print(Text.assemble(f"  {smp['file']}:{smp['line']}: ", _t(smp["text"], 160)))

    t = Table(title="Status codes", title_justify="left")
    t.add_column("status")
    t.add_column("requests", justify="right")
    t.add_column("share", justify="right")
    for status, n in sorted(rep.by_status.items()):
        style = "red" if status.startswith("5") else ""
        t.add_row(Text(status, style=style), _n(n), f"{100.0 * n / max(1, total):.2f}%")
    c.print(t)

    made = rep.made_by or {}
    if rep.total_5xx:
        parts = [f"{who(k, rep)}: {v:,}" for k, v in made.items()]
        c.print(Text.assemble(("Who made the 5xx: ", "bold"), ", ".join(parts) or "-"))
        resc = rep.rescued
        if resc:
            c.print(
                Text(
                    f"Rescued by proxy_next_upstream (a failed attempt, then a success): {resc:,} "
                    "requests -- the 502s users did not see yet",
                    style="yellow",
                )
            )

    tl = rep.timeline
    if tl and rep.total_5xx:
        line, per = sparkline([r["5xx"] for r in tl])
        c.print(
            Text.assemble(
                ("5xx per minute ", "bold"), f"({per} min/char, {tl[0]['minute']} .. {tl[-1]['minute']})"
            )
        )
        c.print(Text(line, style="red"))
    inc = rep.incidents
    if inc:
        t = Table(title="Incident windows (5xx bursts)", title_justify="left")
        for col in ("start", "end", "5xx", "502", "503", "504", "peak/min", "requests"):
            t.add_column(col, justify="right" if col not in ("start", "end") else "left",
                         no_wrap=col in ("start", "end"))  # a time in one piece (issue 31)
        for window in inc:
            by = window.get("by_status", {})
            t.add_row(
                compact_time(window["start"]),
                compact_time(window["end"]),
                _n(window["total_5xx"]),
                _n(by.get("502", 0)),
                _n(by.get("503", 0)),
                _n(by.get("504", 0)),
                _n(window["peak_per_minute"]),
                _n(window["requests"]),
            )
        c.print(t)

    ups = rep.upstreams
    if ups:
        t, hidden = upstreams_table(rep, ups[: top * 2], c.width)
        c.print(t)
        if hidden:
            c.print(Text(f"not shown at {c.width} columns: {', '.join(hidden)} (--width 120, or "
                         "--format json, which keeps every field)", style="dim"))

    split = [(u, loc, h) for u in ups for loc, h in (u.get("by_location") or {}).items()]
    if any(len(u.get("by_location") or {}) > 1 for u in ups):
        t = Table(
            title="Timings by upstream and location (each location's own timeout)", title_justify="left"
        )
        for col in ("upstream", "location", "count", "p50", "p95", "p99", "max", "timeout", ">=80% timeout"):
            left = col in ("upstream", "location")
            t.add_column(
                col, justify="left" if left else "right", overflow="fold", max_width=30 if left else None
            )
        for u, loc, h in split[: top * 3]:
            t.add_row(
                _t(u["address"], 60),
                _t(loc, 60),
                _n(h["count"]),
                _s(h["p50"]),
                _s(h["p95"]),
                _s(h["p99"]),
                _s(h["max"]),
                _s(h["timeout"]) if h.get("timeout") is not None else "?",
                _n(h.get("near_timeout", 0)),
            )
        c.print(t)

    for key, title, col in (
        ("by_location", "5xx by location", "location"),
        ("by_host", "By host", "host"),
        ("by_uri", "5xx by URI template", "uri"),
        ("by_client", "5xx by client", "client"),
    ):
        rows = getattr(rep, key) or []
        if not rows or (key != "by_host" and not rep.total_5xx):
            continue
        t = Table(title=title, title_justify="left")
        t.add_column(col)
        extra = [k for k in rows[0] if k != col]
        for k in extra:
            # the column of the 5xx the proxy made (``by_proxy``; ``by_nginx`` in a report saved
            # before issue 23) is headed with the proxy's word, as it always was
            t.add_column(f"by_{who(proxies.DEFAULT, rep)}" if k in ("by_proxy", f"by_{proxies.DEFAULT}")
                         else k, justify="right")
        for r in rows[:top]:
            t.add_row(_t(r[col], 60), *(_n(r.get(k)) for k in extra))
        c.print(t)

    el = rep.errorlog
    if el:
        c.print(
            Text.assemble(
                ("Error-log join: ", "bold"),
                f"{el['matched_5xx']:,} 5xx requests matched an error-log line, "
                f"{el['unmatched_5xx']:,} did not"
                + (
                    f" ({el.get('unmatched_with_backend_header', 0):,} of them have a backend "
                    "response header: the backend made them)"
                    if el.get("unmatched_5xx")
                    else ""
                ),
            )
        )
        if el.get("by_symptom"):
            t = Table(title="Symptoms of the 5xx (from the error log)", title_justify="left", min_width=44)
            t.add_column("symptom")
            t.add_column("requests", justify="right")
            for sym, n in el["by_symptom"].items():
                t.add_row(_t(sym, 40), _n(n))
            c.print(t)
        for smp in el.get("unmatched_samples", [])[:3]:
            c.print(
                Text.assemble(
                    "  unmatched: ",
                    f"{smp['file']}:{smp['line']} {smp['status']} ",
                    _t(smp["request"], 100),
                    " from ",
                    _t(smp["client"], 40),
                )
            )
    servers = rep.servers_now or []
    if servers:
        where = proxies.of(rep.proxy).vocabulary.runtime_servers  # its runtime API's view
        t = Table(title="Servers now" + (f" ({where})" if where else ""), title_justify="left")
        for col in ("server", "address", "state", "last check"):
            t.add_column(col)
        for srv in servers[: top * 2]:
            state = str(srv.get("state", ""))
            t.add_row(_t(srv.get("server"), 60), _t(srv.get("address"), 60),
                      _t(state, 20, "red" if state.startswith(("DOWN", "MAINT")) else ""),
                      _t(srv.get("check"), 20))
        c.print(t)
    reqs = rep.requests_5xx or []
    if reqs:
        t = Table(
            title=f"First 5xx requests ({min(top, len(reqs))} of {rep.total_5xx:,})",
            title_justify="left",
        )
        for col in ("minute", "status", "request", "upstream", "made by", "symptom"):
            # a time is never split nor cut (issue 31): compact, one piece
            t.add_column(col, no_wrap=col in ("minute", "status"))
        for r in reqs[:top]:
            t.add_row(
                _t(compact_time(r.get("minute"))),
                _t(r.get("status")),
                _t(r.get("request"), 60),
                _t(r.get("ua"), 40),
                _t(who(r.get("made_by"), rep)),
                _t(r.get("symptom") or ""),
            )
        c.print(t)


# the Upstreams table's columns the narrowest terminal drops first (issue 31: at 80 columns the
# address and location columns were squeezed to nothing and "2.01s" was cut to "2."); the
# address, attempts, failures, 5xx, p95 and the timeout stay
_DROP_ORDER = ("p50", "p99", "rescued", "max", ">=80% timeout")
_NARROW_MIN = 16  # the address column's least width before more columns go


def upstreams_table(rep: StatsReport, ups: list[dict[str, Any]], width: int) -> tuple[Table, list[str]]:
    """The Upstreams table fitted to ``width`` columns, and the names of the columns left out.

    Every cell is measured first.  When the whole table fits it is drawn as before (heavy
    box, one column per field); when it does not, it is drawn without vertical rules and the
    location goes under the address (one column), then the lower-value columns go, in
    ``_DROP_ORDER``, until the address column keeps ``_NARROW_MIN`` characters.  A number or a
    time is never wrapped nor cut; headers wrap at their spaces.  ``--format json`` keeps every
    field whatever the width."""
    words = proxies.of(rep.proxy).vocabulary
    maker = who(proxies.DEFAULT, rep)
    target, route = words.stats_target, words.route
    names = (target, route, "attempts", "failed", f"5xx {maker}/backend", "rescued", "p50", "p95",
             "p99", "max", words.stats_timeout_column, ">=80% timeout")
    rows: list[dict[str, Text]] = []
    for u in ups:
        h = u["header_time"] if u["header_time"]["count"] else u["response_time"]
        mb = u.get("made_by", {})
        near = u.get("near_timeout", 0)
        five = f"{u['requests_5xx']:,}"
        if u["requests_5xx"]:
            five += f" {mb.get(proxies.DEFAULT, 0):,}/{mb.get('backend', 0):,}"
        cells = (_t(u["address"], 60), _t(", ".join(u.get("locations") or []) or "?", 60),
                 _n(u["attempts"]), _n(u["failed_attempts"]), Text(five, justify="right"),
                 _n(u.get("rescued_failures", 0)), Text(_s(h["p50"])), Text(_s(h["p95"])),
                 Text(_s(h["p99"])), Text(_s(h["max"])),
                 Text(_s(u["timeout"]) if u.get("timeout") is not None else "?"),
                 Text(f"{near:,}", style="yellow" if near else "", justify="right"))
        rows.append(dict(zip(names, cells, strict=True)))

    def need(name: str) -> int:  # a column's width: its widest cell, its header's longest word
        return max([cell_len(w) for w in name.split()] + [r[name].cell_len for r in rows])

    wide = sum(need(n) + 3 for n in names) + 1  # heavy box: " cell " and a rule per column
    if wide <= width:
        t = Table(title=words.stats_groups, title_justify="left")
        for name in names:
            left = name in (target, route)
            t.add_column(name, justify="left" if left else "right", no_wrap=not left,
                         overflow="fold", max_width=30 if left else None)
        for r in rows:
            t.add_row(*(r[n] for n in names))
        return t, []
    # narrow: the location under the address, no vertical rules (a blank one), no outer edge
    shown = list(names[2:])
    hidden: list[str] = []
    place = max(need(target), need(route) + 2)
    for name in _DROP_ORDER:  # each column after the first: a space, a rule, a space
        if sum(need(n) + 3 for n in shown) + min(place, _NARROW_MIN) <= width:
            break
        shown.remove(name)
        hidden.append(name)
    room = max(_NARROW_MIN, width - sum(need(n) + 3 for n in shown))
    t = Table(title=words.stats_groups, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
              pad_edge=False, padding=(0, 1))
    t.add_column(f"{target}\n  {route}", overflow="fold", width=min(room, place))
    for name in shown:  # a header on a line per word; a number never wrapped
        t.add_column(name.replace(" ", "\n"), justify="right", no_wrap=True, width=need(name))
    for r in rows:
        place_cell = Text.assemble(r[target], "\n  ", r[route])
        t.add_row(place_cell, *(r[n] for n in shown))
    return t, hidden
