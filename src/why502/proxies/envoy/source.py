"""Read a running Envoy's admin API: ``/clusters?format=json``, ``/stats?format=json`` (the
cluster counters only, through ``filter``) and ``/config_dump`` (its config as it runs, static
and from xDS alike: ``proxies.envoy.config`` reads it).  ``Hooks.source`` names this module;
``app.diagnose.lb`` calls :func:`live_groups` and :func:`dump_config`.

Which admin API: the URL the user names (``diagnose --admin-api URL``: any address, as named),
else the bootstrap's ``admin.address`` (bootstrap.proto ``Admin``) -- asked only when it is a
loopback address (``127.0.0.0/8``, ``::1``, ``localhost``): the admin API can also stop Envoy
(``/quitquitquit``) and is never meant to be reachable from elsewhere
(docs/root/operations/admin.rst: "the administration interface ... should only be allowed to be
accessed via a secure network"), so a config's non-loopback address is not guessed to be this
host's.  Only ``GET`` of the three read-only paths above; each exchange bounded in time and
bytes like the project's other HTTP reads (``sources.netread``: one total deadline, a byte cap,
a JSON depth cap), no HTTP proxy, no redirect followed.
"""

from __future__ import annotations

import ipaddress
import urllib.parse

from why502.errors import InputError
from why502.facts.live_group import GroupLive
from why502.proxies.envoy.admin import group_states, stats_filter
from why502.proxies.envoy.config import EnvoyConfig, parse_envoy_text
from why502.sources.netread import Bounds, fetch, parse_json

CLUSTERS_BYTES = 8 << 20  # ~5k hosts with their stats
STATS_BYTES = 4 << 20  # the filtered counters
DUMP_BYTES = 32 << 20  # a mesh's config_dump (EDS left out) is a few MiB


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def base_url(named: str | None, configured: str | None) -> tuple[str | None, str]:
    """(the admin API's base URL or None, a note).  ``named``: ``--admin-api`` (a URL, or
    ``host:port``), asked as named; ``configured``: the bootstrap's ``admin`` address, asked on
    loopback only."""
    if named:
        text = named if "://" in named else f"http://{named}"
        parts = urllib.parse.urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--admin-api {named}: not an http(s)://HOST:PORT URL")
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}", ""
    if not configured:
        return None, ("no admin API in the Envoy config and none named (--admin-api URL): "
                      "live cluster state (/clusters, /stats) not read")
    host, _, port = configured.rpartition(":")
    host = host.strip("[]")
    if configured.startswith("unix:") or not port.isdigit():
        return None, f"Envoy's admin API {configured} is not a TCP address: not asked"
    if _unspecified(host):  # a wildcard listener (0.0.0.0:9901) answers on loopback too
        host = "127.0.0.1"
    if not _loopback(host):
        return None, (f"Envoy's admin API {configured} is not a loopback address: not asked "
                      "(name it with --admin-api URL to read it)")
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}", ""


def _get(url: str, max_bytes: int, timeout: float, what: str) -> object:
    bounds = Bounds(max_bytes=max_bytes, max_depth=48, seconds=timeout)
    answer = fetch(url, bounds, what=what, proxies=False, follow_redirects=False)
    if answer.status != 200:
        raise InputError(f"{what}: HTTP {answer.status}")
    return parse_json(answer.body, bounds, what)


def live_groups(cfg: EnvoyConfig | None, named: str | None, timeout: float
                ) -> tuple[dict[str, GroupLive], list[str], str | None]:
    """Each cluster's hosts and counters now: (by cluster name, notes, the base URL read or
    None).  Unreachable, refused or malformed: no state and a note (live evidence is extra,
    never the reason a diagnosis fails)."""
    try:
        base, note = base_url(named, cfg.admin if cfg is not None else None)
    except InputError as err:
        return {}, [str(err)], None
    if base is None:
        return {}, [note], None
    names = [c.name for c in cfg.clusters] if cfg is not None else []
    query = urllib.parse.urlencode({"format": "json", "filter": stats_filter(names)})
    try:
        clusters = _get(f"{base}/clusters?format=json", CLUSTERS_BYTES, timeout,
                        f"Envoy admin API {base}/clusters")
        stats = _get(f"{base}/stats?{query}", STATS_BYTES, timeout, f"Envoy admin API {base}/stats")
    except InputError as err:
        return {}, [str(err)], None
    return group_states(clusters, stats, base), [], base


def dump_config(named: str, timeout: float) -> EnvoyConfig:
    """The running Envoy's ``/config_dump`` (``--admin-api`` named, no ``--config``) read as its
    config; ``InputError`` of one line when it cannot be read."""
    base, _note = base_url(named, None)
    assert base is not None
    url = f"{base}/config_dump"
    bounds = Bounds(max_bytes=DUMP_BYTES, max_depth=96, seconds=max(timeout, 5.0))
    answer = fetch(url, bounds, what=f"Envoy admin API {url}", proxies=False, follow_redirects=False)
    if answer.status != 200:
        raise InputError(f"Envoy admin API {url}: HTTP {answer.status}")
    parse_json(answer.body, bounds, url)  # depth and syntax checked before the YAML reader
    return parse_envoy_text(answer.body.decode("utf-8", "replace"), url)
