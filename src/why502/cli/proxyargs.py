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
import functools
from typing import TYPE_CHECKING

from why502.errors import UsageError

if TYPE_CHECKING:
    from why502.proxies.base import Proxy, Vocabulary


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


def listed(words: list[str], last: str = "and") -> str:
    """``a, b and c`` (``last``: the word before the last one)."""
    return ", ".join(words[:-1]) + f" {last} {words[-1]}" if len(words) > 1 else "".join(words)


def in_words(template: str) -> str:
    """A help text in the registry's words (issue 23: ``cli`` spells no proxy): ``template``
    formatted with :func:`help_words`."""
    return template.format(**help_words())


@functools.cache
def help_words() -> dict[str, object]:
    """The words of the help texts, each from what the proxies declare:

    - ``own``: the default proxy's ``Vocabulary`` (``{own.title}``, ``{own.default_config}``,
      ``{own.config_dump}``, ``{own.config_flag}``, ...), ``own_name`` its name, ``own_dir`` and
      ``own_logs`` the folders of its packaged config and error log;
    - lists: ``titles`` (every proxy), ``others`` (all but the default one), ``watched`` (the
      proxies ``watch`` follows, ``Capability.WATCH``), ``edges`` (those whose logs are read as an
      edge's, ``Hooks.log_family``), ``fixable_others`` (``fix``'s besides the default one),
      ``fix_tests``/``fix_reloads``, ``take_out``/``fallback`` (their ``Vocabulary`` help words),
      ``log_types`` (``--log-type``'s names: the cloud load balancers', then the edges'; the log
      families themselves are not imported for a help text), ``lb_timeouts`` (the edges' own
      ``stats --lb-timeout`` defaults, ``Vocabulary.lb_timeout``);
    - the examples' proxies: ``edge`` (the first found as an edge process), ``syslogged`` and
      ``syslogged_name`` (the first that logs through syslog), ``lab_check``/``lab_title`` and
      ``lab_matrix`` (lab's third and second proxies) and ``lab_also`` (the others)."""
    import os

    from why502.proxies import PROXIES, Capability

    own = default_proxy()
    proxies = list(PROXIES.values())
    edges = with_hook("log_family")
    lab = with_hook("lab_runtime")
    syslogged = next(p for p in proxies if p.can(Capability.LOGS_THROUGH_SYSLOG))
    return {
        "own": own, "own_name": next(iter(PROXIES)), "own_dir": os.path.dirname(own.default_config),
        "own_logs": os.path.dirname(own.default_error_log),
        "titles": ", ".join(p.vocabulary.title for p in proxies),
        "others": ", ".join(p.vocabulary.title for p in proxies if p.vocabulary is not own),
        "watched": "the logs of " + listed([p.vocabulary.title for p in proxies if p.can(Capability.WATCH)]),
        "edges": ", ".join(p.vocabulary.title for p in edges),
        "fixable_others": listed([p.vocabulary.title for p in with_hook("fix_service")
                                  if p.vocabulary is not own], "or"),
        "fix_tests": ", ".join(v.fix_test for v in words("fix_test")),
        "fix_reloads": ", ".join(v.fix_reload for v in words("fix_reload")),
        "take_out": "; ".join(f"{v.title}: {v.take_out_help}" for v in words("take_out_help")),
        "fallback": "; ".join(f"{v.title}: {v.fallback_help}" for v in words("fallback_help")),
        "log_types": ", ".join(("alb", "elb", "cloudflare", *(p.name for p in edges))),
        "lb_timeouts": ", ".join(f"{p.vocabulary.title} {p.vocabulary.lb_timeout:g}" for p in edges
                                 if p.vocabulary.lb_timeout),
        "edge": next(p.name for p in proxies if p.can(Capability.EDGE_PROCESS)),
        "syslogged": syslogged.vocabulary, "syslogged_name": syslogged.name,
        "lab_check": lab[2].name, "lab_title": lab[2].vocabulary.title, "lab_matrix": lab[1].name,
        "lab_also": ", ".join(p.name for p in lab if p is not lab[2]),
    }


def with_hook(hook: str) -> list[Proxy]:
    """The proxies whose ``Hooks.<hook>`` is set (``fix_service``, ``lab_runtime``, ...)."""
    from why502.proxies import PROXIES

    return [p for p in PROXIES.values() if getattr(p.hooks, hook)]


def with_vocabulary(field: str) -> list[Proxy]:
    """The proxies whose ``Vocabulary.<field>`` is set (``admin_api``, ...)."""
    from why502.proxies import PROXIES

    return [p for p in PROXIES.values() if getattr(p.vocabulary, field)]


def words(field: str) -> list[Vocabulary]:
    """The vocabularies of the proxies that set ``field`` (their help's words)."""
    return [p.vocabulary for p in with_vocabulary(field)]
