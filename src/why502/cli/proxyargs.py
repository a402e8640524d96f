"""``--config FILE`` and ``--proxy nginx|apache|haproxy``, shared by diagnose, stats, lint, lab.

``--config`` takes any supported proxy's config, the kind detected from the content by the one
detector (``why502.proxies``); ``--proxy`` forces it; ``--nginx-conf`` stays as an alias of
``--config`` for nginx.  Standard library only at module level (``why502 --help`` must stay
instant); the registry, which imports nothing heavy, is read when the parser is built.
"""

from __future__ import annotations

import argparse

from why502.errors import UsageError


def add_proxy_arguments(parser: argparse.ArgumentParser, what: str = "read") -> None:
    from why502.proxies import names

    parser.add_argument("--config", metavar="FILE",
                        help=f"the proxy's config to {what}: nginx.conf or a saved nginx -T dump, "
                             "apache2.conf/httpd.conf, or haproxy.cfg (the kind is detected)")
    parser.add_argument("--proxy", choices=names(), metavar="NAME",  # a usage line that fits 60 columns
                        help=f"which proxy --config is for: {', '.join(names())} (default: "
                             "detected from its content)")


def config_path(args: argparse.Namespace) -> str | None:
    """The config named by ``--config`` or its alias ``--nginx-conf`` (not both)."""
    nginx_conf: str | None = getattr(args, "nginx_conf", None)
    config: str | None = args.config
    if nginx_conf and config:
        raise UsageError("--nginx-conf is an alias of --config: give one of them")
    return config or nginx_conf


def proxy_of_file(path: str | None, proxy: str | None = None, flag: str = "--config") -> str:
    """The proxy a config file named by ``flag`` is for: ``--proxy`` when given, else from its
    content (``why502.proxies.choose``, the one check: a config of a kind the command cannot
    read is exit 3 naming what it is and the flags to use); the default proxy for stdin or no
    file."""
    from why502.proxies import choose

    return choose(proxy, path, flag)
