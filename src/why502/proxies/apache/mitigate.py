"""Apache httpd's part of ``why502 mitigate`` (its ``mitigate`` plug-in, reached through
``Hooks.mitigate``): its balancers, and taking a member out by a config change --
``status=+D`` on its ``BalancerMember`` line (mod_proxy.html, "BalancerMember and ProxyPass
parameters": ``status`` D "Worker is disabled and will not accept any requests", ``+`` sets the
flag), applied by ``why502 fix``'s transaction (``apache2 -t``, graceful restart, verify,
rollback).  The ``balancer-manager`` handler could do it without a restart, but only
where the config exposes one (and that page is rarely open to the host itself); the config
change works wherever ``fix`` may write.  httpd allows no comment after a directive, so the
``# why502 mitigation ID`` line goes above it.  Without ``BalancerPersist On`` (the default)
a graceful restart takes the members' status from the config again (mod_proxy_balancer.html).
"""

from __future__ import annotations

from why502.app.mitigate.model import Group, Member, Stopgaps
from why502.errors import InputError
from why502.proxies.apache.config import ApacheConfig
from why502.proxies.apache.proxy import PROXY as APACHE
from why502.proxies.base import resolve


def apache_config(path: str) -> ApacheConfig:
    """Apache's config at ``path``, parsed once per run by its source plug-in (``Hooks.source``:
    a plug-in is resolved by name, never imported by the layer it serves)."""
    return resolve(APACHE.hooks.source).apache_config(path)  # type: ignore[attr-defined, no-any-return]


def apache_groups(conf: str) -> list[Group]:
    """The ``balancer://NAME`` groups a ``ProxyPass`` uses, with their members."""
    try:
        cfg = apache_config(conf)
    except OSError as err:
        raise InputError(f"cannot read {conf}: {err.strerror or err}") from None
    groups: dict[str, list[Member]] = {}
    for t in cfg.targets():
        if t.group is None:
            continue
        status = (t.param("status") or "").upper()
        out = not status.startswith("-") and any(flag in status for flag in "DS")  # disabled, stopped
        member = Member(t.directive.args[0], t.key, t.host, t.port, t.unix_path, t.directive.file,
                        t.directive.line, "H" in status, out)
        if member not in groups.setdefault(t.group, []):
            groups[t.group].append(member)
    return [Group(name, tuple(members), members[0].file, members[0].line) for name, members in groups.items()]


def apache_take_out(texts: dict[str, str], member: Member, mid: str, evidence: str) -> None:
    """``status=+D`` on ``member``'s ``BalancerMember`` line, a comment line above it."""
    if member.file not in texts:
        try:
            with open(member.file, encoding="utf-8", errors="surrogateescape", newline="") as fh:
                texts[member.file] = fh.read()
        except OSError as err:
            raise InputError(f"{member.file}: {err.strerror or err}") from None
    lines = texts[member.file].splitlines(keepends=True)
    i = member.line - 1
    line = lines[i] if 0 <= i < len(lines) else ""
    body = line.rstrip("\r\n")
    low = body.lstrip().lower()
    if not low.startswith("balancermember") or body.endswith("\\") or "status=" in low:
        raise InputError(f"{member.file}:{member.line}: the BalancerMember line of {member.name} has a "
                         "status already or goes on over several lines: take it out by hand")
    pad = body[:len(body) - len(body.lstrip())]
    note = evidence.replace("\n", " ")[:120]
    lines[i:i + 1] = [f"{pad}# why502 mitigation {mid}: taken out ({note})\n",
                      f"{body} status=+D{line[len(body):]}"]
    texts[member.file] = "".join(lines)


def _groups(conf: str) -> tuple[None, list[Group]]:
    return None, apache_groups(conf)


STOPGAPS = Stopgaps(groups=_groups, take_out=apache_take_out)
"""Apache httpd's stop-gaps (``Hooks.mitigate``): ``status=+D`` only."""
