"""Talking to the backend the wrong way: upstream-tls-mismatch, protocol-mismatch, and a backend
that speaks the right protocol badly: backend-invalid-response.

- ``SSL_do_handshake() failed (SSL: ... wrong version number) while SSL handshaking to upstream``:
  ``proxy_pass https://`` to a plain-HTTP port (``ngx_event_openssl.c`` ``ngx_ssl_handshake()``);
  ``tlsv1 unrecognized name``: the backend needs SNI (``proxy_ssl_server_name on``);
  ``upstream SSL certificate verify error``: ``proxy_ssl_verify on`` with an untrusted certificate.
- ``upstream sent no valid HTTP/1.0 header`` (status 009), ``upstream sent invalid header``,
  ``upstream sent unsupported FastCGI protocol version: 72`` ("H" of "HTTP/"): the pass directive
  speaks HTTP to a FastCGI/uwsgi/TLS port or FastCGI to an HTTP port
  (``ngx_http_proxy_module.c`` ``ngx_http_proxy_process_status_line()``,
  ``ngx_http_fastcgi_module.c`` ``ngx_http_fastcgi_process_record()``).
- A port that *does* speak HTTP (the probe got a status line) but sent a header with a control
  byte or no colon, a bad status line or a broken chunked body: ``upstream sent invalid header:
  "%*s\\x%02xd..."`` (``ngx_http_proxy_process_header()``), ``no valid HTTP/1.0 header`` for a
  status line that does not parse.  That is the application's bug, not the directive's.
"""

from __future__ import annotations

import re
from typing import Protocol

from why502.analyzers import config_limits
from why502.analyzers.base import (
    Candidate,
    by_peer,
    claims,
    config_item,
    edit,
    group_items,
    groups_of,
    make_finding,
    probe_item,
    proxy_name,
    proxy_of,
    reload_commands,
    upstream_name,
)
from why502.evidence.model import Evidence, SymptomGroup
from why502.facts.edits import Place, Route, SendServerName, SpeakProtocol
from why502.facts.net import split_key
from why502.findings.model import EvidenceItem, Fix


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    for peer, groups in by_peer(groups_of(ev, "tls-failure")).items():
        out.append(_tls(ev, peer, groups))
    for peer, groups in by_peer(groups_of(ev, "invalid-response")).items():
        if config_limits.over_header_limit(ev, peer):
            continue  # a well-formed answer past the proxy's header buffer: buffer-too-small
        malformed = [g for g in groups if _malformed(ev, peer, g)]
        if malformed:
            out.append(_invalid_response(ev, peer, malformed))
        if rest := [g for g in groups if g not in malformed]:
            out.append(_protocol(ev, peer, rest))
    # refused connects to a port the proxy speaks TLS to, where the live probe connects and its
    # TLS handshake fails: the handshake is part of the connect for some proxies' words.
    # HAProxy logs a failed server-side handshake with termination state ``SC`` (configuration.txt
    # 8.5: the connection phase), the state of a refused port, so its log alone reads "not
    # running"; a port that takes the connection now and answers the handshake in plain text
    # was not down, it speaks another protocol (fault-matrix.md stop 45: ``tls-to-plain`` behind
    # HAProxy read as a past incident, recovered, exit 0 under proxy-made 503s).
    for peer, groups in by_peer(groups_of(ev, "connection-refused")).items():
        probe = ev.live.probes.get(peer) if ev.live.probes and peer else None
        target = ev.target(peer)
        if (target is not None and probe is not None and _spoken(target) == "tls"
                and probe.connect_state == "ok" and probe.tls and not probe.tls[0].ok):
            out.append(_tls(ev, peer, groups))
    # premature closes where the live probe says the port speaks another protocol
    for peer, groups in by_peer(groups_of(ev, "premature-close", "connection-reset")).items():
        probe = ev.live.probes.get(peer) if ev.live.probes and peer else None
        target = ev.target(peer)
        if probe and target and _mismatch(target, probe.answer):
            out.append(_protocol(ev, peer, groups))
        elif target and target.kind != "fastcgi" and _fpm_port(ev, peer) and not (
                probe and probe.answer in _PROTOCOLS):
            out.append(_protocol(ev, peer, groups, fpm=True))
    return out


_PROTOCOLS = {"http", "fastcgi", "http2", "tls", "uwsgi"}


class Spoken(Protocol):
    """What says how the proxy speaks to a target: a config's ``TargetFact`` or the
    ``ProbeTarget`` a probe asked (an edge log read alone has only the latter)."""

    @property
    def kind(self) -> str: ...

    @property
    def scheme(self) -> str | None: ...


def _spoken(t: Spoken) -> str | None:
    """The protocol the proxy speaks to ``t`` (what the probe should get back)."""
    return {"proxy": "tls" if t.scheme == "https" else "http", "fastcgi": "fastcgi",
            "uwsgi": "uwsgi", "grpc": "http2"}.get(t.kind)


def mismatch(t: Spoken, protocol: str | None) -> bool:
    """Whether a port that answered ``protocol`` (a probe's ``answer``) speaks another protocol
    than the proxy speaks to ``t``; never for a reset, an empty answer or a timeout."""
    if protocol not in _PROTOCOLS:
        return False  # reset / empty / timeout: not a protocol, the backend may just be dying
    spoken = _spoken(t)
    return spoken is not None and protocol != spoken and not (spoken == "http2" and protocol == "http")


_mismatch = mismatch


def _text(groups: list[SymptomGroup]) -> str:
    return " ".join(s.text for g in groups for s in g.samples) + " " + " ".join(
        g.message or "" for g in groups)


def _tls(ev: Evidence, peer: str | None, groups: list[SymptomGroup]) -> Candidate:
    target = ev.target(peer)
    text = _text(groups)
    items = [i for g in groups for i in group_items(g)]
    probe = ev.live.probes.get(peer) if ev.live.probes and peer else None
    if probe:
        items.append(probe_item(peer, probe))
    if target:
        items.append(config_item(target))
    diff, unwritten = None, list[str]()
    anchor_file = target.pass_file or target.file if target else None
    anchor_line = target.pass_line or target.line if target else None
    # the proxy's own TLS settings (Vocabulary.tls_*), else the change in words
    v = proxy_of(ev).vocabulary
    if "wrong version number" in text or (probe and (
            probe.answer == "http" or "wrong version number" in (probe.tls_state or ""))):
        why = (f"{v.title} speaks TLS (https://) to {peer}, but the backend answers plain HTTP "
               "(OpenSSL: wrong version number).")
        summary = "use http:// for this backend (or enable TLS on it)"
        if target and target.file and target.line:
            plain = SpeakProtocol(Place(target.file, target.line), "http", was_tls=True)
            diff, unwritten = edit(ev, plain, "speak plain HTTP to this backend")
    elif "unrecognized name" in text or "handshake failure" in text:
        why = f"{peer} requires SNI, and {v.title} does not send it to upstreams by default."
        summary = f"send SNI: {v.tls_server_name or 'the backend name in the TLS handshake'}"
        diff, unwritten = edit(ev, SendServerName(
            Route(Place(anchor_file, anchor_line), target.kind if target else "proxy")),
            "send the backend's name (SNI) in the TLS handshake")
    elif "verify error" in text or "does not match" in text:
        why = f"The certificate of {peer} fails verification" + (f" ({v.tls_verify})." if v.tls_verify
                                                                 else ".")
        summary = (f"install the CA with {v.tls_trusted_ca}" if v.tls_trusted_ca else
                   f"give {v.title} the CA that signed it") + " or fix the backend's certificate"
    else:
        why = f"The TLS handshake with {peer} failed."
        summary = f"check TLS versions/ciphers/SNI between {v.title} and the backend"
    notes = []
    host = split_key(peer or "")[0] or ""
    if "SNI" in why and (host.replace(".", "").isdigit() or ":" in host):
        notes.append(f"{host} is an IP address, and no SNI is sent for an IP: also set "
                     f"{v.tls_name or 'the name sent'} to the name the backend's certificate is for")
    notes += unwritten
    return Candidate(finding=make_finding(
        "upstream-tls-mismatch", confidence=0.9, groups=groups, explanation=why, evidence=items,
        fix=Fix(summary=summary, commands=[f"openssl s_client -connect {peer} -servername <name> </dev/null",
                                           *reload_commands(ev)],
                diff=diff, file=anchor_file if diff else None, notes=notes),
        upstream=upstream_name(ev, peer), target=peer), claims=claims(groups))


def _fpm_port(ev: Evidence, peer: str | None) -> bool:
    """Is ``peer`` a PHP-FPM pool's listen address (so it speaks FastCGI)?"""
    if not peer:
        return False
    _, port, path = split_key(peer)
    for pool in ev.config.fpm_pools:
        if pool.key == peer:
            return True
        p_host, p_port, p_path = split_key(pool.key)
        if path is None and p_path is None and p_port == port and p_host in ("0.0.0.0", "::", None):  # noqa: S104
            return True
    return False


def _protocol(ev: Evidence, peer: str | None, groups: list[SymptomGroup], fpm: bool = False
              ) -> Candidate:
    target = ev.target(peer)
    text = _text(groups)
    probe = ev.live.probes.get(peer) if ev.live.probes and peer else None
    items = [i for g in groups for i in group_items(g)]
    if probe:
        items.append(probe_item(peer, probe))
    if target:
        items.append(config_item(target))
    speaks = probe.answer if probe and probe.answer in _PROTOCOLS else None
    if speaks is None and fpm:
        speaks = "fastcgi"
        pool = next(p for p in ev.config.fpm_pools if _fpm_port(ev, p.key) and (
            p.key == peer or split_key(p.key)[1] == split_key(peer or "")[1]))
        items.append(EvidenceItem(kind="config", summary=f"PHP-FPM pool [{pool.name}] listens on "
                                  f"{pool.listen}: it speaks FastCGI", source=pool.file,
                                  line=pool.listen_line or pool.line))
    if speaks is None:
        if "FastCGI protocol version: 72" in text:
            speaks = "http"
        elif "no valid HTTP/1.0 header" in text:
            speaks = "not-http"
    said = {"fastcgi": "FastCGI", "tls": "TLS", "http": "HTTP", "uwsgi": "uwsgi",
            "not-http": "something that is not HTTP"}.get(speaks or "", "another protocol")
    diff, notes = None, list[str]()
    if target and target.file and target.line and speaks:
        diff, notes = edit(ev, SpeakProtocol(Place(target.file, target.line), speaks),
                           f"make the {proxy_of(ev).vocabulary.route} speak {said} to {peer}")
    spoken = (target.kind if target and target.kind != "proxy" else
              ("https" if target and target.scheme == "https" else "http"))
    conf = 0.9 if (probe and speaks) or "72" in text else (0.85 if fpm else 0.7)
    return Candidate(finding=make_finding(
        "protocol-mismatch", confidence=conf, groups=groups,
        explanation=f"{proxy_name(ev.proxy)} speaks {spoken} to {peer}, but the backend there speaks "
                    f"{said}, so its reply is not a response {proxy_name(ev.proxy)} can parse.",
        evidence=items,
        fix=Fix(summary=f"use the directive/scheme that matches what {peer} speaks",
                commands=reload_commands(ev), diff=diff,
                file=target.file if diff and target else None, notes=notes),
        upstream=upstream_name(ev, peer), target=peer, status_codes=[502]), claims=claims(groups))


# What nginx says when a response of the right protocol is malformed (ngx_http_proxy_module.c,
# ngx_http_fastcgi_module.c, ngx_http_uwsgi_module.c); "no valid HTTP/1.0 header" is a bad status
# line only when the port is known to answer HTTP, else it is the sign of another protocol.
_MALFORMED = ("upstream sent invalid header", "upstream sent invalid status",
              "upstream sent duplicate header line", "upstream sent invalid chunked response",
              "upstream sent invalid trailer", "invalid header after joining FastCGI records")
_QUOTED = re.compile(r'upstream sent (invalid (?:header|status)|duplicate header line):? ?'
                     r'"((?:[^"\\]|\\.)*)')


def _malformed(ev: Evidence, peer: str | None, g: SymptomGroup) -> bool:
    """Is this invalid-response group a malformed answer in the protocol the proxy spoke?"""
    text = _text([g])
    if "FastCGI protocol version" in text:
        return False  # fastcgi_pass to an HTTP port: 72 is the "H" of "HTTP/"
    probe = ev.live.probes.get(peer) if ev.live.probes and peer else None
    target = ev.target(peer)
    if probe is not None and target is not None and _mismatch(target, probe.answer):
        return False  # the port speaks something else: protocol-mismatch
    if any(m in text for m in _MALFORMED):
        return True
    if ("no valid HTTP/1.0 header" in text and probe is not None and probe.answer == "http"
            and (target is None or (target.kind == "proxy" and target.scheme != "https"))):
        return True
    # A proxy's word for "the response did not parse" that does not say how (HAProxy's
    # termination state PH, configuration.txt 8.5: "the proxy blocked the server's response,
    # because it was invalid, incomplete, dangerous", H: while reading its headers; Apache's
    # AH01106 "bad HTTP/%d.%d header returned by"): the live probe decides.  A port that
    # answers in the very protocol the proxy speaks to it (an HTTP status line, even one that
    # does not parse, such as "HTTP/1.1 OK" with no code) is a backend speaking HTTP badly: its
    # bug, backend-invalid-response.  One that answers another protocol (TLS, FastCGI, HTTP/2
    # frames, binary) is protocol-mismatch (``_mismatch`` above); no probe: undecided, kept as
    # the mismatch, the commoner cause of a reply that does not parse.
    return (probe is not None and target is not None and target.kind == "proxy"
            and probe.answer == _spoken(target))


def _invalid_response(ev: Evidence, peer: str | None, groups: list[SymptomGroup]) -> Candidate:
    target = ev.target(peer)
    text = _text(groups)
    probe = ev.live.probes.get(peer) if ev.live.probes and peer else None
    quoted = _QUOTED.search(text)
    items = [i for g in groups for i in group_items(g)]
    who = proxy_name(ev.proxy)
    if quoted:
        items.insert(0, EvidenceItem(kind="stat", summary=f"the offending {quoted.group(1).split()[-1]}"
                                     f' as {who} quotes it: "{quoted.group(2)}" (\\xNN is the '
                                     f"byte {who} refused)"))
    elif "no valid HTTP/1.0 header" in text:
        items.insert(0, EvidenceItem(kind="stat", summary="the status line does not parse as "
                                     f"HTTP/1.x; {who} relayed the reply as HTTP/0.9 (status 009)"))
    if probe:
        items.append(probe_item(peer, probe))
    if target:
        items.append(config_item(target))
    what = (f'the header "{quoted.group(2)}"' if quoted and "header" in quoted.group(1)
            else f'the status "{quoted.group(2)}"' if quoted else
            "a status line that is not HTTP/1.x" if "no valid HTTP/1.0 header" in text
            else f"a response {proxy_name(ev.proxy)} cannot parse")
    proof = (f" (a probe got {probe.protocol.status_line} from it)" if probe and probe.protocol
             and probe.answer == "http" and probe.protocol.status_line else "")
    conf = 0.9 if (quoted or proof) else 0.75
    return Candidate(finding=make_finding(
        "backend-invalid-response", confidence=conf, groups=groups,
        explanation=f"{peer or 'The backend'} speaks HTTP{proof} but sent {what}, which breaks "
                    f"HTTP's syntax, so {proxy_name(ev.proxy)} refused the response and answered "
                    "502. The proxy's config points at the right protocol; the application writes "
                    "the malformed response.",
        evidence=items,
        fix=Fix(summary="fix the application (or the library writing its headers): strip control "
                        "bytes and newlines from header values, write every header as 'Name: value' "
                        f"and a standard status line; {proxy_name(ev.proxy)}'s config cannot "
                        "repair it",
                commands=[f"curl -sv http://{peer}/ -o /dev/null 2>&1 | sed -n '/^< /p' | cat -A"
                          if peer and not peer.startswith("unix:") else
                          "curl -sv --unix-socket <socket> http://localhost/ -o /dev/null"]),
        upstream=upstream_name(ev, peer), target=peer, status_codes=[502]), claims=claims(groups))
