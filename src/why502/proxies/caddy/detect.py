"""Whether a file is Caddy's config (``Proxy.detect``): a JSON config or a Caddyfile, apart from
the readers of both.

Every run scores a config against every proxy (``proxies.detect_text``); this module holds
only what that needs, so a run on another proxy's config never imports Caddy's readers (issue 28
item 1: start-up).
"""

from __future__ import annotations

import re


def looks_like_json(raw: str) -> bool:
    head = raw.lstrip()[:1]
    return head == "{" and '"apps"' in raw and '"servers"' in raw


# Detection: directive words of Caddy's standard set at a line's start (the directive order,
# https://caddyserver.com/docs/caddyfile/directives), with no ``;`` (nginx ends its directives
# with one) and a site address line opening a block (``example.com {``, ``:8080 {``).
# ``_SITE`` is written so that each line is cut one way: ``host:?\d*`` and ``(?:,\s*\S+)*``
# as first written read the same lines, but a run of digits could be cut between the host and
# the port at every digit, and a run of commas into segments every way (an ``\S+`` holds
# commas too) -- a 20,000-comma line in a Caddyfile held ``why502 lint`` for good.  The host
# takes its digits itself, a port follows a colon (or a bracketed address, as before), and a
# further address starts only at a comma with blanks after it (a comma with none is inside
# the run before it): the same lines (200,000 generated lines of those characters give the
# same ``findall``), each read in time linear in it.
_MARKS = re.compile(r"(?m)^[ \t]*(?:reverse_proxy|php_fastcgi|file_server|handle_path|handle_errors|"
                    r"encode|respond|redir|rewrite|uri|root|tls|log|header|route|import|handle|"
                    r"lb_try_duration|health_uri|transport)(?:[ \t][^;\n]*)?$")
_SITE = re.compile(r"(?m)^(?:https?://)?(?:[\w.*-]+(?::\d*)?|\[[0-9a-fA-F:]+\]:?\d*|:\d*)?"
                   r"(?:,[ \t]*\S+(?:,[ \t]+\S+)*)?[ \t]*\{[ \t]*$")
_PROXY = re.compile(r"(?m)^[ \t]*(?:reverse_proxy|php_fastcgi)(?:[ \t][^;\n]*)?$")


def score(masked: str) -> int:
    """How surely ``masked`` (strings and ``#`` comments blanked) is a Caddyfile: the count of
    its directive lines, or 0 unless one of them is a ``reverse_proxy``/``php_fastcgi`` or a
    site line opens a block and no line ends with ``;``."""
    if re.search(r";[ \t]*$", masked, re.M):
        return 0
    marks = len(_MARKS.findall(masked))
    if not _PROXY.search(masked) and not (_SITE.search(masked) and marks):
        return 0
    return marks + len(_SITE.findall(masked))
