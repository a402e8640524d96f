"""nginx's lint plug-in: its ``@rule`` checks, one module per family, and its input
(``input.NginxLintInput``).  ``Hooks.lint_rules`` names this package (importing it registers
every check: ``why502.analyzers.lint.registry.rule``), ``Hooks.lint_input`` its :data:`LINT`.

Each check is pure: ``check(inp, rule) -> list[LintFinding]``; behaviour claims cite nginx's
source (``nginx/nginx`` paths) or docs, the rule texts in ``lint_rules.toml`` say the same for
users.  nginx's config is read by ``app.lint`` itself (``Capability.LINT_HOST_FACTS``: a dump
on stdin, ``nginx -T`` of this host, ``--root``, and this host's limits), so :data:`LINT` only
builds the input.
"""

from __future__ import annotations

from why502.analyzers.lint import LintSpec
from why502.proxies.nginx.lint import (  # noqa: F401  (each module registers its checks)
    buffers,
    groups,
    keepalive,
    limits,
    names,
    php_fpm,
    proxying,
    timeouts,
)
from why502.proxies.nginx.lint.input import lint_input

LINT = LintSpec(build=lint_input, pools=True,
                inputs=("somaxconn", "mem_total", "nofile", "header_bytes", "backend_timeout",
                        "backend_keepalive"),
                optional_inputs=("concurrency",))
"""How ``app.lint`` builds nginx's input (``Hooks.lint_input``); its config is read by
``Hooks.lint_config`` (``proxies.nginx.source.lint_config``: a dump, this host's, ``--root``)."""
