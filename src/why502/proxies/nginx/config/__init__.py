"""nginx semantics, pure: read a config, model it, edit it, and choose servers and locations.

Cut like crossplane's lexer/parser/analyzer/builder, one job per module, lowest first:

- ``units``: sizes and times (``ngx_parse_size``/``ngx_parse_time``);
- ``directives``: the directive table (``catalog/data/directives.toml``);
- ``tree``: ``Directive``/``Scope``/``Setting`` and the inheritance rule;
- ``targets``: ``*_pass`` targets, upstream groups and servers, ``listen`` addresses;
- ``model``: ``Location``, ``Server``, logs, ``NginxConfig`` (the one view lint and diagnose read);
- ``assemble``: the directive tree -> ``NginxConfig``;
- ``lexfeed``: crossplane's own lexer fed runs of characters instead of single ones;
- ``load``: files, includes and ``nginx -T`` dumps -> the directive tree (crossplane);
- ``edit``: set a directive in the config text, as a unified diff (``findings.patch``);
- ``uri``, ``pcre``, ``match``, ``servers``, ``locations``: which server and location nginx
  chose for a logged request (vectorised with polars; import them directly).

This package re-exports the model and its readers and editors (standard library only, so
importing it stays cheap); the location-matching modules need polars and are imported by name.
"""

from __future__ import annotations

from why502.proxies.nginx.config.directives import (
    PASS_DIRECTIVES,
    DirectiveInfo,
    directive_info,
    directive_table,
)
from why502.proxies.nginx.config.edit import (
    ConfigEdits,
    make_directive_diff,
    set_directive,
    set_directive_text,
)
from why502.proxies.nginx.config.load import DUMP_MARKER, is_dump, parse_dump, parse_nginx, split_dump
from why502.proxies.nginx.config.model import (
    Location,
    LogFormat,
    LogTarget,
    NginxConfig,
    ParseProblem,
    Server,
)
from why502.proxies.nginx.config.targets import (
    Listen,
    Target,
    UpstreamGroup,
    UpstreamServer,
    group_peers,
    make_target,
    parse_upstream_server,
    split_host_port,
)
from why502.proxies.nginx.config.tree import Directive, Scope, Setting, effective_setting
from why502.proxies.nginx.config.units import format_seconds, parse_size, parse_time
from why502.textutil import strip_comment

__all__ = [
    "DUMP_MARKER",
    "PASS_DIRECTIVES",
    "ConfigEdits",
    "Directive",
    "DirectiveInfo",
    "Listen",
    "Location",
    "LogFormat",
    "LogTarget",
    "NginxConfig",
    "ParseProblem",
    "Scope",
    "Server",
    "Setting",
    "Target",
    "UpstreamGroup",
    "UpstreamServer",
    "directive_info",
    "directive_table",
    "effective_setting",
    "format_seconds",
    "group_peers",
    "is_dump",
    "make_directive_diff",
    "make_target",
    "parse_dump",
    "parse_nginx",
    "parse_size",
    "parse_time",
    "parse_upstream_server",
    "set_directive",
    "set_directive_text",
    "split_dump",
    "split_host_port",
    "strip_comment",
]
