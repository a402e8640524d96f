"""``--config FILE`` and ``--proxy NAME``, shared by diagnose, stats, lint, watch, fix, mitigate.

``--config`` takes any supported proxy's config, the kind detected from the content by the one
detector (``why502.proxies``); ``--proxy`` forces it; the default proxy's own older name of
``--config`` (``--nginx-conf``: its ``Vocabulary.config_flag``) stays as an alias that names its
config only, and the proxies' older names of ``--proxy-binary`` (``Vocabulary.binary_flag``) and
of ``lint``'s positional config (``config_argument``) stay too: declared by the proxies, read
here, spelled nowhere in ``cli``.  Standard library only at module level (``why502 --help`` must
stay instant); the registry, which imports nothing heavy, is read when the parser is built.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from why502.errors import UsageError

if TYPE_CHECKING:
    from why502.proxies.base import Vocabulary


def config_files() -> str:
    """Every proxy's config file as its package names it (``Vocabulary.default_config``), the
    dump it prints after it (``config_dump``), its title before a name that does not say it."""
    import os

    from why502.proxies import PROXIES

    def one(v: Vocabulary) -> str:
        name = os.path.basename(v.default_config)
        title = "" if v.title.split()[0].lower() in name.lower() else f"{v.title}'s "
        return f"{title}{name}" + (f" or a saved {v.config_dump} dump" if v.config_dump else "")

    listed = [one(p.vocabulary) for p in PROXIES.values()]
    return ", ".join(listed[:-1]) + f", or {listed[-1]}"


def add_proxy_arguments(parser: argparse.ArgumentParser, what: str = "read") -> None:
    from why502.proxies import names

    parser.add_argument("--config", metavar="FILE",
                        help=f"the proxy's config to {what}: {config_files()} (the kind is detected)")
    parser.add_argument("--proxy", choices=names(), metavar="NAME",  # a usage line that fits 60 columns
                        help=f"which proxy --config is for: {', '.join(names())} (default: "
                             "detected from its content)")


def default_proxy() -> Vocabulary:
    """The default proxy's words (its ``Vocabulary``: the aliases it declares, its dump)."""
    from why502.proxies import DEFAULT, PROXIES

    return PROXIES[DEFAULT].vocabulary


def aliases(field: str) -> tuple[str, ...]:
    """The proxies' own older names of a neutral option (``proxies.option_aliases``)."""
    from why502.proxies import option_aliases

    return option_aliases(field)


def add_default_config_argument(parser: argparse.ArgumentParser, help_text: str,
                                dest: str = "default_proxy_config") -> None:
    """The default proxy's own older name of ``--config`` (``--nginx-conf``), its config only
    (``proxies.choose``); ``help_text`` formatted with its vocabulary's fields (``{title}``,
    ``{config_dump}``, ``{default_config}``, ``{config_argument}``) and ``{file}``, its
    config's file name."""
    import os
    from dataclasses import asdict

    v = default_proxy()
    parser.add_argument(v.config_flag, dest=dest, metavar="FILE",
                        help=help_text.format(**asdict(v), file=os.path.basename(v.default_config)))


def config_path(args: argparse.Namespace) -> str | None:
    """The config named by ``--config`` or the default proxy's alias of it (not both)."""
    own: str | None = getattr(args, "default_proxy_config", None)
    config: str | None = args.config
    if own and config:
        raise UsageError(f"{default_proxy().config_flag} is an alias of --config: give one of them")
    return config or own


def proxy_of_file(path: str | None, proxy: str | None = None, flag: str = "--config") -> str:
    """The proxy a config file named by ``flag`` is for: ``--proxy`` when given, else from its
    content (``why502.proxies.choose``, the one check: a config of a kind the command cannot
    read is exit 3 naming what it is and the flags to use); the default proxy for stdin or no
    file."""
    from why502.proxies import choose

    return choose(proxy, path, flag)
