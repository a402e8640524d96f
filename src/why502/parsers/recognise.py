"""The one reading of a line on its own: what ``why502 classify`` makes of a file holding only
that line, and what ``why502 explain "<pasted line>"`` shows.

``classify FILE`` first sniffs the file's family from its first lines (``LogFamilies.detect``): a load
balancer's or modern proxy's log (ALB, Envoy, Caddy, Traefik, Cloudflare Logpush) is read by its
family's parser and reports the requests the proxy failed itself (``lb_reported``); anything else
goes to the classify rules (``errorlog.classify_line``: nginx, Apache, HAProxy, the app servers,
and the edge families' messages outside an access log).  ``explain`` calls ``read_line`` for the
same decision, so the two commands agree on a line by construction, not by a test of examples.
"""

from __future__ import annotations

from dataclasses import dataclass

from why502.parsers.errorlog import Classified, classify_line
from why502.parsers.lblogs import LogFamilies
from why502.parsers.lblogs.model import LbRecord


def lb_reported(rec: LbRecord) -> bool:
    """Whether ``classify`` reports this access-log record: the proxy failed the request itself
    (its own 5xx, or a failure flag on another status).  A backend's relayed 5xx is not reported."""
    return rec.made_by == "lb" and rec.failed


@dataclass(frozen=True)
class Reading:
    """A line read as ``classify`` reads it alone: by a family's parser (``family``, ``record``)
    or by the classify rules (``classified``); all None when nothing knows the line."""

    family: str | None = None
    record: LbRecord | None = None
    classified: Classified | None = None

    @property
    def symptom(self) -> str | None:
        """The failure symptom ``classify`` names for the line (None: none named)."""
        if self.record is not None:
            return self.record.symptom if lb_reported(self.record) else None
        return self.classified.symptom if self.classified is not None else None


def read_line(line: str, families: LogFamilies) -> Reading:
    """``line`` (one line, no newline) read the way ``classify`` reads a file holding only it
    (``families``: every edge family, ``why502.proxies.logfamilies.families()``)."""
    family = families.detect([line])
    if family is not None:
        return Reading(family=family, record=families.parse_line(line, family))
    return Reading(classified=classify_line(line))
