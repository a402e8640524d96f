"""``--config FILE`` and ``--proxy nginx|apache|haproxy``, shared by diagnose, stats, lint, lab.

``--config`` takes any supported proxy's config, the kind detected from the content
(``parsers.proxykind``); ``--proxy`` forces it; ``--nginx-conf`` stays as an alias of ``--config``
for nginx.  Standard library only (``why502 --help`` must stay instant).
"""

from __future__ import annotations

import argparse

from why502.errors import UsageError

PROXIES = ("nginx", "apache", "haproxy")


def add_proxy_arguments(parser: argparse.ArgumentParser, what: str = "read") -> None:
    parser.add_argument("--config", metavar="FILE",
                        help=f"the proxy's config to {what}: nginx.conf or a saved nginx -T dump, "
                             "apache2.conf/httpd.conf, or haproxy.cfg (the kind is detected)")
    parser.add_argument("--proxy", choices=PROXIES,
                        help="which proxy --config is for (default: detected from its content)")


def config_path(args: argparse.Namespace) -> str | None:
    """The config named by ``--config`` or its alias ``--nginx-conf`` (not both)."""
    nginx_conf: str | None = getattr(args, "nginx_conf", None)
    config: str | None = args.config
    if nginx_conf and config:
        raise UsageError("--nginx-conf is an alias of --config: give one of them")
    return config or nginx_conf


def proxy_of_file(path: str | None) -> str:
    """The proxy a ``--config`` file is for, from its content; nginx for stdin or no file."""
    if path is None or path == "-":
        return "nginx"
    from why502.parsers.proxykind import kind_of_file

    return kind_of_file(path)
