"""``why502 explain ARG``: an ID, a status code, or a pasted log line -> the catalog page(s).

The pure parts (resolving IDs and codes, rendering an entry) are in ``why502.catalog.explain``,
the result (``Explanation``) in ``why502.findings.explain``, its page in
``why502.reporters.text.explain``; this module adds the one thing the catalog layer may not
do: classify a pasted log line with ``why502.parsers.errorlog.classify_line`` (imported lazily,
so ``why502 explain ID`` never loads the classifier's regex tables).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from why502.catalog import Catalog, Entry, load_catalog
from why502.catalog import explain as cat
from why502.catalog.terms import Term, find_terms
from why502.errors import UsageError
from why502.findings.explain import Explanation, LineInfo
from why502.textutil import shorten, strip_terminal_escapes

if TYPE_CHECKING:
    from why502.parsers.lblogs.model import LbRecord


# The record's ``source`` -> the page under docs/proxies of a program outside the proxy registry
# (what why502 reads from it); a registered proxy's page is docs/proxies/<its name>.md.
_OTHER_PAGES: dict[str, str] = {"cloudflare": "cloudflare", "alb": "alb", "elb": "alb"}


def _page(fields: dict[str, str | int | None]) -> str | None:
    """The page of the program that wrote a classified line (``LineInfo.page``)."""
    return proxy_page(str(fields.get("source") or ""), str(fields.get("message") or ""))


def proxy_page(source: str, message: str) -> str | None:
    """``docs/proxies/<proxy>.md`` for a record of ``source``: a registered proxy's (the one of
    that name, else the one whose ``Detection.log_sources`` has it), else another program's.  The
    go-proxy rules read both Caddy's error logger and cloudflared (its "Unable to reach the
    origin service" wrap of the same Go errors)."""
    from why502.proxies import PROXIES  # lazy: `explain ID` reads no registry

    if source in PROXIES:
        return f"docs/proxies/{source}.md"
    owner = next((p.name for p in PROXIES.values() if source in p.detection.log_sources), None)
    if owner is not None and "origin service" in message.lower():
        owner = _OTHER_PAGES["cloudflare"]
    name = owner or _OTHER_PAGES.get(source)
    return f"docs/proxies/{name}.md" if name else None


def explain(arg: str) -> Explanation:
    """Resolve ``arg``.  Raises :class:`UsageError` (exit 2) with a one-line reason when it cannot."""
    text = arg.strip()
    if not text:
        raise UsageError("nothing to explain: give a cause/symptom ID, a status code or a log line")
    code = cat.normalize_status(text)
    if code is not None:
        return Explanation(query=text, type="status", status=cat.resolve_status(code),
                           terms=[t for t in find_terms(str(int(code))) if t.kind == "status"])
    catalog = load_catalog()
    as_id = cat.normalize_id(text)
    if cat.looks_like_log_line(text) and catalog.find(as_id):
        # "backend not running" is an ID typed with spaces, not a log line.
        return Explanation(query=text, type="id", entries=catalog.find(as_id))
    terms = find_terms(text) if not catalog.find(as_id) else []
    if terms:
        return Explanation(query=text, type="term", entries=_term_entries(terms, catalog), terms=terms)
    if cat.looks_like_log_line(text):
        return _explain_line(text)
    # one token that is no ID, status or term may still be a log token (Envoy's details
    # "upstream_reset_before_response_started{connection_termination}"): read it as classify does
    from why502.parsers.recognise import read_line
    from why502.proxies.logfamilies import families
    if read_line(text, families()).symptom:
        return _explain_line(text)
    return Explanation(query=text, type="id", entries=cat.resolve_id(text, catalog))


def _term_entries(terms: list[Term], catalog: Catalog) -> list[Entry]:
    """The catalog pages a term points to: its symptom, then its root cause (each once)."""
    out: list[Entry] = []
    for t in terms:
        for ref in (t.symptom, t.cause):
            for e in catalog.find(ref) if ref else []:
                if e not in out:
                    out.append(e)
    return out


def _explain_line(text: str) -> Explanation:
    from why502.parsers.access_line import clf_status
    from why502.parsers.normalize import normalize  # lazy: only pasted lines need the classifier
    from why502.parsers.recognise import read_line
    from why502.proxies.logfamilies import families

    first = next((ln for ln in text.splitlines() if ln.strip()), text)
    reading = read_line(first, families())  # the reading classify makes of this line alone: both agree
    if reading.family is not None:
        lb = _explain_lb_line(first, reading.record)
        if lb is not None:
            return lb
    record = reading.classified
    if record is None:
        shown = shorten(strip_terminal_escapes(first.strip()), 70)
        status = clf_status(first.strip())
        if status is not None:
            # a request line of an access log (``parsers.access_line``): no message to explain,
            # and its status alone names no cause -- say what it is and what reads it
            said = ("the proxy answered a 5xx, not why" if status >= 500 else "no failure")
            raise UsageError(
                f"an access-log request line (status {status}: {said}), not an error message: "
                f"{shown!r} -- `why502 stats ACCESS_LOG` counts its requests and "
                "`why502 diagnose --access-log ACCESS_LOG --error-log ERROR_LOG` finds why in the "
                "error log's lines of the same moment")
        raise UsageError(
            f"not a known upstream-failure line: {shown!r} "
            "(why502 reads nginx, Apache, HAProxy, Envoy, Caddy, Traefik, Kong, APISIX, Cloudflare, "
            "app-server and kernel lines)"
        )
    fields = record.to_dict()
    # A fragment still names the symptom; say what it leaves out, so nobody looks for it in vain.
    unseen = tuple(label for label, key in (("timestamp", "time"), ("upstream", "upstream"),
                                            ("client", "client"), ("request", "request"))
                   if not fields.get(key))
    catalog = load_catalog()
    entries = catalog.find(record.symptom)
    # A symptom ID that is also a root cause (port-exhaustion): show the symptom page first.
    entries.sort(key=lambda e: 0 if e.kind in ("symptom", "event") else 1)
    return Explanation(query=text, type="line", entries=entries,
                       line=LineInfo(fields, unseen=unseen, repaired=normalize(first).repairs,
                                     page=_page(fields)))


def _explain_lb_line(first: str, rec: LbRecord | None) -> Explanation | None:
    """A load balancer's / proxy's access-log line (ALB, Cloudflare, Envoy, Caddy, Traefik), as
    its family's parser read it (``rec``).  The symptom shown is the one classify reports: none
    for a request the proxy did not fail itself (a backend's relayed 5xx, a 200)."""
    from why502.catalog.terms import term
    from why502.parsers.recognise import lb_reported

    if rec is None:
        return None
    symptom = rec.symptom if lb_reported(rec) else None
    if symptom is None and lb_reported(rec) and (rec.status or 0) >= 500:
        # the proxy's own 5xx whose reason its access line does not carry (a Traefik or ALB
        # 502): the catalog's event for it, as for a bare status line (issue 31: a pasted
        # Traefik 502 line had no symptom at all)
        symptom = PROXY_REPLY
    fields: dict[str, str | int | None] = {
        "source": rec.family, "symptom": symptom, "status": rec.status, "time": rec.time,
        "made_by": rec.made_by, "code": rec.code, "proxy_status": rec.proxy_status, "cause": rec.cause,
        "upstream": rec.target, "group": rec.group, "request": rec.request, "host": rec.host,
        "message": rec.detail,
    }
    t = term(rec.family, rec.code) if rec.code and symptom else None
    terms = [t] if t else []
    catalog = load_catalog()
    entries = _term_entries(terms, catalog) if terms else (catalog.find(symptom) if symptom else [])
    if symptom == PROXY_REPLY and not any(e.id == PROXY_REPLY for e in entries):
        entries = [*catalog.find(PROXY_REPLY), *entries]
    elif symptom is not None and (not entries or entries[0].id != symptom):
        # the parser's reading is more precise than the flag's term (a UF with a TLS transport
        # failure reason; a 503 with NR, which the term reads as a 404's no-route): its page first
        entries = [*catalog.find(symptom), *(e for e in entries if e.id != symptom)]
    return Explanation(query=first, type="line", entries=entries, line=LineInfo(fields, page=_page(fields)),
                       terms=terms)


PROXY_REPLY = "proxy-reply"
"""The catalog's event for a proxy's own error reply without its reason (events.toml)."""
