"""Search for the rules that start with the Go proxies' error prefix, in time linear in the line.

Fourteen ``go-proxy-*`` rules of ``catalog/data/patterns.toml`` share one prefix (``GO_PREFIX``):
seven ways a Go proxy writes "here comes the Go error" -- cloudflared's "Unable to reach the origin
service ...: ", Caddy's ``http.log.error`` logger and v1's ``[ERROR 502 /path] ``, Traefik's
``upstream roundtrip`` and ``handling connection`` fields, ``HTTP 502: `` -- each followed by the
tail ``(?:[^"]*?: )?`` (the wrapping ``op: `` words Go's errors carry) and then the rule's own
error text (its *suffix*).

Python's ``re`` tries a search at every start of the line and, from each start, every cut of the
lazy runs.  On a line that holds a head many times and no suffix (a line of ``upstream roundtrip``
over and over, a request URI an attacker wrote) that is quadratic: 12.7 s of ``classify`` for
one 40 KB line, more than five CPU-minutes for 380 KB (docs/limits.md).  The answer itself is
cheap to know, because a later start of a branch can only succeed where an earlier start of the
same branch succeeds too:

* ``upstream roundtrip"?.*?`` and ``"msg"...handling connection".*?``: the lazy run from the first
  head reaches every place a later head's run reaches (up to the next newline, which ``.`` does
  not cross), so only the first head of each newline-free stretch is asked;
* the tail ``(?:[^"]*?: )?S`` from a place ``h`` succeeds when the suffix ``S`` matches at ``h``
  or after some ``": "`` at or after ``h`` before the next double quote.  The places after a
  ``": "`` where ``S`` matches are found once for the line (``_Tail``), and each tail question
  is then a lookup;
* the heads' own runs (``[^:"]*``, ``[^\\]]*``, ``\\S+?``) end at the same place for every start
  inside them, so each run is read once.

``search`` finds, for each branch, the first start where it matches, takes the smallest, and asks
the original regex to match at that one place: ``rx.search`` would have failed at every earlier
place and returns exactly that match, groups included.  At a place where the regex succeeds the
backtracking before success is linear (each failed tail reads its own quote-free stretch), so the
whole search is linear in the line.  A short line keeps ``rx.search`` (``SHORT``): the Python loops
cost more than the backtracking they save there.  Tests compare the two on recorded and
generated lines (``tests/classify/test_go_prefix_search.py``) and run a long line through
``why502 classify`` (``tests/cli/test_qa_long_runs.py``).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable

# The prefix exactly as patterns.toml writes it (a test checks that the go-proxy rules start
# with it).  Its seven branches are the seven finders of ``_BRANCHES``, in the same order.
GO_PREFIX = (
    r"""(?:Unable to reach the origin service[^:"]*: (?:[^"]*?: )?"""
    r"""|responding to traffic from cloudflared: (?:[^"]*?: )?"""
    r"""|http\.log\.error(?:\.\S+?)?(?:\s+|",\s*"msg"\s*:\s*")(?:[^"]*?: )?"""
    r"""|\[ERROR 5\d\d [^\]]*\] (?:[^"]*?: )?"""
    r"""|upstream roundtrip"?.*?"?error"?\s*[:=]\s*"(?:[^"]*?: )?"""
    r"""|"msg"\s*:\s*"handling connection".*?"error"\s*:\s*"(?:[^"]*?: )?"""
    r"""|\bHTTP 5\d\d: (?:[^"]*?: )?)"""
)

# Below this length ``rx.search`` is used as it is: at 256 characters its worst line costs well
# under a millisecond, and the finders' Python loops cost more than that on ordinary lines.
SHORT = 256

_NOT_COLON_QUOTE = re.compile(r'[^:"]*')
_NOT_BRACKET = re.compile(r"[^\]]*")
_NON_SPACE = re.compile(r"\S*")
_SPACE = re.compile(r"\s*")
_ERROR_HEAD = re.compile(r"\[ERROR 5\d\d ")
_HTTP_HEAD = re.compile(r"\bHTTP 5\d\d: ")
_MSG_FIELD = re.compile(r'",\s*"msg"\s*:\s*"')
_ROUNDTRIP_ERROR = re.compile(r'error"?\s*[:=]\s*"')
_HANDLING_HEAD = re.compile(r'"msg"\s*:\s*"handling connection"')
_HANDLING_ERROR = re.compile(r'"error"\s*:\s*"')

_UNABLE = "Unable to reach the origin service"
_RESPONDING = "responding to traffic from cloudflared: "
_CADDY_LOGGER = "http.log.error"
_ROUNDTRIP = "upstream roundtrip"


class _Tail:
    """The tail ``(?:[^"]*?: )?`` + suffix, asked at many places of one line.

    ``ok(h)``: the suffix matches at ``h``, or right after some ``": "`` at or after ``h`` with no
    double quote between ``h`` and it (``[^"]*?`` stops at none).  The ``": "`` places whose
    suffix matches are found once (``_good``), the quotes once (``_quotes``), so each question
    costs one suffix attempt and two bisections."""

    def __init__(self, text: str, suffix: re.Pattern[str]) -> None:
        self.text = text
        self.suffix = suffix
        self._good: list[int] | None = None
        self._quotes: list[int] | None = None

    def _colon_ends(self) -> list[int]:
        text, suffix, out = self.text, self.suffix, []
        p = text.find(": ")
        while p >= 0:
            if suffix.match(text, p + 2):
                out.append(p)
            p = text.find(": ", p + 2)
        return out

    def ok(self, h: int) -> bool:
        text = self.text
        if self.suffix.match(text, h):
            return True
        if self._good is None:
            self._good = self._colon_ends()
            self._quotes = [m.start() for m in re.finditer('"', text)]
        i = bisect_left(self._good, h)
        if i == len(self._good):
            return False
        assert self._quotes is not None
        j = bisect_left(self._quotes, h)
        quote = self._quotes[j] if j < len(self._quotes) else len(text)
        return self._good[i] < quote


def _unable(text: str, tail: _Tail) -> int | None:
    """``Unable to reach the origin service[^:"]*: `` + tail.  Every start inside one
    ``[^:"]`` run stops at the run's end, so the next start is looked for past it."""
    s = text.find(_UNABLE)
    while s >= 0:
        end = _NOT_COLON_QUOTE.match(text, s + len(_UNABLE))
        assert end is not None
        c = end.end()
        if text.startswith(": ", c) and tail.ok(c + 2):
            return s
        s = text.find(_UNABLE, c + 1)
    return None


def _responding(text: str, tail: _Tail) -> int | None:
    """``responding to traffic from cloudflared: `` + tail: a literal head."""
    s = text.find(_RESPONDING)
    while s >= 0:
        if tail.ok(s + len(_RESPONDING)):
            return s
        s = text.find(_RESPONDING, s + 1)
    return None


def _space_ends(text: str, at: int, tail: _Tail) -> bool:
    """``\\s+`` at ``at`` + tail: the tail at each end the whitespace run allows."""
    run = _SPACE.match(text, at)
    assert run is not None
    return any(tail.ok(h) for h in range(at + 1, run.end() + 1))


def _msg_field(text: str, at: int, tail: _Tail) -> bool:
    """``",\\s*"msg"\\s*:\\s*"`` at ``at`` + tail."""
    m = _MSG_FIELD.match(text, at)
    return m is not None and tail.ok(m.end())


def _caddy_logger(text: str, tail: _Tail) -> int | None:
    """``http\\.log\\.error(?:\\.\\S+?)?(?:\\s+|",\\s*"msg"\\s*:\\s*")`` + tail.

    With the logger's dotted name (``http.log.error.log0``), the name ends at any ``",`` inside
    the run of non-spaces after the dot or at the run's end before whitespace; a later start
    inside that run ends only at places of the same run, so the next start is looked for past
    it."""
    s = text.find(_CADDY_LOGGER)
    while s >= 0:
        t = s + len(_CADDY_LOGGER)
        after = t
        if text.startswith(".", t):
            run = _NON_SPACE.match(text, t + 1)
            assert run is not None
            r = run.end()
            if r >= t + 2:
                e = text.find('",', t + 2, r)
                while e >= 0:
                    if _msg_field(text, e, tail):
                        return s
                    e = text.find('",', e + 1, r)
                if r < len(text) and _space_ends(text, r, tail):
                    return s
                after = r
        elif _space_ends(text, t, tail) or _msg_field(text, t, tail):
            return s
        s = text.find(_CADDY_LOGGER, after)
    return None


def _error_bracket(text: str, tail: _Tail) -> int | None:
    """``\\[ERROR 5\\d\\d [^\\]]*\\] `` + tail: every start inside one ``[^\\]]`` run stops at the
    same ``]``."""
    pos = 0
    while (m := _ERROR_HEAD.search(text, pos)) is not None:
        end = _NOT_BRACKET.match(text, m.end())
        assert end is not None
        c = end.end()
        if text.startswith("] ", c) and tail.ok(c + 2):
            return m.start()
        pos = c + 1
    return None


def _lazy_to_field(text: str, frm: int, literal: str, field: re.Pattern[str], tail: _Tail) -> bool:
    """``.*?`` from ``frm`` then ``field`` (which begins with ``literal``) + tail: each place of
    ``literal`` before the next newline is asked."""
    nl = text.find("\n", frm)
    stop = len(text) if nl < 0 else nl
    k = text.find(literal, frm, stop)  # (``literal`` holds no newline: it ends before ``stop``)
    while k >= 0:
        m = field.match(text, k)
        if m is not None and tail.ok(m.end()):
            return True
        k = text.find(literal, k + 1, stop)
    return False


def _roundtrip(text: str, tail: _Tail) -> int | None:
    """``upstream roundtrip"?.*?"?error"?\\s*[:=]\\s*"`` + tail: the first head of a newline-free
    stretch reaches every ``error`` a later one reaches."""
    s = text.find(_ROUNDTRIP)
    while s >= 0:
        frm = s + len(_ROUNDTRIP)
        if _lazy_to_field(text, frm, "error", _ROUNDTRIP_ERROR, tail):
            return s
        nl = text.find("\n", frm)
        if nl < 0:
            return None
        s = text.find(_ROUNDTRIP, nl)
    return None


def _handling(text: str, tail: _Tail) -> int | None:
    """``"msg"\\s*:\\s*"handling connection".*?"error"\\s*:\\s*"`` + tail: a head whose end is in
    the newline-free stretch an earlier head's run read already is not asked again (its run
    reaches no place the earlier one did not)."""
    read_to = -1
    s = text.find('"msg"')
    while s >= 0:
        # each ``"msg"`` is asked (not ``finditer``'s matches, which cannot overlap: a head may
        # begin on the quote that ends the one before it)
        head = _HANDLING_HEAD.match(text, s)
        if head is not None and head.end() > read_to:
            g = head.end()
            if _lazy_to_field(text, g, '"error"', _HANDLING_ERROR, tail):
                return s
            nl = text.find("\n", g)
            read_to = len(text) if nl < 0 else nl
        s = text.find('"msg"', s + 1)
    return None


def _http_status(text: str, tail: _Tail) -> int | None:
    """``\\bHTTP 5\\d\\d: `` + tail."""
    for head in _HTTP_HEAD.finditer(text):
        if tail.ok(head.end()):
            return head.start()
    return None


_BRANCHES: tuple[Callable[[str, _Tail], int | None], ...] = (
    _unable, _responding, _caddy_logger, _error_bracket, _roundtrip, _handling, _http_status,
)


def _group_end(pattern: str, start: int) -> int:
    """The index just past the group that opens at ``pattern[start]`` (escapes and character
    classes skipped)."""
    depth, i, in_class = 0, start, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern.startswith("]", i + 1) or pattern.startswith("^]", i + 1):
                i += 1 + pattern.startswith("^", i + 1)
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced group in {pattern!r}")


class GoPrefixSearch:
    """``rx.search`` for a rule that starts with ``GO_PREFIX``: the same match, found in linear
    time on a long line (the module's docstring says how).

    The rule may add branches inside the prefix's group (``go-proxy-eof``'s ``502 Bad Gateway``)
    and alternatives after its suffix anchored with ``^`` (``go-proxy-no-upstreams``): the added
    branches are searched with Python's ``re`` (each must be linear on its own, as that one is:
    a start reads no further than its ``502`` and the whitespace after it), and a ``^``
    alternative only matches at 0, which is asked once."""

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.rx = rx
        pattern = rx.pattern
        head = GO_PREFIX[:-1]
        if not starts_with_go_prefix(pattern):
            raise ValueError("not a go-proxy prefix rule")
        end = _group_end(pattern, 0)
        extra = pattern[len(head):end - 1]
        suffix = pattern[end:]
        self.suffix = re.compile(suffix, rx.flags)
        self.extra = re.compile(f"(?:{extra[1:]}){suffix}", rx.flags) if extra else None

    @property
    def pattern(self) -> str:
        return self.rx.pattern

    def first_start(self, text: str) -> int | None:
        """Where ``rx.search(text)`` matches, found without it (None: nowhere)."""
        starts: list[int] = []
        if self.suffix.match(text, 0) and self.rx.match(text, 0):
            return 0  # a ``^`` alternative (or a branch) at the very start: nothing is earlier
        tail = _Tail(text, self.suffix)
        for branch in _BRANCHES:
            s = branch(text, tail)
            if s is not None:
                starts.append(s)
        if self.extra is not None and (m := self.extra.search(text)) is not None:
            starts.append(m.start())
        return min(starts) if starts else None

    def search(self, string: str, /) -> re.Match[str] | None:
        if len(string) <= SHORT:
            return self.rx.search(string)
        s = self.first_start(string)
        return None if s is None else self.rx.match(string, s)


def starts_with_go_prefix(pattern: str) -> bool:
    """Whether ``pattern`` starts with ``GO_PREFIX`` (its group may hold more branches)."""
    return pattern.startswith(GO_PREFIX[:-1])
