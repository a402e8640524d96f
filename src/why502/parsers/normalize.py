"""Repair what chat tools, Markdown and people do to a pasted log line, in one place.

A line copied out of a bug report or a chat is rarely the line the program wrote: Markdown turns
nginx's connection number ``*123`` into ``_123`` or ``* 123`` (an emphasis marker), rich-text
editors curl the quotes and put spaces inside tokens (``connect () to unix: /run/x.sock``), long
lines are cut with ``…``, and people paste only the part they think matters (the message without
the ``2024/05/01 12:00:01 [error] 12#12:`` head, or only its tail ``(104: Connection reset by
peer) while connecting to upstream``).  ``normalize`` undoes the damage it can recognise and says
what it repaired, so the classifier recognises the line and ``why502 explain`` can tell the user
what it could not see.

Both classify engines use it only for lines that did not classify as written (a clean log never
pays for it), so its output never changes a line that was already recognised.

The errno texts are Linux glibc's ``strerror()`` (and musl's, which nginx built on Alpine
prints), the texts nginx writes as ``(%d: %s)`` (``src/core/ngx_errno.c``) and Apache/APR as
``(%d)%s`` (``apr_strerror``): a fragment that lost the number but kept the text still says
which errno it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# strerror() texts of the errnos the rules distinguish (glibc; musl variants after).
ERRNO_BY_TEXT: dict[str, int] = {
    "no such file or directory": 2,
    "resource temporarily unavailable": 11,
    "permission denied": 13,
    "invalid argument": 22,
    "too many open files in system": 23,
    "too many open files": 24,
    "no file descriptors available": 24,  # musl
    "broken pipe": 32,
    "cannot assign requested address": 99,
    "address not available": 99,  # musl
    "network is unreachable": 101,
    "network unreachable": 101,  # musl
    "connection reset by network": 102,
    "software caused connection abort": 103,
    "connection reset by peer": 104,
    "transport endpoint is not connected": 107,
    "connection timed out": 110,
    "operation timed out": 110,  # musl, BSD
    "connection refused": 111,
    "no route to host": 113,
    "host is unreachable": 113,  # musl
    "host unreachable": 113,
    "the timeout specified has expired": 70007,  # APR_TIMEUP
}
_ERRNO_TEXT = re.compile("(" + "|".join(re.escape(t) for t in sorted(ERRNO_BY_TEXT, key=len, reverse=True))
                         + ")", re.IGNORECASE)


def errno_of_text(text: str) -> int | None:
    """The errno whose ``strerror()`` text opens ``text`` (case-insensitive), or None."""
    m = _ERRNO_TEXT.match(text)
    return ERRNO_BY_TEXT[m.group(1).lower()] if m else None


@dataclass(frozen=True)
class Normalized:
    """The repaired text and what was repaired (``repairs``: short phrases for ``explain``)."""

    text: str
    repairs: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.repairs)


_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"',
                         "\u00bb": '"', "\u2018": "'", "\u2019": "'", "\u2032": "'", "\u00a0": " ",
                         "\u2009": " ", "\u202f": " ", "\u200b": "", "\ufeff": ""})
_NON_ASCII_REPAIRED = frozenset(chr(c) for c in _QUOTES)
# the marks a cut line ends with (each ends in its own character, so at most one fits)
_CUT_MARKS = ("\u2026", "...", "[...]", "(truncated)", ">")
# nginx "pid#tid: *conn " after Markdown: "_123", "* 123", "\*123", "**123"
_CONN = re.compile(r"((?<!\d)\d{1,10}#\d{1,10}: )(?:\\?\*\s{1,8}|_|\\\*|\*\*)(\d{1,20}) ")  # bounded: linear
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
# a line a reporter wrapped in quotes or a code span: 'connect() failed ...', "upstream ..."
_WRAPPED = re.compile(r"^\s*(['`\"])(.*)\1\s*$")
# nginx's message quoted inside a reporter's sentence or title: a code span or double quotes
# around a message that carries nginx's upstream action ("help request: error `upstream
# prematurely closed connection while reading response header from upstream`"); the quoted part is
# the program's line, the words around it are the reporter's (issue 24, batch 10)
_QUOTED_ACTION = re.compile(r"([`\"])([^`\"]{0,400}? while (?:connecting to|sending request to"
                            r"|reading response header from|reading upstream|SSL handshaking to) upstream"
                            r"[^`\"]{0,400})\1")
# a full stop or comma of the reporter's sentence right after nginx's action ("... while
# connecting to upstream." -- nginx ends the action with ", client: " or the end of the line)
_ACTION_STOP = re.compile(r"( while [a-z ]*[a-z])[.;,]\s*$")
_LOWER_OR_SPACE = frozenset("abcdefghijklmnopqrstuvwxyz ")


def _drop_action_stop(text: str) -> str:
    """``_ACTION_STOP.sub(r"\\1", text)``, read once from the end.

    The regex is searched from every `` while `` and each try reads the run of letters and
    spaces after it to the line's end: a line of `` while `` over and over cost the square of
    it (2.1 s for 32 KB).  What it removes is the line's last ``.``, ``;`` or ``,`` and the
    whitespace after it, when the run of lower-case letters and spaces right before that mark
    ends with a letter and holds `` while `` with a letter or space after it; the regex stays
    for ``proxies.apache.error_memo``'s proof, which reads it."""
    p = len(text.rstrip()) - 1
    if p < 1 or text[p] not in ".;," or not "a" <= text[p - 1] <= "z":
        return text
    start = p - 1
    while start > 0 and text[start - 1] in _LOWER_OR_SPACE:
        start -= 1
    return text[:p] if text.find(" while ", start, p - 1) >= 0 else text
# spaces a rich-text editor put inside tokens
_SPACED_CALL = re.compile(r"\b([a-z_0-9]+) \(\)")
_SPACED_UNIX = re.compile(r"\bunix: +/")
_SPACED_ERRNO = re.compile(r"\( +(\d+) *: *")
# "(104: Connection reset by peer   )": the text may not end in a space (a lazy ``[^()]*?`` before
# `` +\)`` tried the space run from each of its spaces: quadratic on a long run of spaces)
_SPACED_ERRNO_CLOSE = re.compile(r"(\(\d+: (?:[^()]*?[^ ()])?) +\)")
# a fragment that starts at nginx's errno or at "failed (..."
_FRAGMENT_ERRNO = re.compile(r"^\s*(?:failed )?\((\d+): [^)]*\) while ([a-z ]+)")
# nginx's "%ui worker_connections are not enough" pasted without the count
_FRAGMENT_WORKER = re.compile(r"^\s*worker_connections are not enough")
# ... or behind other text (a title, a sentence in another language)
# (found by ``_errno_inside``: the phrase's tail first, then the errno's opening before it)
_INSIDE_TAIL = re.compile(
    r"\) while (?:connecting to|sending request to|reading response header from|reading) upstream")
_ERRNO_OPEN = re.compile(r"\(\d+: ")
_FRAGMENT_TEXT_ERRNO = re.compile(r"^\s*(?:failed )?\(([A-Za-z][A-Za-z ]+)\) while ([a-z ]+)")
# the syscall nginx names in each phase (ngx_http_upstream.c, ngx_event_connect.c, ngx_recv.c)
_PHASE_CALL = (
    ("connecting to upstream", "connect() failed "),
    ("sending request to upstream", "send() failed "),
    ("reading response header from upstream", "recv() failed "),
    ("reading upstream", "recv() failed "),
)

# Words whose presence lets ``normalize`` make a classifiable line of a fragment (the phase of a
# tail whose call it infers): the batch engine's prefilter passes lines holding them, so a file
# and ``explain`` read such a fragment alike (``errorlog.prefilter_needles``).
REPAIR_NEEDLES: tuple[str, ...] = tuple(phase for phase, _ in _PHASE_CALL)


# The marks of the repairs that can apply to a line that starts with nginx's head, which the
# engines' fast paths read (errorlog_batch, the C scanner): straightened quotes and spaces, a cut
# marker at the end, a connection number Markdown mangled ("19162#0: _487 recv() failed"),
# emphasis, spaces inside tokens, a message that starts at the errno, a message quoted after
# the head.  The errno tail inside a message (``FRAGMENT_INSIDE``) is no mark here: every
# "connect() failed (111: ...) while connecting to upstream" holds one; the engines check it only
# on the head lines they could not read.  A head line the fast path
# cannot read and that has one of these marks goes to the per-line recogniser (``errorlog.
# classify_line``, explain's), which repairs it; the C scanner hands back a superset of these
# lines (``may_normalize``).  One regex for Python ``re`` and Rust ``regex``: literal characters,
# no lookaround.
HEAD_REPAIR_MARKS = (
    "[" + "".join(sorted(chr(c) for c in _QUOTES)) + "]"
    r"|(?:…|\.\.\.|\[\.\.\.\]|\(truncated\)|>)\s*$"
    r"|\d#\d{1,10}: (?:\\?\*\s|_|\\\*|\*\*)"
    r"|\*\*| \(\)|unix: +/|\( +\d|\(\d{1,9}: [^()]* \)"
    r"|#\d{1,10}: (?:\*\d{1,20} )?(?:failed )?\("
    r"| while [a-z ]*[a-z][.;,]\s*$"
    # _QUOTED_ACTION: a message quoted in lower case (Python's ``islower``: any letter past ASCII
    # too) that carries nginx's action; "[^`\"]*" cannot run past the closing quote of a FastCGI
    # stderr text, and the space after that quote is no letter
    r"|[`\"][^\x00-\x60\x7b-\x7f][^`\"]* while (?:connecting to|sending request to"
    r"|reading response header from|reading upstream|SSL handshaking to) upstream"
)

# What ``normalize`` could change in an ASCII line: a superset of its repairs, for a column (the
# polars engine's framing peel, ``errorlog_peel``) -- where none of these matches and the line holds
# no ``FRAGMENT_INSIDE`` that ``normalize`` would cut at, ``normalize(line).changed`` is False
# (tests/classify/test_classify_peel.py checks it on generated lines).  Step by step: the line's
# own quotes, backquotes or a fragment at its start (_WRAPPED, _FRAGMENT_*), a cut mark or
# punctuation at its end (_cut_at, _ACTION_STOP), emphasis, spaces inside tokens, Markdown's
# connection number (_BOLD, _SPACED_*, _CONN), a quoted message opening in lower case
# (_QUOTED_ACTION), a capital at the start (_CAPITAL_START), a bare errno text before the action
# (_BARE_ERRNO_ACTION).  ASCII only: Python's \s and \w are wider than these classes beyond it.
MAY_CHANGE_ASCII = (
    r"^[\x00-\x20]*(?:['`\"(]|failed \(|worker_connections)"
    r"|(?:\[\.\.\.\]|\(truncated\)|>|[.;,])[\x00-\x20]*$"
    r"|\*\*|unix: +/| \(\)|\( +\d+ *:|\(\d+: [^()]* \)"
    r"|\d#\d+: (?:_|\\|\*[\x00-\x20*])"
    r"|[`\"][a-z][^`\"]* while (?:connecting to|sending request to|reading response header from"
    r"|reading upstream|SSL handshaking to) upstream"
    r"|^[^A-Za-z0-9_]{0,4}[A-Z][a-z]"
    # (_BARE_ERRNO_ACTION reads the whole phrase in any case: "Connection refused WHILE ...")
    r"|(?i:(?:" + "|".join(sorted(ERRNO_BY_TEXT, key=len, reverse=True))  # letters and spaces
    + r") while (?:connecting to|sending request to|reading response header from|reading) upstream)"
)
# The errno fragment ``normalize`` cuts a line at (``_errno_inside``: the leftmost match) when
# neither "()" nor "failed" comes before it.
FRAGMENT_PHASES = ("connecting to upstream", "sending request to upstream",
                   "reading response header from upstream", "reading upstream")
FRAGMENT_INSIDE = r"\(\d+: [^)]*\) while (?:" + "|".join(FRAGMENT_PHASES) + ")"

# Literals without which a repair cannot make a line readable that was not readable as pasted: the
# repairs that *create* a rule's key phrase are the fragment tail (the call inferred from the
# phase: ``(104: ...) while connecting to upstream``, ``failed (Connection refused) while ...``)
# and the spaces taken out of a call (``connect () failed``).  Every other repair removes or
# straightens text around a phrase that is already there.  The batch engine's prefilter adds
# these to the rules' needles (``errorlog.prefilter_needles``), so ``classify`` hands every
# line ``explain`` could read to the same per-line recogniser.  Lower case, as the prefilter.
CREATES_KEYS: tuple[str, ...] = (") while ", " ()")


# A message retyped with capitals: nginx writes its messages in lower case (the format strings of
# src/http/ngx_http_upstream.c and src/event/ngx_event_connect.c: "upstream prematurely closed
# connection", "connect() failed", "while connecting to upstream"), and a title retypes them in
# Title Case ("Upstream Prematurely Closed Connection While Reading Response Header from
# Upstream") or a sentence opens them with a capital ("Upstream prematurely closed connection
# while reading response header from upstream, client").  Only a line that starts with a
# capitalised word and holds nginx's action ("while ... upstream") is lowered.
_CAPITAL_START = re.compile(r"^\W{0,4}[A-Z][a-z]")
_ACTION_ANY_CASE = re.compile(r"(?i) while (?:connecting to|sending request to"
                              r"|reading response header from|reading) upstream\b")
# nginx's errno text and action with the "(N: ...)" lost: "Connection refused while connecting to
# upstream" quoted in a title (ngx_log_error_core() writes " (%d: %s)" before the handler's
# " while %s", src/core/ngx_log.c; the text still names the errno: ``ERRNO_BY_TEXT``)
_BARE_ERRNO_ACTION = re.compile(
    r"(?i)(?:^|[^\w(])(" + "|".join(re.escape(t) for t in sorted(ERRNO_BY_TEXT, key=len, reverse=True))
    + r") while ((?:connecting to|sending request to|reading response header from|reading) upstream)\b")


def _cut_at(text: str) -> int:
    """Where the mark of a cut line starts with the spaces before it (``"GET /x …"`` -> before
    `` …``), or -1: the leftmost match of ``\\s*(?:MARK)\\s*$``, found from the end.  As that
    regex searched, it tried the whole trailing space run from each of its characters --
    quadratic on a line of spaces (an 80 KB one took minutes)."""
    body = text.rstrip()
    mark = next((m for m in _CUT_MARKS if body.endswith(m)), None)
    if mark is None:
        return -1
    return len(body[: len(body) - len(mark)].rstrip())


def _errno_inside(text: str) -> int:
    """Where ``(N: ...) while <phase> upstream`` starts inside ``text``, or -1: the leftmost
    ``\\((\\d+): [^)]*\\) while (?:connecting to|...) upstream``.  That regex scanned from each
    ``(N: `` to the next ``)``, quadratic on repeated errno openings (a 384 KB paste: 25 s); here
    each phrase's tail is found once and the leftmost ``(N: `` between it and the ``)`` before it
    (the only ones whose ``[^)]*`` reaches it) answers."""
    for tail in _INSIDE_TAIL.finditer(text):
        close = tail.start()
        m = _ERRNO_OPEN.search(text, text.rfind(")", 0, close) + 1, close)
        if m is not None:
            return m.start()
    return -1


# ``may_change``'s literals: each repair below needs one of them in an ASCII line (a mark, a
# spaced token, nginx's "pid#tid: ", an action) at its start, its end or anywhere
_ANYWHERE = ("**", "unix: ", " ()", "( ", " )", "#")
_AT_START = ("'", "`", '"', "(", "failed (", "worker_connections")
_AT_END = ("[...]", "(truncated)", ">", ".", ";", ",")
_BLANKS = "".join(chr(c) for c in range(0x21))  # what \s and [\x00-\x20] can strip, and more


def may_change(text: str) -> bool:
    """False only when ``normalize(text)`` leaves ``text`` as it is -- a superset of its repairs
    from a few literal tests (~1 us), where ``normalize`` runs a dozen regexes (~35 us): the
    per-line recogniser asks it of every line it did not read, most lines of a busy log (HAProxy's
    requests that went well, Apache's notices).  Step by step: a line not ASCII (the quotes and
    spaces straightened); quotes, a parenthesis, "failed (" or ``worker_connections`` at its start
    (_WRAPPED, _FRAGMENT_*); a cut mark or the reporter's punctuation at its end (_cut_at,
    _ACTION_STOP); emphasis, spaced tokens, nginx's connection number (_BOLD, _SPACED_*, _CONN:
    "#"); an action, in any case (_QUOTED_ACTION, the errno tail, _BARE_ERRNO_ACTION: " while ");
    a capital after at most four other signs (_CAPITAL_START).  ``tests/classify/
    test_classify_engines.py`` holds it to ``normalize`` on generated lines."""
    if not text.isascii():
        return True
    if any(n in text for n in _ANYWHERE) or " while " in text.lower():
        return True
    if text.lstrip(_BLANKS).startswith(_AT_START) or text.rstrip(_BLANKS).endswith(_AT_END):
        return True
    return _CAPITAL_START.match(text) is not None  # (\W is [^A-Za-z0-9_] on an ASCII line)


def normalize(text: str) -> Normalized:
    """Undo paste damage (module doc).  Pure and cheap; ``repairs`` is empty when nothing changed."""
    return every_repair(text) if may_change(text) else Normalized(text, ())


def every_repair(text: str) -> Normalized:
    """``normalize`` without ``may_change``'s shortcut: every repair tried (the reference the
    shortcut is tested against)."""
    repairs: list[str] = []
    out = text
    if not out.isascii() and any(c in _NON_ASCII_REPAIRED for c in out):
        out = out.translate(_QUOTES)
        repairs.append("curly quotes or odd spaces straightened")
    cut = _cut_at(out)
    if cut > 0:
        out = out[:cut]
        repairs.append("line cut short")
    new = _CONN.sub(r"\1*\2 ", out)
    if new != out:
        out = new
        repairs.append("connection number mangled by Markdown")
    new = _BOLD.sub(r"\1", out)
    if new != out:
        out = new
        repairs.append("Markdown emphasis removed")
    m3 = _WRAPPED.match(out)
    if m3:
        out = m3.group(2)
        repairs.append("quotes around the line removed")
    else:
        m5 = _QUOTED_ACTION.search(out)
        # nginx writes its messages in lower case; a capitalised quote is a retyped errno text,
        # which the errno-and-action repair below rebuilds from the whole line
        if m5 and m5.group(2)[:1].islower():
            out = m5.group(2)
            repairs.append("the message quoted inside a sentence: only the quoted part read")
    new = _drop_action_stop(out)
    if new != out:
        out = new
        repairs.append("punctuation after the message removed")
    new = _SPACED_CALL.sub(r"\1()", out)
    new = _SPACED_UNIX.sub("unix:/", new)
    new = _SPACED_ERRNO.sub(r"(\1: ", new)
    new = _SPACED_ERRNO_CLOSE.sub(r"\1)", new)
    if new != out:
        out = new
        repairs.append("spaces inside tokens removed")
    if _FRAGMENT_WORKER.match(out):
        out = "N " + out.lstrip()
        repairs.append("the count before worker_connections was not pasted")
    m2 = _FRAGMENT_ERRNO.match(out) or _FRAGMENT_TEXT_ERRNO.match(out)
    inside = _errno_inside(out) if m2 is None else -1
    if inside >= 0:
        # only when what comes before names no call: a whole message keeps its own
        before = out[:inside]
        if "()" not in before and "failed" not in before:
            out = out[inside:]
            m2 = _FRAGMENT_ERRNO.match(out)
    if m2:
        call = next((c for phase, c in _PHASE_CALL if m2.group(2).startswith(phase)), None)
        if call is not None:
            body = out.lstrip()
            if body.startswith("failed "):
                body = body[len("failed "):]
            if m2.re is _FRAGMENT_TEXT_ERRNO:
                errno = errno_of_text(m2.group(1))
                if errno is not None:
                    body = f"({errno}: " + body[1:]
            out = call + body
            repairs.append("only the tail of the message: the call is inferred from the phase")
    elif _CAPITAL_START.match(out) and _ACTION_ANY_CASE.search(out) and out.lower() != out:
        out = out.lower()
        repairs.append("the message retyped with capitals: lower case restored")
    else:
        m4 = _BARE_ERRNO_ACTION.search(out)
        if m4 is not None and "(" not in out[: m4.start(1)][-2:]:
            phase = m4.group(2).lower()
            call = next((c for p, c in _PHASE_CALL if phase.startswith(p)), None)
            errno = ERRNO_BY_TEXT[m4.group(1).lower()]
            if call is not None:
                out = f"{call}({errno}: {m4.group(1)}) while {phase}"
                repairs.append("only the errno text and the action: the call and the number are inferred")
    return Normalized(out, tuple(repairs))
