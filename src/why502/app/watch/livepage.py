"""The live page of ``why502 watch``: ``/`` on the ``--listen`` listener (off with ``--no-page``).

What it shows: requests and 5xx per second by status and by upstream (uPlot, inlined like the
HTML report's, nothing fetched from the network), the open incident with its cause, evidence and
fix, the targets' health (``--probe-interval``), and the last resolved incidents, each with a
link to its report rendered as HTML (``--reports DIR``).

How it stays small and safe:

- the page is one HTML document built once at start (the scripts and styles inline, allowed by
  their SHA-256 in a ``Content-Security-Policy`` header with ``default-src 'none'``, as the
  report's ``reporters.html.content_security_policy``; ``connect-src 'self'`` for the poll); it
  polls ``/api/state`` every 2 s (polling, not server-sent events: every answer is short, so the
  listener's 10 s write bound and connection caps, ``httpd.Limits``, hold as they are);
- ``/api/state`` is strict JSON (``allow_nan=False``) and bounded: the last ``MAX_POINTS``
  seconds, at most ``MAX_SERIES`` series per chart, the last ``MAX_RESOLVED`` incidents,
  ``MAX_TARGETS`` targets, every string cut to ``MAX_TEXT`` characters;
- log content is hostile: the page's script writes every value with ``textContent`` (never
  ``innerHTML``), the strings pass ``reporters.html.safe_text`` (no terminal escapes, no bidi
  overrides) here first, and ``<``, ``>``, ``&`` are ``\\uXXXX`` in the JSON;
- ``/reports/<id>.html`` serves only a report *this process wrote* (an id of ``resolved``, its
  path as the engine recorded it, checked to be a file directly in ``--reports``): nothing of the
  URL ever becomes a file name, so no other file can be read.

The counts are sampled once a second from the same counters ``/metrics`` exposes
(``traffic.Traffic``), in a daemon thread, so the page costs the watch loop nothing.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from importlib import resources
from pathlib import Path
from typing import Any

from why502.app.watch.engine import Watch
from why502.app.watch.httpd import Request, Response, Route
from why502.app.watch.incidents import Incident
from why502.findings.model import Report
from why502.reporters.html import content_security_policy, render_html, safe_text, script_json

__all__ = ["MAX_POINTS", "MAX_RESOLVED", "MAX_SERIES", "MAX_TEXT", "LivePage", "page_html", "state_json"]

MAX_POINTS = 300  # seconds of history on the charts
MAX_RESOLVED = 20
MAX_SERIES = 8  # per chart; the rest summed as "other"
MAX_TARGETS = 64
MAX_TEXT = 2000
MAX_REPORT_BYTES = 16 << 20  # as `why502 render` reads a report
_ID = re.compile(r"^/reports/(?P<id>[0-9]{8}T[0-9]{6}-[0-9]{1,9})\.html$")
_JSON = "application/json; charset=utf-8"
_HTML = "text/html; charset=utf-8"


def _asset(name: str) -> str:
    """A file inlined in the page; refused if it could end its element early."""
    package = "why502.reporters" if name.startswith("uPlot") else "why502.app.watch"
    text = resources.files(package).joinpath("assets", name).read_text(encoding="utf-8")
    lowered = text.lower()
    if "</script" in lowered or "</style" in lowered or "<!--" in lowered:
        raise ValueError(f"asset {name} cannot be inlined safely")
    return text


def _hash_sources(*blocks: str) -> str:
    """The ``'sha256-...'`` sources of ``blocks`` (the script-src part of the report's CSP)."""
    policy = content_security_policy(*blocks)
    return policy.split("script-src ", 1)[1].split(";", 1)[0]


def page_html() -> tuple[str, str]:
    """The page and its Content-Security-Policy: scripts *and* styles allowed only by hash,
    nothing loaded but the poll of the same origin, never framed."""
    uplot_js, uplot_css = _asset("uPlot.iife.min.js"), _asset("uPlot.min.css")
    page_js, page_css = _asset("why502-live.js"), _asset("why502-live.css")
    csp = (f"default-src 'none'; script-src {_hash_sources(uplot_js, page_js)}; "
           f"style-src {_hash_sources(uplot_css, page_css)}; connect-src 'self'; "
           "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    body = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        "<title>why502 watch</title>\n"
        f"<style>{uplot_css}</style>\n<style>{page_css}</style>\n"
        '</head><body data-state="loading" data-polls="0"><main>\n'
        '<header class="top"><strong>why502 watch</strong> <span id="meta"></span>'
        ' <span id="updated" class="muted"></span></header>\n'
        '<section id="incident" class="verdict"><h2>Open incident</h2><div id="open">'
        '<p class="muted">loading…</p></div></section>\n'
        '<section><h2>Requests per second by status</h2><div id="rate" class="totals"></div>'
        '<div id="chart-status" class="chart"></div></section>\n'
        '<section><h2>5xx per second by upstream</h2><div id="chart-upstream" class="chart">'
        '</div><table id="upstreams"></table></section>\n'
        '<section><h2>Targets (health checks)</h2><div id="health"></div></section>\n'
        '<section><h2>Resolved incidents</h2><div id="resolved"></div></section>\n'
        "<footer>why502 watch. Charts: uPlot (MIT licence, © Leon Sorokin), embedded.</footer>\n"
        "</main>\n"
        f"<script>{uplot_js}</script>\n<script>{page_js}</script>\n</body></html>\n"
    )
    return body, csp


def _text(value: object) -> str:
    text = safe_text(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _clean(value: Any) -> Any:
    """Every string inert and cut; numbers finite (strict JSON)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {_text(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value[:MAX_POINTS]]
    return _text(value)


class LivePage:
    """The page's routes, its once-a-second sampler and what it remembers of resolved
    incidents (``on_change`` is one of the watch's callbacks)."""

    def __init__(self, watch: Watch, interval: float = 1.0) -> None:
        self.watch = watch
        self.interval = interval
        self.lock = threading.Lock()
        # one point a second: (epoch, {status: n}, {upstream: (requests, 5xx)}), the deltas
        self.points: deque[tuple[int, dict[str, int], dict[str, tuple[int, int]]]] = deque(
            maxlen=MAX_POINTS)
        self.resolved: deque[dict[str, Any]] = deque(maxlen=MAX_RESOLVED)
        self.reports: dict[str, str] = {}  # incident id -> the report file the engine wrote
        self._last: tuple[dict[str, int], dict[tuple[str, str], int]] | None = None
        self.stopped = threading.Event()
        self.html, self.csp = page_html()
        self.thread = threading.Thread(target=self._loop, name="why502-livepage", daemon=True)
        watch.on_change.append(self.on_change)

    # -- what happens ----------------------------------------------------------------------

    def on_change(self, inc: Incident, kind: str) -> None:
        """Called by the watch loop after each incident event."""
        if kind != "incident-resolved":
            return
        with self.lock:
            self.resolved.appendleft(inc.to_dict())
            if inc.report_file:
                self.reports[inc.id] = inc.report_file
            kept = {d["id"] for d in self.resolved}
            self.reports = {k: v for k, v in self.reports.items() if k in kept}

    def sample(self, now: float | None = None) -> None:
        """One point: the requests by status and by upstream since the last sample."""
        traffic = self.watch.metrics.traffic
        with traffic.lock:
            by_status: dict[str, int] = {}
            for (_server, status), n in traffic.requests.items():
                by_status[status] = by_status.get(status, 0) + n
            by_upstream = dict(traffic.responses)
        last, self._last = self._last, (by_status, by_upstream)
        if last is None:
            return
        statuses = {s: n - last[0].get(s, 0) for s, n in by_status.items()
                    if n - last[0].get(s, 0) > 0}
        ups: dict[str, tuple[int, int]] = {}
        for (up, status), n in by_upstream.items():
            d = n - last[1].get((up, status), 0)
            if d > 0:
                req, err = ups.get(up, (0, 0))
                ups[up] = (req + d, err + (d if status.startswith("5") else 0))
        with self.lock:
            self.points.append((int(time.time() if now is None else now), statuses, ups))

    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.interval)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    # -- what the page reads ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The JSON of ``/api/state`` (bounded: see the module's docstring)."""
        w = self.watch
        with self.lock:
            points = list(self.points)
            resolved = [dict(d) for d in self.resolved]
        t = [p[0] for p in points]
        status_tot: dict[str, int] = {}
        up_err: dict[str, int] = {}
        for _t, st, ups in points:
            for s, n in st.items():
                status_tot[s] = status_tot.get(s, 0) + n
            for u, (_r, e) in ups.items():
                up_err[u] = up_err.get(u, 0) + e
        statuses = sorted(sorted(status_tot, key=lambda s: -status_tot[s])[:MAX_SERIES])
        upstreams = sorted(sorted((u for u in up_err if up_err[u]),
                                  key=lambda u: -up_err[u])[:MAX_SERIES])
        series = {
            "t": t,
            "requests": [sum(st.values()) for _t, st, _u in points],
            "errors": [sum(n for s, n in st.items() if s.startswith("5")) for _t, st, _u in points],
            "status": {s: [st.get(s, 0) for _t, st, _u in points] for s in statuses},
            "upstream_5xx": {u or "-": [ups.get(u, (0, 0))[1] for _t, _s, ups in points]
                             for u in upstreams},
        }
        recent = points[-10:]
        table: dict[str, list[int]] = {}
        for _t, _st, ups in recent:
            for u, (r, e) in ups.items():
                row = table.setdefault(u or "-", [0, 0])
                row[0] += r
                row[1] += e
        top = sorted(table.items(), key=lambda kv: (-kv[1][1], -kv[1][0]))[:MAX_SERIES * 2]
        inc = w.incident
        open_ = None
        if inc is not None:
            open_ = inc.to_dict()
            open_["diagnosing"] = w.pending is not None
        for d in resolved + ([open_] if open_ else []):
            d.pop("report", None)  # a path on this host: the page links report_url instead
        for d in resolved:
            d["report_url"] = f"/reports/{d['id']}.html" if d["id"] in self.reports else None
        state = {
            "instance": w.options.instance,
            "now": int(time.time()),
            "window_seconds": w.options.rules.window,
            "series": series,
            "upstreams": [{"upstream": u, "requests_per_s": r / max(1, len(recent)),
                           "errors_per_s": e / max(1, len(recent))} for u, (r, e) in top],
            "open": open_,
            "resolved": resolved,
            "health": self._health(),
        }
        return dict(_clean(state))

    def _health(self) -> dict[str, Any]:
        o = self.watch.options
        if o.probe_interval <= 0:
            return {"enabled": False, "targets": []}
        up = {s.labels["target"]: s.value for m in self.watch.metrics.target_up.collect()
              for s in m.samples}
        took = {s.labels["target"]: s.value for m in self.watch.metrics.target_latency.collect()
                for s in m.samples}
        targets = [{"target": k, "up": v >= 1, "probe_seconds": took.get(k)}
                   for k, v in sorted(up.items(), key=lambda kv: (kv[1], kv[0]))[:MAX_TARGETS]]
        return {"enabled": True, "interval_seconds": o.probe_interval, "targets": targets}

    # -- the routes ------------------------------------------------------------------------

    def _headers(self, csp: str | None) -> tuple[tuple[str, str], ...]:
        common = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                  ("Cache-Control", "no-store"))
        return ((("Content-Security-Policy", csp),) if csp else ()) + common

    def routes(self) -> dict[str, Route]:
        """``/``, ``/api/state`` and ``/reports/<id>.html``, for ``Metrics.serve(routes=)``."""

        def page(req: Request) -> Response:
            return Response(200, _HTML, self.html.encode("utf-8"), self._headers(self.csp))

        def api(req: Request) -> Response:
            for _ in range(3):
                try:
                    state = self.state()
                    break
                except RuntimeError:
                    # the loop thread grew the incident's symptom set while it was copied
                    # (``Incident.to_dict``; the engine holds no lock): read it again
                    continue
            else:
                return Response(503, "text/plain; charset=utf-8", b"busy, retry\n",
                                self._headers(None))
            body = state_json(state)
            return Response(200, _JSON, body.encode("utf-8"),
                            self._headers("default-src 'none'; frame-ancestors 'none'"))

        def report(req: Request) -> Response:
            return self.report(req.path)

        return {"/": page, "/api/state": api, "/reports/*": report}

    def report(self, path: str) -> Response:
        """``/reports/<id>.html``: the report of a resolved incident this process wrote, rendered
        by the HTML reporter; any other path is 404 (see the module's docstring)."""
        m = _ID.match(path)
        with self.lock:
            name = self.reports.get(m.group("id")) if m else None
        reports_dir = self.watch.options.reports_dir
        if name is None or reports_dir is None:
            return self._not_found()
        file = Path(name)
        try:
            inside = file.resolve(strict=True).parent == Path(reports_dir).resolve(strict=True)
            if not inside or not file.resolve().is_file():
                return self._not_found()
            with open(file, "rb") as fh:
                raw = fh.read(MAX_REPORT_BYTES + 1)
            if len(raw) > MAX_REPORT_BYTES:
                return self._not_found()
            rendered = render_html(Report.from_dict(json.loads(raw.decode("utf-8"))))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return self._not_found()
        # the report's own CSP is in its <meta>; nosniff and no-store here
        return Response(200, _HTML, rendered.encode("utf-8"), self._headers(None))

    def _not_found(self) -> Response:
        return Response(404, "text/plain; charset=utf-8", b"not found\n", self._headers(None))


def state_json(state: dict[str, Any]) -> str:
    """Strict JSON (a NaN or an Infinity raises, never reaches the wire), with ``<``, ``>``,
    ``&`` and U+2028/U+2029 as ``\\uXXXX`` like the report's data block."""
    json.dumps(state, allow_nan=False)
    return script_json(state)
