"""Per-line classifier: recognise one log line of any supported program, without being told.

This is the pure-Python engine (``re`` only, no polars) behind ``why502 explain "<pasted line>"``
and the reference for the vectorised engine in ``why502.parsers.errorlog_batch``: both use the
regexes defined here and the same ``resolve`` function over ``catalog/data/patterns.toml``, so they
give identical records (a test checks it on every fixture line).

nginx lines are cut into parts following ``src/core/ngx_log.c`` ``ngx_log_error_core()`` and
``src/http/ngx_http_request.c`` ``ngx_http_log_error_handler()``::

    <YYYY/MM/DD HH:MM:SS> [<level>] <pid>#<tid>: *<conn> <message>[ (<errno>: <text>)][ while
    <action>], client: <addr>, server: <name>[, request: "..."][, upstream: "..."][, host: "..."]

and the pattern is chosen from (key phrase, errno, action, level, detail, also).  Regexes used by both
engines stay within the syntax common to Python ``re`` and Rust ``regex``: no lookaround, no
backreferences.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from why502.catalog.patterns import PatternInfo, families, load_patterns
from why502.facts.captures import Captures, find_capture
from why502.parsers import wrappers
from why502.parsers.access_line import is_clf_request
from why502.parsers.heads import Head, declared, head_for, session_line
from why502.parsers.needles import NeedleSearch
from why502.parsers.normalize import CREATES_KEYS, REPAIR_NEEDLES, normalize
from why502.parsers.rule_search import Searcher, rule_searcher

# ----------------------------------------------------------------------------------------------
# Regexes shared with the batch engine (Rust-regex compatible)
# ----------------------------------------------------------------------------------------------

# ASCII digits throughout: ``\d`` is any script's digit in Python's ``re`` and Rust's ``regex``
# alike, and nginx writes its times and numbers with ``%d`` (ngx_log_error_core())
ENGINE_TIME = r"[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
ENGINE_HEAD = (
    r"^(?P<time>" + ENGINE_TIME + r") \[(?P<level>[a-z]+)\] [0-9]+#[0-9]+: (?:\*[0-9]+ )?(?P<msg>.*)$"
)
# The same head, split for the batch engine: the Rust regex engine resolves capture groups over
# the whole match span, so a ``(?P<msg>.*)`` capture costs a pass over every line; the batch
# engine tests/strips this capture-free prefix instead and slices the fixed-width time.
ENGINE_HEAD_PREFIX = "^" + ENGINE_TIME + r" \[[a-z]+\] [0-9]+#[0-9]+: (?:\*[0-9]+ )?"
ENGINE_LEVEL = r"^.{19} \[([a-z]+)\]"
ERRNO = r"\(([0-9]{1,9}): "
ACTION = r" while ([^,()]*(?:,|$))"
# The request context nginx appends, in its fixed order (ngx_http_log_error_handler()):
# one regex, one scan per line.  A line cut inside a field keeps the fields before it.
FIELDS = (
    r', client: (?P<client>[^,]*)(?:, server: (?P<server>[^,]*))?(?:, request: "(?P<request>[^"]*)")?'
    r'(?:, subrequest: "[^"]*")?(?:, upstream: "[^"]*")?(?:, host: "(?P<host>[^"]*)")?'
)
# The upstream on its own (the summary needs only this one; a cheap literal-led regex).
UPSTREAM_ONLY = r', upstream: "([^"]*)"'


def upstream_peer(named: bool = True, stop: str = "") -> str:
    """nginx's upstream field up to the peer, ``<schema><peer>`` of ``<schema><peer>[:]<uri>``
    (``ngx_http_log_error_handler()``: ``u->schema``, the peer's name, then the URI): the
    scheme (``http``, ``fastcgi``, ...; written as in the config, so any case) and the peer
    (``127.0.0.1:8080``, ``[::1]:8080``, ``unix:/run/php.sock``, a group's name).

    The one peer regex: ``named`` gives the groups ``scheme`` and ``peer``; without, it is
    capture-free (the summary's fast path: a capture costs the Rust engine an extra pass).
    ``stop``: characters the peer cannot hold (``"``: the field's closing quote, when the regex
    runs over the whole message)."""
    scheme = r"[A-Za-z0-9+.-]+"
    peer = rf"unix:[^:{stop}]*|\[[^\]{stop}]*\](?::\d+)?|[^/{stop}]*"
    if named:
        return rf"(?:(?P<scheme>{scheme})://)?(?P<peer>{peer})"
    return rf"(?:{scheme}://)?(?:{peer})"


UPSTREAM_PEER = "^" + upstream_peer()
FIELD_NAMES: tuple[str, ...] = ("upstream", "client", "server", "request", "host")

_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _:/,'\"=<>@%;!`")


def rx_escape(text: str) -> str:
    """Escape a literal for both Python ``re`` and Rust ``regex`` (only ASCII punctuation)."""
    return "".join(c if c in _SAFE or ord(c) > 127 else "\\" + c for c in text)


@lru_cache(maxsize=1)
def engine_keys() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(plain keys, keys preceded by one variable word), longest first."""
    plain: set[str] = set()
    prefixed: set[str] = set()
    phrase = families().phrase
    for p in load_patterns():
        if p.source == phrase:
            (prefixed if p.prefix else plain).update(p.key)
    return _longest_first(plain), _longest_first(prefixed)


def _longest_first(keys: set[str]) -> tuple[str, ...]:
    # leftmost-first alternation: a longer key must be tried before a key that is its prefix
    return tuple(sorted(keys, key=lambda k: (-len(k), k)))


@lru_cache(maxsize=1)
def key_regex() -> str:
    """``^(?:(?P<k1>plain keys)|\\S+ (?P<k2>prefixed keys))`` applied to the nginx message."""
    plain, prefixed = engine_keys()
    return (
        "^(?:(?P<k1>" + "|".join(rx_escape(k) for k in plain) + ")"
        "|[^ ]+ (?P<k2>" + "|".join(rx_escape(k) for k in prefixed) + "))"
    )


def _literals(field: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    phrase = families().phrase
    for p in load_patterns():
        wanted: tuple[str, ...] = getattr(p, field)
        if p.source == phrase and wanted:
            for k in p.key:
                bucket = out.setdefault(k, [])
                bucket.extend(d for d in wanted if d not in bucket)
    return {k: tuple(v) for k, v in out.items()}


@lru_cache(maxsize=1)
def detail_literals() -> dict[str, tuple[str, ...]]:
    """key -> the detail literals some pattern of that key requires, in the catalog's order."""
    return _literals("detail")


@lru_cache(maxsize=1)
def also_literals() -> dict[str, tuple[str, ...]]:
    """key -> the ``also`` literals some pattern of that key requires, in the catalog's order."""
    return _literals("also")


def _alternations(literals: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """key -> its literals as one alternation in one capture group, in their order."""
    return {k: "(" + "|".join(rx_escape(d) for d in v) + ")" for k, v in literals.items()}


@lru_cache(maxsize=1)
def detail_regexes() -> dict[str, str]:
    """key -> alternation of the detail literals some pattern of that key requires."""
    return _alternations(detail_literals())


@lru_cache(maxsize=1)
def also_regexes() -> dict[str, str]:
    """key -> alternation of the ``also`` literals some pattern of that key requires."""
    return _alternations(also_literals())


# ----------------------------------------------------------------------------------------------
# The record
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Classified:
    """One recognised line: the fields of ``why502 classify --format jsonl`` (minus line/file).

    ``pattern`` is the id of the rule that matched and ``captures`` the facts its named groups
    found (``(("pid", "4242"), ("process", "php-fpm8.2"))``); both are kept out of the JSON
    contract.  Evidence reads pid, process, pool, unit, ... from ``captures`` instead of matching
    the line again."""

    source: str
    symptom: str
    status: int | None
    time: str | None
    level: str | None
    upstream: str | None
    client: str | None
    server: str | None
    request: str | None
    host: str | None
    message: str
    pattern: str = ""
    captures: Captures = ()
    event: str | None = None  # the evidence event the line shows beside its symptom
    side: str | None = None  # backend, proxy or client

    def to_dict(self) -> dict[str, str | int | None]:
        """The JSON fields (without ``pattern`` and ``captures``)."""
        return {"source": self.source, "symptom": self.symptom, "event": self.event, "side": self.side,
                "status": self.status,
                "time": self.time, "level": self.level, "upstream": self.upstream,
                "client": self.client, "server": self.server, "request": self.request,
                "host": self.host, "message": self.message}

    def capture(self, name: str) -> str | None:
        """What the pattern's group ``name`` (or ``name2``, ...) found, or None."""
        return find_capture(self.captures, name)


_ALTERNATIVE = re.compile(r"\d+$")


def captures_of(m: re.Match[str]) -> Captures:
    """A match's named groups as captures: ``pid2`` is ``pid`` (a number only keeps the groups
    of alternatives apart), empty groups are left out, the first of a name wins."""
    out: dict[str, str] = {}
    for name, value in m.groupdict().items():
        if value:
            out.setdefault(_ALTERNATIVE.sub("", name), value)
    return tuple(out.items())


RECORD_FIELDS: tuple[str, ...] = (
    "source", "symptom", "event", "side", "status", "time", "level", "upstream", "client", "server",
    "request",
    "host", "message",
)

# ----------------------------------------------------------------------------------------------
# Rule resolution (shared by both engines)
# ----------------------------------------------------------------------------------------------


def _action_ok(p: PatternInfo, action: str | None) -> bool:
    if not p.action:
        return True
    if action is None:
        return p.action_optional
    if action.endswith(","):
        return action[:-1] in p.action
    # cut short inside the action: accept the actions it is a prefix of
    return any(a.startswith(action) for a in p.action)


@lru_cache(maxsize=4096)
def resolve(
    source: str, key: str | None, errno: int | None, action: str | None, level: str | None,
    detail: str | None, also: str | None = None,
) -> PatternInfo | None:
    """The first ``key`` pattern of ``source`` whose conditions all hold, or None (``also``: the
    leftmost of the key's ``also`` literals the message holds)."""
    if key is None:
        return None
    for p in _key_patterns(source):
        if key not in p.key:
            continue
        if p.errno and errno not in p.errno:
            continue
        if p.level and level is not None and level not in p.level:  # unknown level: cut-off head
            continue
        if p.detail and detail not in p.detail:
            continue
        if p.also and also not in p.also:
            continue
        if not _action_ok(p, action):
            continue
        return p
    return None


@lru_cache(maxsize=32)
def _key_patterns(source: str) -> tuple[PatternInfo, ...]:
    return tuple(p for p in load_patterns() if p.source == source and p.key)


# ----------------------------------------------------------------------------------------------
# The engine's lines: nginx's error line (proxies.ENGINE, Capability.ENGINE_LOGS), the head and
# message whose parts the engines cut (the source ``families().phrase`` names)
# ----------------------------------------------------------------------------------------------

_HEAD = re.compile(ENGINE_HEAD)
# Quantifiers are bounded (a pid has at most 10 digits) and searches start where a run starts:
# an unbounded ``\d+`` searched through a 10 KB run of digits tries every start position to its
# end (quadratic: 0.5 s for one 10 KB line, minutes for a 1 MB one; found by bench/fuzz.py).
_ENGINE_PARTIAL = re.compile(
    r"(?:\[(?P<level>[a-z]+)\] )?(?<![0-9])[0-9]{1,10}#[0-9]{1,10}: (?:\*[0-9]{1,20} )?(?P<msg>.*)$")
_ENGINE_PID_TAIL = re.compile(r"(?<![0-9])[0-9]{1,10}#[0-9]{1,10}: (?:\*[0-9]{1,20} )?$")
_ERRNO = re.compile(ERRNO)
_ACTION = re.compile(ACTION)
_FIELDS = re.compile(FIELDS)
_UPSTREAM_ONLY = re.compile(UPSTREAM_ONLY)


@lru_cache(maxsize=1)
def _stderr_re() -> re.Pattern[str] | None:
    """The head of what the engine's proxy writes to stderr besides its error log ("nginx:
    [emerg] ...", ngx_log_error_core()): data in its folder (``proxies/<name>/heads.toml``
    ``[engine]`` ``stderr``, the folder the catalog's ``[families]`` ``phrase`` names)."""
    rx = declared().get(families().phrase, {}).get("engine", {}).get("stderr")
    return re.compile(str(rx)) if rx else None


@lru_cache(maxsize=1)
def _key_re() -> re.Pattern[str]:
    return re.compile(key_regex())


@lru_cache(maxsize=1)
def _headless_re() -> re.Pattern[str]:
    """An nginx key phrase with no head before it: a plain key after a separator, or a
    prefixed key after one word (``[^ ]+ could not be resolved``).  The word's branch is tried
    only where a space-free run starts (``(?<![^ ])``): a try from a tab, ``:`` or ``]``
    inside the run reads the same word's end, so it matches exactly when the try from the run's
    start does, which ``search`` meets first -- the same matches, in linear time.  Tried from
    every separator, a 256 KiB run of ``1:`` or tabs took minutes (each try walked to the run's
    end: ``diagnose`` of such a line, tests/cli/test_qa_long_runs.py)."""
    plain, prefixed = engine_keys()
    return re.compile(
        r"(?:^|[\s:\]])(?P<m>(?:" + "|".join(rx_escape(k) for k in plain) + ")"
        r"|(?<![^ ])[^ ]+ (?:" + "|".join(rx_escape(k) for k in prefixed) + "))"
    )


@lru_cache(maxsize=64)
def _detail_re(key: str) -> re.Pattern[str] | None:
    rx = detail_regexes().get(key)
    return re.compile(rx) if rx else None


@lru_cache(maxsize=64)
def _also_re(key: str) -> re.Pattern[str] | None:
    rx = also_regexes().get(key)
    return re.compile(rx) if rx else None


def _group(rx: re.Pattern[str], text: str) -> str | None:
    m = rx.search(text)
    return m.group(1) if m else None


@lru_cache(maxsize=4096)
def engine_time(raw: str) -> str | None:
    """``2024/05/01 12:00:01`` -> ``2024-05-01T12:00:01`` (local time: nginx writes no zone).

    None for a time nginx cannot have written (month 13, a year before 1970 or at 9999, where a
    minute more overflows): the line is recognised, its time unknown.  Kept per text: a log's
    lines share their second, and ``strptime`` was ~19 us of the ~100 us a line costs where
    lines are read one by one (a container's wrapped nginx lines without the native scanner,
    ``watch`` of an error log; BENCHMARKS.md stop 48)."""
    try:
        when = datetime.strptime(raw, "%Y/%m/%d %H:%M:%S")
    except ValueError:
        return None
    if not 1970 <= when.year < 9999:
        return None
    return raw.replace("/", "-").replace(" ", "T", 1)


def classify_engine_message(msg: str, time: str | None, level: str | None) -> Classified | None:
    """Classify the message part of an nginx error-log line (after ``*N ``)."""
    msg = msg.replace('\\"', '"')
    km = _key_re().match(msg)
    if not km:
        return None
    key = km.group("k1") or km.group("k2")
    errno_s = _group(_ERRNO, msg)
    action = _group(_ACTION, msg)
    drx = _detail_re(key)
    detail = _group(drx, msg) if drx is not None else None
    arx = _also_re(key)
    also = _group(arx, msg) if arx is not None else None
    phrase = families().phrase
    p = resolve(phrase, key, int(errno_s) if errno_s else None, action, level, detail, also)
    if p is None:
        return None
    fm = _FIELDS.search(msg)
    f = fm.groupdict() if fm else {}
    return Classified(
        source=phrase, symptom=p.symptom, status=p.status, time=time, level=level,
        upstream=_group(_UPSTREAM_ONLY, msg), client=f.get("client"), server=f.get("server"),
        request=f.get("request"), host=f.get("host"), message=msg, pattern=p.id,
        event=p.event_for(), side=p.side_of,
    )


# ----------------------------------------------------------------------------------------------
# Other sources (per-line only; the batch engine sends these lines here)
# ----------------------------------------------------------------------------------------------



# a rule, its regex (as ``rule_searcher`` searches it) and its ``unless`` regex
_MatchRule = tuple[PatternInfo, Searcher, "re.Pattern[str] | None"]


class MatchRules:
    """Every ``match`` rule (``infos``, in the file's order) and, by position, the rule with its
    regex and its ``unless`` regex (None: no exclusion), each compiled when first asked for.

    Why: a line is asked only the rules one of whose needles it holds (``_gated_rules``), and
    compiling all ~195 at once was ~0.1 CPU-s of every process that reads one line -- a third of
    ``watch``'s first 200k lines of Apache's error log (BENCHMARKS.md stop 52)."""

    def __init__(self, infos: tuple[PatternInfo, ...]) -> None:
        self.infos = infos
        self._rules: list[_MatchRule | None] = [None] * len(infos)

    def __len__(self) -> int:
        return len(self.infos)

    def __getitem__(self, i: int) -> _MatchRule:
        got = self._rules[i]
        if got is None:
            p = self.infos[i]
            assert p.match is not None  # (infos: the rules with a match)
            got = self._rules[i] = _compiled(p, p.match)
        return got

    def __iter__(self) -> Iterator[_MatchRule]:
        return (self[i] for i in range(len(self.infos)))


def _compiled(p: PatternInfo, match: str) -> _MatchRule:
    """``p`` with its ``match`` regex (searched as ``rule_searcher`` says) and its ``unless`` regex."""
    return (p, rule_searcher(re.compile(match)), re.compile(p.unless) if p.unless else None)


@lru_cache(maxsize=1)
def _match_rules() -> MatchRules:
    """Each ``match`` rule with its regex and its ``unless`` regex (``MatchRules``)."""
    return MatchRules(tuple(p for p in load_patterns() if p.match))


@lru_cache(maxsize=1)
def prefilter_needles() -> list[str]:
    """Every literal some pattern needs (lower-case), for a literal prefilter (the batch engine's
    ``contains_any``, watch's block scan: ``app.watch.errorscan``), and the literals a paste
    repair needs to rebuild a key phrase (``normalize.CREATES_KEYS``): a line without any of them
    is one ``classify_line`` -- ``explain``'s recogniser -- cannot read either, so skipping it
    cannot make ``classify`` and ``explain`` disagree; and the words from which ``normalize``
    rebuilds a fragment's call (``normalize.REPAIR_NEEDLES``)."""
    needles: set[str] = set(CREATES_KEYS) | set(REPAIR_NEEDLES)
    for p in load_patterns():
        needles.update(p.needles)
    return sorted(needles)


@lru_cache(maxsize=32)
def _source_rules(source: str) -> tuple[_MatchRule, ...]:
    """``_match_rules`` of one program, in rule order, its regexes compiled alone.

    Why: ``match_source`` asks one program's rules (the kernel's, journald's ``UNIT=`` lines,
    audit records); compiling all ~195 rules for the kernel log's handful was ~0.13 s of a
    live ``diagnose`` (``parse_kernel_log``'s first call, BENCHMARKS.md stop 48).  When the
    whole set is compiled already, its entries are shared."""
    if _match_rules.cache_info().currsize:
        rules = _match_rules()
        return tuple(rules[i] for i, p in enumerate(rules.infos) if p.source == source)
    return tuple(_compiled(p, p.match) for p in load_patterns() if p.match and p.source == source)


_Gates = tuple[tuple[str, tuple[int, ...]], ...]
"""Each needle with the positions of the rules it gates (``_needle_index``)."""


@lru_cache(maxsize=1)
def _needle_index() -> tuple[tuple[tuple[str, ...], ...], _Gates, NeedleSearch]:
    """Each ``match`` rule's needles (``PatternInfo.needles``, lower-case; the property builds its
    tuple anew at each call), each needle with the positions of the rules it gates, and those
    needles' search (``parsers.needles``: natively, one pass over a line)."""
    per_rule = tuple(p.needles for p in _match_rules().infos)
    gates: dict[str, list[int]] = {}
    for i, needles in enumerate(per_rule):
        for n in needles:
            gates.setdefault(n, []).append(i)
    indexed = tuple((n, tuple(rules)) for n, rules in gates.items())
    return per_rule, indexed, NeedleSearch([n for n, _rules in indexed])


_FIRST_ASKED = 8
"""How many rules ``_gated_rules`` asks one by one before it asks the needles instead."""


def _gated_rules(low: str) -> Iterator[_MatchRule]:
    """The ``match`` rules one of whose needles ``low`` holds, in rule order (lazily: a caller
    that stops at the first rule that matches pays for no more).

    The native search (``parsers.needles``) finds every needle ``low`` holds in one pass (~1 us
    a line), so the rules come from its answer.  Without it, up to the first such rule each rule
    is asked in turn; past it, each needle once (a line that is none of the first rule's: ~180
    rules asked one by one cost more than ~370 needles).  Both give the rules holding a needle in
    rule order: a rule before the first one found among the first few holds none, so the second
    way yields that one and then, in order, every later one the needles gate.  Asking each
    rule's ``needles`` property of every rule of every line was a third of the per-line time of
    a log no nginx head starts (Apache's: 395 lines/s in ``watch``, BENCHMARKS.md stop 41 and
    42)."""
    rules = _match_rules()
    per_rule, gates, search = _needle_index()
    hits = search.native_found(low)
    if hits is not None:
        gated = sorted(set().union(*[gates[h][1] for h in hits]))
        for i in gated:
            yield rules[i]
        return
    # the first rule is looked for among the first few rules alone: past them, asking the ~400
    # needles once each is cheaper than asking rule after rule (a line no rule reads asked ~180
    # rules' needles: 95 us a line of Apache's benign "Connection to child ... established",
    # BENCHMARKS.md stop 44)
    first = next((i for i, needles in enumerate(per_rule[:_FIRST_ASKED])
                  if any(n in low for n in needles)), None)
    if first is not None:
        yield rules[first]
    later = set().union(*[gated for n, gated in gates if n in low])
    start = _FIRST_ASKED if first is None else first + 1
    for i in sorted(later):
        if i >= start:
            yield rules[i]


def _rule_match(rx: Searcher, unless: re.Pattern[str] | None, text: str) -> re.Match[str] | None:
    """``rx`` searched in ``text``, unless the rule's ``unless`` regex finds the text too
    (``PatternInfo.unless``): then the line is not this rule's, and the next rule's turn."""
    m = rx.search(text)
    if m is None or (unless is not None and unless.search(text)):
        return None
    return m


def _classify_other(text: str, wrapper_time: str | None) -> Classified | None:
    low = text.lower()
    heads: dict[str, Head | None] = {}
    # session lines (HAProxy's): the termination state decides, and nothing else in the line counts
    if "/" in text:
        sess = session_line(text)
        if sess is not None:
            p = resolve(families().session, sess.ts, None, None, None, "<NOSRV>" if sess.nosrv else None)
            if p is not None and p.status is None and sess.status is not None and 400 <= sess.status < 500:
                # a rule whose status is the line's own (HAProxy's ``PR``: the proxy refused the
                # client's request) with a client error is the client's, not a failure on the way
                # to a backend: ``PR-- 400 "<BADREQ>"`` is a request HAProxy could not parse, a
                # deny's 403 its rule (doc/configuration.txt 8.5); only a refusal answered with a
                # 5xx (``deny_status 503``, a rate limit) is one the clients count as an outage.
                # A 2xx stays: ``SD``/``sD``/``PD`` died in the data phase, the status already sent
                return None
            return _record(p, sess.head, text, wrapper_time) if p is not None else None
    for p, rx, unless in _gated_rules(low):
        if p.source not in heads:
            heads[p.source] = head_for(p.source, text)
        head = heads[p.source]
        target = head.msg if head is not None else text
        m = _rule_match(rx, unless, target)
        if not m:
            continue
        if p.errno and (head is None or head.errno not in p.errno):
            continue
        return _record(p, head or Head(msg=text), target, wrapper_time, m)
    return None


def match_source(source: str, text: str) -> Classified | None:
    """The first ``match`` rule of ``source`` found in ``text``, for callers that know which
    program wrote it (the kernel log, journald's ``UNIT=`` messages, audit records): the same
    rules and captures as ``classify_line``, without guessing the program from the line's head."""
    low = text.lower()
    for p, rx, unless in _source_rules(source):
        if any(n in low for n in p.needles):
            m = _rule_match(rx, unless, text)
            if m:
                return _record(p, Head(msg=text), text, None, m)
    return None


def _record(p: PatternInfo, head: Head, message: str, wrapper_time: str | None,
            m: re.Match[str] | None = None) -> Classified:
    """The record of a line rule ``p`` matched: the head's fields, the rule's captures (``m``)
    over them where they name a record field (``upstream``, ``client``, ``upstream_from``)."""
    captures = captures_of(m) if m is not None else ()
    if head.unit:
        captures = (*captures, ("unit", head.unit))
    found = dict(captures)
    upstream = found.get("upstream") or (found.get(p.upstream_from) if p.upstream_from else None)
    return Classified(
        source=p.source, symptom=p.symptom, status=p.status, time=head.time or wrapper_time,
        level=head.level, upstream=upstream or head.upstream, client=found.get("client") or head.client,
        server=head.server, request=head.request, host=None, message=message, pattern=p.id,
        captures=captures, event=p.event_for(frozenset(found)), side=p.side_of,
    )


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------


# phrases that name a proxy-side failure by themselves (no "upstream" or phase needed)
_SELF_EVIDENT = ("accept4() failed", "accept() failed", "socket() ")
_WORD_AFTER_KEY = re.compile(r"\s+[A-Za-z]")  # a word after a key phrase: prose, not nginx's tail
_SELF_EVIDENT_PREFIXED = re.compile(r"(?<!\S)\S{1,256} worker_connections are not enough")


def classify_line(text: str, year: int = 1970, repair: bool = True) -> Classified | None:
    """Recognise one raw log line (any format, any wrapper); None when it is not a known failure.

    Client aborts (499), client-side TLS noise, ``Primary script unknown`` (404), buffering
    warnings and static-file errors return None: they are not upstream failures.
    ``year`` fills in BSD syslog stamps, which carry none.  ``repair=False``: the line as it
    is, without ``normalize``'s second chance (tests use it to find the lines only a repair reads).
    """
    line = text.rstrip("\r\n")
    if is_clf_request(line):
        # a request line of an access log (``parsers.access_line``): a request the proxy
        # answered, its status stats' to count, and its referer, agent and URL the client's
        # words -- no message; the prose rules' "502" searched each 5xx of it in vain (no
        # fixture line of that shape was classified: the batch engine drops them too).  Asked
        # before the repair, which would unquote Apache's \" in the request
        return None
    got = _classify_text(line, year)
    if got is None and repair:
        norm = normalize(line)
        got = (_classify_text(norm.text, year)
               if norm.changed and not is_clf_request(norm.text) else None)
    if got is not None and got.time is not None and not got.time.isascii():
        # every program writes its time in ASCII digits; Python's ``\d`` also takes other
        # scripts' digits ("202٦"), which would sort after every real time: no time, as the
        # polars engine's strptime has it
        got = replace(got, time=None)
    return got


def _classify_text(line: str, year: int) -> Classified | None:
    m = _HEAD.match(line)
    if m:
        return classify_engine_message(m.group("msg"), engine_time(m.group("time")), m.group("level"))
    un = wrappers.unwrap(line, year=year)
    inner = un.text
    m = _HEAD.match(inner)
    if m:
        return classify_engine_message(m.group("msg"), engine_time(m.group("time")), m.group("level"))
    stderr = _stderr_re()
    m = stderr.match(inner) if stderr is not None else None
    if m:
        return classify_engine_message(m.group("msg"), un.time, m.group("level"))
    if inner is not line and is_clf_request(inner):
        # a request line inside a wrapper (``classify_line`` asked of the line as written; the
        # unwrapping unescapes Apache's \" in the request)
        return None
    other = _classify_other(inner, un.time)
    if other is not None:
        return other
    # nginx line cut at the start, or behind a prefix we do not know: find "pid#tid: *conn "
    pm = _ENGINE_PARTIAL.search(inner)
    if pm:
        got = classify_engine_message(pm.group("msg"), un.time, pm.group("level"))
        if got is not None:
            return got
    # no head left at all: find a key phrase
    hm = _headless_re().search(inner)
    if hm:
        rest = inner[hm.start("m"):]
        after = inner[hm.end("m"):]
        # nginx's request context (", client: ...", ngx_http_log_error_handler()) marks the
        # message as nginx's as surely as its head: "www.x.es could not be resolved (3: Host not
        # found), client: ..." pasted without "pid#tid:".  "upstream" inside the key phrase itself
        # counts only when nginx's own continuation follows it: ngx_log_error_core() writes after
        # the message its errno " (110: ...)" and the handler's " while ..." / ", client: ...",
        # never another word ("How to catch upstream timed out exception in plugin?" is a question)
        if ("upstream" in after or ("upstream" in rest and not _WORD_AFTER_KEY.match(after))
                or " while " in rest or _ENGINE_PID_TAIL.search(inner[: hm.start("m")])
                or ", client: " in rest
                or (rest.startswith("connect() ") and _ERRNO.search(rest))
                or rest.startswith("FastCGI sent in stderr: ")
                or (rest.startswith(_SELF_EVIDENT) and _ERRNO.search(rest))
                or _SELF_EVIDENT_PREFIXED.match(rest)):
            return classify_engine_message(rest, un.time, None)
    return None
