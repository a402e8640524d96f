"""The classify rules (``catalog/data/patterns.toml``) as typed data.

One table feeds both classify engines (the per-line ``why502.parsers.errorlog`` and the vectorised
``why502.parsers.errorlog_batch``) and the catalog docs pages, which list the patterns of each
symptom with their provenance (the emitting program's source file and function).  A ``match``
rule's named groups are the line's facts (pid, process, pool, unit, ...): the classified record
carries them (``captures``) so nothing downstream recognises the same line again.

Loading uses only ``tomllib`` (``catalog.tomldata``) so ``why502 explain "<pasted line>"`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from why502.catalog import tomldata
from why502.catalog.folders import folder_tables


@dataclass(frozen=True)
class PatternInfo:
    """One rule.  ``key`` rules match parsed line parts (nginx phrase, HAProxy termination state);
    ``match`` rules search a regex in the message part.  Order in the file is priority."""

    id: str
    source: str
    symptom: str
    status: int | None
    text: str
    provenance: str
    example: str
    key: tuple[str, ...] = ()
    prefix: bool = False
    match: str | None = None
    needle: tuple[str, ...] = ()
    errno: tuple[int, ...] = ()
    action: tuple[str, ...] = ()
    action_optional: bool = False
    level: tuple[str, ...] = ()
    detail: tuple[str, ...] = ()
    # a second literal condition of a key rule: one of these must appear in the message too (the
    # leftmost of the key's ``also`` literals, as ``detail`` is the leftmost of its details): the
    # error a message ends with, where its leftmost literal is the message itself (Kong 0.x's
    # "failed the initial dns/balancer resolve for 'h' with: dns server error ...")
    also: tuple[str, ...] = ()
    upstream_from: str | None = None  # the capture that is the record's upstream (kernel: process)
    event_summary: str | None = None  # "PHP-FPM pool [{pool}] child {pid} exited on {signal}"
    event: str | None = None  # the evidence event the line also shows (upstream-marked-down)
    event_when: str | None = None  # ... only when this capture was found ("down": "is DOWN")
    side: str | None = None  # backend, proxy or client; default: DEFAULT_SIDE[symptom]
    # a state change logged once per transition, not once per request (HAProxy's "backend app
    # has no server available!"): proof and time of the symptom, never a failed request counted
    once: bool = False
    # a second regex, searched where ``match`` matched: a line it finds is not this rule's (the
    # look-ahead every engine can honour: Rust's regex, which the batch engine and the catalog
    # tests compile each pattern with, has none).  mod_proxy_fcgi's AH01075 "(reading input
    # brigade)" is the client's body that did not come, not the backend (patterns.toml)
    unless: str | None = None
    # the rule reads a message people also write about (a code, a reply text): a line the
    # catalog's ``[prose] told_about`` regex finds (an explanation, a docs sentence, a modal or
    # conditional "would return 503", a developer's question) is talk about the message, not a
    # report of a request it failed; merged into ``unless`` when the patterns are loaded
    prose: bool = False
    # a fallback read only when no other rule, a proxy folder's included, takes the line: a
    # proxy's 5xx told in prose names no cause, and a cause named in the same line (Kong's
    # "failure to get a peer from the ring-balancer" after "We experienced some 503 errors")
    # must win; ``_data`` puts these rules after the folders' own
    last: bool = False
    order: int = 0

    def event_for(self, captured: frozenset[str] = frozenset()) -> str | None:
        """The evidence event of a line this rule matched (``captured``: its capture names).

        An event-only rule (its symptom is an event ID) names its own event."""
        if self.symptom in EVENT_IDS:
            return self.symptom
        if self.event is None or (self.event_when is not None and self.event_when not in captured):
            return None
        return self.event

    @property
    def side_of(self) -> str | None:
        """Who the line is about: ``backend``, ``proxy`` or ``client`` (None: the machine)."""
        return self.side or DEFAULT_SIDE.get(self.symptom)

    @property
    def needles(self) -> tuple[str, ...]:
        """Literal texts, lower-cased, one of which appears in every line this rule matches.

        Used by the batch engine's cheap prefilter; an empty tuple means "cannot prefilter"."""
        if self.key:
            # the part before any quote: shippers may have escaped quotes as \"
            return tuple(k.split('"')[0].lower() for k in self.key)
        return tuple(n.lower() for n in self.needle)


# Evidence events of the catalog (events.toml): not upstream failures by themselves.
EVENT_IDS: frozenset[str] = frozenset({
    "fpm-max-children", "worker-crashed", "worker-timeout", "oom-kill", "unit-restart", "unit-failed",
    "listen-failed", "selinux-avc", "upstream-marked-down", "slow-request", "listen-queue-full",
    "proxy-reply", "app-listening", "app-bad-request",
})
# Events that are themselves a request a proxy failed (its own error reply, pasted without the
# reason): they name no cause, but classify counts them as failed requests (exit 1), since a
# proxy that made a 5xx is never healthy.
FAILED_REQUEST_EVENTS: frozenset[str] = frozenset({"proxy-reply"})
# The records classify does not count as failed requests: the other evidence events.
NOT_FAILED_REQUESTS: frozenset[str] = EVENT_IDS - FAILED_REQUEST_EVENTS


def is_failed_request(symptom: str | None) -> bool:
    """Whether classify counts a record of ``symptom`` as a failed request (its exit 1, the
    summary's failures): an upstream failure, or a proxy's own error reply -- not another event."""
    return symptom not in NOT_FAILED_REQUESTS
# Who a symptom is about when the rule does not say: the backend failed or refused, or the proxy
# itself ran out of something or refused to go on (its limits, its resolver, its config).
DEFAULT_SIDE: dict[str, str] = {
    **{s: "backend" for s in (
        "connection-refused", "socket-not-found", "backlog-full", "connect-timeout", "read-timeout",
        "send-timeout", "premature-close", "connection-reset", "broken-pipe", "invalid-response",
        "unreachable", "app-error", "tls-failure", "connect-failed", "check-wrong-status",
        "fpm-max-children", "worker-crashed", "worker-timeout", "slow-request", "listen-queue-full",
        "listen-failed", "upstream-marked-down", "queue-timeout")},
    **{s: "proxy" for s in (
        "permission-denied", "no-live-upstreams", "header-too-big", "dns-failure", "port-exhaustion",
        "fd-exhaustion", "rate-limited")},
}
_SIDES = frozenset({"backend", "proxy", "client"})

_LIST_FIELDS = ("key", "errno", "action", "level", "detail", "also", "needle")


def _info(order: int, raw: dict[str, Any], told_about: str | None = None) -> PatternInfo:
    data = dict(raw)
    if data.get("prose") and told_about:
        own = data.get("unless")
        data["unless"] = f"(?:{own})|(?:{told_about})" if own else told_about
    if isinstance(data.get("needle"), str):
        data["needle"] = [data["needle"]]
    for name in _LIST_FIELDS:
        if name in data:
            data[name] = tuple(data[name])
    data.setdefault("status", None)
    return PatternInfo(order=order, **data)


@lru_cache(maxsize=1)
def once_patterns() -> frozenset[str]:
    """The IDs of the ``once`` rules (``PatternInfo.once``)."""
    return frozenset(p.id for p in load_patterns() if p.once)


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    """``patterns.toml``, its ``pattern`` list followed by each proxy folder's own
    ``proxies/<name>/patterns.toml`` rules (``catalog.folders``: Kong's, moved there when it joined
    the registry), in folder order: first match wins, so a folder's rules come after the
    catalog's, and the catalog's fallbacks (``last = true``) after both."""
    data = tomldata.table(resources.files("why502.catalog").joinpath("data", "patterns.toml"))
    rules = data.get("pattern", [])
    fallbacks = [r for r in rules if r.get("last")]
    data["pattern"] = [r for r in rules if not r.get("last")]
    for _folder, own in folder_tables("patterns.toml"):
        data["pattern"] = [*data["pattern"], *own.get("pattern", [])]
    data["pattern"] = [*data["pattern"], *fallbacks]
    return data


@dataclass(frozen=True)
class Families:
    """Which source each log family of the classify engines is (``patterns.toml`` ``[families]``,
    ``[heads]``): data, so that the parsers, below the proxy registry, name no proxy."""

    phrase: str  # the error line cut into key phrase, errno, action, level, detail (nginx's)
    session: str  # the session line keyed by its termination state (HAProxy's)
    heads: dict[str, str]  # source -> the head its lines start with (``parsers.heads``)


@lru_cache(maxsize=1)
def families() -> Families:
    """The log families of ``patterns.toml`` (its ``[families]`` and ``[heads]`` tables)."""
    data = _data()
    fam = data["families"]
    return Families(phrase=str(fam["phrase"]), session=str(fam["session"]),
                    heads={str(k): str(v) for k, v in data.get("heads", {}).items()})


def snippet_language() -> str:
    """The code-fence language of the catalog's fix snippets (``[docs]`` of patterns.toml)."""
    return str(_data().get("docs", {}).get("fix_snippet_lang", "text"))


@lru_cache(maxsize=1)
def load_patterns() -> tuple[PatternInfo, ...]:
    """All patterns, in priority order (first match wins).  Raises ``ValueError`` on bad data."""
    data = _data()
    raw = data.get("pattern", [])
    told = data.get("prose", {}).get("told_about")
    out = tuple(_info(i, r, str(told) if told else None) for i, r in enumerate(raw))
    check_patterns(out)
    return out


def check_patterns(out: tuple[PatternInfo, ...]) -> None:
    """Raise ``ValueError`` on a rule the engines cannot run (``load_patterns`` calls it)."""
    seen: set[str] = set()
    for p in out:
        if p.id in seen:
            raise ValueError(f"duplicate pattern id {p.id!r}")
        seen.add(p.id)
        if bool(p.key) == bool(p.match):
            raise ValueError(f"pattern {p.id!r} needs exactly one of key/match")
        if not p.needles or not all(p.needles):
            raise ValueError(f"pattern {p.id!r} needs non-empty needles (prefilter)")
        if p.unless is not None and not p.match:
            raise ValueError(f"pattern {p.id!r}: unless needs a match regex")
        if p.also and not p.key:
            raise ValueError(f"pattern {p.id!r}: also needs a key")
        if p.side is not None and p.side not in _SIDES:
            raise ValueError(f"pattern {p.id!r}: side must be one of {sorted(_SIDES)}")


@lru_cache(maxsize=1)
def patterns_by_id() -> dict[str, PatternInfo]:
    """Every pattern by its id (records name the pattern that matched them)."""
    return {p.id: p for p in load_patterns()}


def patterns_for_symptom(symptom: str) -> list[PatternInfo]:
    """The patterns that yield ``symptom`` (for the docs pages of the catalog)."""
    return [p for p in load_patterns() if p.symptom == symptom]


# OpenResty gateways write nginx lines: a phrase rule's id prefix names them (``[programs]``
# ``by_id_prefix``; the programs a rule's lines come from where its ``source`` does not name them
# by itself, and the edge programs, are ``patterns.toml``'s ``[programs]`` too: the go-proxy rules
# read cloudflared's and Caddy's Go errors).  Data, since a registered proxy's name is no literal
# outside ``proxies/`` (tests/proxies/test_proxy_neutral.py).


def programs_for_symptom(symptom: str, listed: list[str]) -> list[str]:
    """``listed`` (a catalog entry's ``proxies``) and, after them, the edge programs whose rules
    (``patterns.toml``) or vocabulary (``proxy_terms.toml``) yield ``symptom``: a page reached
    from an Envoy or Cloudflare line names those programs too (issue 31 item 8), derived from the
    rules so it cannot drift from them."""
    from why502.catalog.terms import load_terms

    out = list(listed)
    extra: list[str] = []
    programs: dict[str, list[str]] = _data()["programs"]
    by_prefix = frozenset(programs.get("by_id_prefix", ()))
    phrase = families().phrase
    for p in patterns_for_symptom(symptom):
        prefix = p.id.split("-", 1)[0]
        if p.source == phrase:
            names: tuple[str, ...] = (prefix,) if prefix in by_prefix else ()
        else:
            names = tuple(programs.get(p.source, (p.source,)))
        extra += names
    extra += [t.family for t in load_terms() if t.symptom == symptom]
    edge = set(programs["edge"])
    for name in extra:
        if name in edge and name not in out:
            out.append(name)
    return out


def program_names(source: str) -> list[str]:
    """The programs whose lines a rule ``source`` reads (``patterns.toml``'s ``[programs]``:
    ``go-proxy`` is Caddy's and cloudflared's Go errors), else the source itself."""
    programs: dict[str, list[str]] = _data()["programs"]
    return list(programs.get(source, [source]))
