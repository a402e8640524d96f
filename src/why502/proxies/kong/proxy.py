"""Kong Gateway: a declarative config (``kong.yml`` of DB-less mode, or a decK state file).

A route is a Kong route (``paths``, ``hosts``), a group an upstream (the ring balancer of the
service whose ``host`` names it) and its targets.  Response timeout: the service's
``read_timeout``, in milliseconds, 60000 by default (Kong/kong
``kong/db/schema/entities/services.lua``); Kong hands it to nginx as the balancer's read timeout,
and the client gets Kong's 504 "The upstream server is timing out" (``kong/error_handlers.lua``).

Config test and reload (Kong's CLI, https://developer.konghq.com/gateway/cli/ and
``kong/cmd/config.lua``: "parse <file>  Parse a declarative config file (check its validity)"):
``kong config parse FILE`` then ``kong reload`` for DB-less mode; with a database the file is a
decK state file applied with ``deck gateway sync FILE`` (https://developer.konghq.com/deck/).
Kong's error log is ``logs/error.log`` under its prefix ``/usr/local/kong`` (kong.conf.default
``proxy_error_log``): nginx's error-line shape, the Lua lines prefixed ``[lua] FILE:LINE: FUNC():``.

No Kong binary and no Admin API are used here (none is installed on the machine that built this):
the config is read as a file; there is no lab runtime and no live probe.
"""

from __future__ import annotations

from collections.abc import Mapping

from why502.facts.setting import Setting
from why502.proxies.base import CERTAIN, BaseProxy, Detection, Hooks, Vocabulary


class Kong(BaseProxy):
    name = "kong"
    vocabulary = Vocabulary(
        title="Kong", long_title="Kong Gateway", route="route", group="upstream",
        response_timeout="read_timeout", timeout_default="60000 ms", timeout_state="",
        config_test="kong config parse {config}",
        reload="kong reload   # DB-less; with a database: deck gateway sync {config}",
        default_config="kong.yml", default_error_log="/usr/local/kong/logs/error.log",
        stats_word="Kong", stats_target="target", stats_timeout="read_timeout",
        stats_timeout_column="read_timeout",
        keepalive_timeout="upstream_keepalive_idle_timeout",
        keepalive_pool="upstream_keepalive_pool_size (kong.conf)")
    capabilities = frozenset()
    detection = Detection(programs=("kong",), priority=1)
    hooks = Hooks(load_config="why502.proxies.kong.config:load_kong",
                  lint_rules="why502.proxies.kong.lint", fix_service="", lab_runtime="",
                  lint_input="why502.proxies.kong.lint:LINT",
                  config_facts="why502.proxies.kong.facts:edge_facts",
                  facts="why502.proxies.kong.facts", edits="why502.proxies.kong.edit")

    def detect(self, raw: str, masked: str) -> int:
        """A top-level ``_format_version`` (certain), or Kong's entity keys under top-level
        ``services:`` / ``upstreams:`` (``detect.detect_score``)."""
        from why502.proxies.kong.detect import detect_score

        return detect_score(raw, masked, CERTAIN)

    def reload_commands(self, config: str | None, *, prefix: str | None = None) -> list[str]:
        cfg = config or self.vocabulary.default_config
        return [self.vocabulary.config_test.format(config=cfg), self.vocabulary.reload.format(config=cfg)]

    def show_group_commands(self, group: str | None) -> list[str]:
        """The Admin API's health of an upstream's targets (``GET /upstreams/{upstream}/health``,
        port 8001 by default: https://developer.konghq.com/api/gateway/admin-ee/)."""
        return [f"curl -s localhost:8001/upstreams/{group or 'UPSTREAM'}/health   # Kong Admin API"]

    def response_timeout(self, settings: Mapping[str, Setting], kind: str
                         ) -> tuple[str, Setting | None]:
        return "read_timeout", settings.get("read_timeout")

    def timeout_seconds(self, setting: Setting | None) -> float | None:
        """The service's ``read_timeout`` (ms) in seconds; 60 s when unset."""
        from why502.proxies.kong.config import seconds_of_ms

        return seconds_of_ms(setting.value) if setting is not None else 60.0

    def timeout_diff(self, files: Mapping[str, tuple[str, ...]], name: str, setting: Setting | None,
                     route: tuple[str | None, int | None], target: tuple[str | None, int | None],
                     seconds: int, anchor: str | None = None) -> str | None:
        """The service's ``read_timeout`` in milliseconds: replaced where the file sets it, else
        added to the service at ``route`` (the service's mapping: ``facts.kong_facts``)."""
        from why502.proxies.kong.config import parse_kong_text
        from why502.proxies.kong.edit import add_keys, set_scalars

        path, line = route
        if path is None or path not in files:
            return None
        cfg = parse_kong_text("\n".join(files[path]) + "\n", path)
        svc = next((s for s in cfg.services if s.line == line), None)
        if svc is None or svc.node is None:
            return None
        value = str(seconds * 1000)
        if "read_timeout" in svc.node:
            return set_scalars(files, path, svc.node, {"read_timeout": value})
        return add_keys(files, path, svc.node, [f"read_timeout: {value}"])


PROXY = Kong()
