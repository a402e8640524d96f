"""Access logs of cloud load balancers and modern proxies, read into one record type.

A log family is data (``family.LogFamily``): how its lines are recognised and read.  The
families here are the edges that are no registered proxy -- AWS ALB and Classic ELB, Cloudflare
Logpush ``http_requests`` JSON -- and the data shared by every family (``LbRecord``, the Go error
texts, the vectorised readers' columns).  A registered proxy's family (Envoy / Istio, Caddy,
Traefik, cloudflared) is in its folder (``proxies/<name>/log.py``): this layer is below the
registry, so the readers (``family.LogFamilies``: ``detect`` recognises the family from the first
lines, ``parse_line`` reads one line into an ``LbRecord``; both pure) are given every family from
above (``why502.proxies.logfamilies.families()``).  Lines may carry a
shipper's prefix (journald ``Mon DD hh:mm:ss host prog[pid]:``, ``docker compose`` ``name |``,
``kubectl --timestamps``): JSON is read from its first ``{``, text formats are searched, not
anchored, where the format allows it, and a line no reader takes as written is read again without
kubectl's framing (``family.LogFamilies``).
"""

from __future__ import annotations

from why502.parsers.lblogs.alb import ALB, ELB
from why502.parsers.lblogs.cloudflare import CLOUDFLARE
from why502.parsers.lblogs.family import SNIFF_LINES, LogFamilies, LogFamily, json_object
from why502.parsers.lblogs.model import LbRecord

__all__ = ["EDGE_FAMILIES", "SNIFF_LINES", "LbRecord", "LogFamilies", "LogFamily", "json_object"]

EDGE_FAMILIES: tuple[LogFamily, ...] = (ALB, ELB, CLOUDFLARE)
"""The families of edges that are no registered proxy."""
