"""A proxy's names for its peers, joined onto the identity keys of the cause model.

Some proxies' logs name a peer by their own config's name for it (HAProxy's ``backend/server``,
Apache's host or socket path, Caddy's dial address): each proxy's facts plug-in
(``proxies.<name>.facts``) maps those names onto keys (``aliases``); this renames the classified
groups with them, whichever proxy it is.
"""

from __future__ import annotations

from dataclasses import replace

from why502.evidence.model import SymptomGroup


def with_aliases(groups: list[SymptomGroup], aliases: dict[str, str]) -> list[SymptomGroup]:
    """Symptom groups with the peers a proxy's log names (HAProxy's ``backend/server``, Apache's
    host or socket path) renamed to identity keys; groups that land on the same (symptom, peer)
    are merged."""
    if not aliases:
        return groups
    merged: dict[tuple[str, str | None], SymptomGroup] = {}
    order: list[tuple[str, str | None]] = []
    for g in groups:
        # "" names the peer of lines that name none (a config with one backend only)
        peer = aliases.get(g.peer, g.peer) if g.peer is not None else aliases.get("")
        key = (g.symptom, peer)
        if key not in merged:
            merged[key] = replace(g, peer=peer)
            order.append(key)
            continue
        old = merged[key]
        statuses = dict(old.statuses)
        for s, n in g.statuses.items():
            statuses[s] = statuses.get(s, 0) + n
        firsts = [t for t in (old.first, g.first) if t is not None]
        lasts = [t for t in (old.last, g.last) if t is not None]
        merged[key] = replace(old, count=old.count + g.count, statuses=statuses,
                              first=min(firsts) if firsts else None,
                              last=max(lasts) if lasts else None,
                              samples=(old.samples + g.samples)[:5],
                              times=tuple(sorted(old.times + g.times))[:300])
    return [merged[k] for k in order]
