"""Changes to a cloudflared ``config.yml`` as unified diffs on the file, comments and the other
lines kept (``parsers.yamlmap``: a scalar replaced on its own line, keys added to a mapping).

- An ``originRequest`` key of one ingress rule (:func:`set_origin_request`): replaced where the
  rule's own ``originRequest`` sets it, added to that mapping when it has one, else a whole
  ``originRequest:`` added to the rule.  A per-rule key overrides the top-level one for that rule
  only (ingress/config.go ``setConfig``), so the change touches no other rule.
- A rule's ``service:`` value rewritten (:func:`set_service`: ``localhost`` -> ``127.0.0.1``).
- A TLS setting written beside the rule's keys moved under a new ``originRequest:``
  (:func:`move_to_origin_request`, lint W502-050).

``RENDERERS`` (``Hooks.edits``, ``proxies.render_edit``): ``CloseIdleBefore``, the keep-alive
race's fix, is the rule's ``originRequest.keepAliveTimeout`` (the origin transport's
``IdleConnTimeout``, ingress/origin_service.go), one second below the origin's own idle timeout.
The other intents of ``facts.edits`` have no place in this file (cloudflared has no server marks,
health checks, header buffers, resolvers or connection limits to set); their findings say the
change in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from why502.facts.edits import CloseIdleBefore
from why502.findings.patch import window_diff
from why502.parsers.yamlmap import add_keys, set_scalars
from why502.proxies.cloudflared.config import CloudflaredConfig, Rule, parse_cloudflared_text


def set_origin_request(files: Mapping[str, Sequence[str]], path: str, rule: Rule,
                       values: Mapping[str, str]) -> str | None:
    """Diff setting ``values`` in ``rule``'s own ``originRequest`` (module docstring)."""
    own = rule.own
    if own is not None and all(k in own for k in values):
        return set_scalars(files, path, own, values)
    if own is not None and not any(k in own for k in values):
        return add_keys(files, path, own, [f"{k}: {v}" for k, v in values.items()])
    if own is None and rule.node is not None:
        return add_keys(files, path, rule.node,
                        ["originRequest:", *(f"  {k}: {v}" for k, v in values.items())])
    return None


def set_service(files: Mapping[str, Sequence[str]], path: str, rule: Rule, service: str) -> str | None:
    """Diff writing ``service`` as ``rule``'s ``service:`` value, on its own line."""
    return set_scalars(files, path, rule.node, {"service": service}) if rule.node is not None else None


def move_to_origin_request(files: Mapping[str, Sequence[str]], path: str, rule: Rule, key: str,
                           setting: str) -> str | None:
    """Diff moving ``key``'s line of ``rule`` under a new ``originRequest:`` as ``setting`` (a
    ``yes``/``on`` written for a flag becomes ``true``: YAML 1.2, which cloudflared's decoder
    reads, takes only ``true``/``false`` as booleans); None when the rule has an ``originRequest``
    already or the value is not a scalar on the key's own line."""
    lines = files.get(path)
    node = rule.node
    if not lines or node is None or "originRequest" in node or isinstance(node[key], (dict, list)):
        return None
    line, col = node.keys_at[key]
    v_line, _v_col, end_line, _end_col = node.values_at[key]
    if v_line != line or end_line != line:
        return None
    value = node[key]
    text = "true" if value is True or str(value).lower() in ("yes", "on", "true") else \
        "false" if value is False or str(value).lower() in ("no", "off", "false") else str(value)
    pad = " " * col
    return window_diff(path, lines, line - 1, line, [f"{pad}originRequest:", f"{pad}  {setting}: {text}"])


def _config(files: Mapping[str, Sequence[str]], path: str | None) -> CloudflaredConfig | None:
    if path is None or path not in files:
        return None
    return parse_cloudflared_text("\n".join(files[path]) + "\n", path)


def _close_idle(files: Mapping[str, Sequence[str]], i: CloseIdleBefore) -> str | None:
    """``keepAliveTimeout`` of the group's rule one second below the origin's idle timeout (at
    least 1s): Go's transport then drops an idle connection before the origin closes it."""
    place = i.members[0].place if i.members else i.place
    cfg = _config(files, place.file)
    rule = next((r for r in cfg.rules if r.line == place.line), None) if cfg is not None else None
    if cfg is None or rule is None:
        return None
    idle = max(1, int(i.backend_idle_s or 2) - 1)
    return set_origin_request(files, cfg.path, rule, {"keepAliveTimeout": f"{idle}s"})


RENDERERS: dict[type, Any] = {CloseIdleBefore: _close_idle}
"""The intents cloudflared's config writes (module docstring)."""
