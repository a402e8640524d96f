"""The lint checks, one module per family; importing this package registers every check
(``why502.analyzers.lint.registry.rule``).

Each check is pure: ``check(inp, rule) -> list[LintFinding]``; behaviour claims cite nginx's
source (``nginx/nginx`` paths) or docs (``haproxy`` and ``apache``: HAProxy's configuration.txt,
httpd's module pages), the rule texts in ``lint_rules.toml`` say the same for
users.
"""

from __future__ import annotations

from why502.analyzers.lint.checks import (  # noqa: F401  (each module registers its checks)
    apache,
    buffers,
    caddy,
    envoy,
    groups,
    haproxy,
    keepalive,
    limits,
    names,
    php_fpm,
    proxying,
    timeouts,
)
