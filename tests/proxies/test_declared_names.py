"""The proxies' own names of the commands' options, variables and commands are declared by the
proxies (issue 23 item 2), not spelled in ``cli`` or ``app``: what those layers read from the
registry keeps every older spelling working and the saved files readable."""

from __future__ import annotations

import argparse

import pytest

from why502.app.fix.plan import _is_reload
from why502.app.fix.state import ChangeSet
from why502.cli.main import build_parser
from why502.envvars import ENVIRONMENT
from why502.proxies import DEFAULT, DEFAULT_FLAG, PROXIES, SCHEMA_1_BINARY, SCHEMA_1_CONFIG, option_aliases

OWN = PROXIES[DEFAULT].vocabulary


def _parse(*argv: str) -> argparse.Namespace:
    parser, _modules = build_parser()
    return parser.parse_args(list(argv))


def test_the_default_proxys_older_names_are_its_declaration() -> None:
    # the flags users have in scripts: why502 diagnose --nginx-conf, fix --nginx, lint NGINX_CONF
    assert OWN.config_flag == DEFAULT_FLAG and DEFAULT_FLAG.startswith("--")
    assert OWN.binary_flag.startswith("--") and OWN.config_argument.isupper()
    assert option_aliases("config_flag")[0] == DEFAULT_FLAG


@pytest.mark.parametrize("command", ["diagnose", "watch", "stats"])
def test_the_config_alias_is_the_default_proxys_config(command: str) -> None:
    args = _parse(command, DEFAULT_FLAG, "/etc/x.conf")
    assert args.default_proxy_config == "/etc/x.conf" and args.config is None


@pytest.mark.parametrize("command", ["lint", "fix", "mitigate"])
def test_the_config_alias_is_config(command: str) -> None:
    assert _parse(command, DEFAULT_FLAG, "/etc/x.conf").config == "/etc/x.conf"


@pytest.mark.parametrize("command", ["fix", "mitigate"])
def test_the_binary_alias_is_the_proxy_binary(command: str) -> None:
    assert _parse(command, OWN.binary_flag, "/usr/sbin/x").binary == "/usr/sbin/x"
    assert _parse(command, "--proxy-binary", "/usr/sbin/y").binary == "/usr/sbin/y"


def test_lint_positional_config_is_named_by_the_proxy() -> None:
    parser, _modules = build_parser()
    lint = next(a for a in parser._subparsers._group_actions[0].choices["lint"]._actions
                if a.dest == "config_file")
    assert lint.metavar == OWN.config_argument


def test_every_declared_variable_is_documented() -> None:
    declared = {name for p in PROXIES.values() for name, _text in p.vocabulary.environment}
    assert declared >= {"WHY502_NGINX", "WHY502_HAPROXY", "WHY502_APACHE2"}  # the lab's binaries
    assert declared <= set(ENVIRONMENT)


@pytest.mark.parametrize("name", [n for n, p in PROXIES.items() if p.vocabulary.applied_commands])
def test_fix_does_not_list_the_config_test_and_reload_it_runs_itself(name: str) -> None:
    """A finding's commands end with the proxy's own config test and reload
    (``Proxy.reload_commands``): ``fix --apply`` runs those itself, so its plan does not print
    them as commands to run; anything else (restart a backend) it does."""
    proxy = PROXIES[name]
    config = proxy.vocabulary.default_config
    for command in proxy.reload_commands(config):
        assert _is_reload(command), (name, command)
    assert _is_reload("systemctl restart php8.2-fpm")
    assert not _is_reload("systemctl restart gunicorn")
    assert not _is_reload(f"sysctl -w net.core.somaxconn=4096 # {name}")


def test_a_journal_keeps_the_keys_older_versions_read() -> None:
    """``fix``'s journal names the proxy's config and binary as schema 1.0 did: an older why502
    undoes a change made by this one, and this one reads an older journal."""
    cs = ChangeSet(id="1", created="2026-11-24T00:00:00Z", state="applied", pid=1, config="/etc/p.cfg",
                   binary="/usr/sbin/p", proxy="haproxy")
    data = cs.to_dict()
    assert data[SCHEMA_1_CONFIG] == "/etc/p.cfg" and data[SCHEMA_1_BINARY] == "/usr/sbin/p"
    assert "config" not in data and "binary" not in data
    again = ChangeSet.from_dict(data)
    assert (again.config, again.binary, again.proxy) == ("/etc/p.cfg", "/usr/sbin/p", "haproxy")


def test_each_edges_lb_timeout_in_the_help_is_its_familys_default() -> None:
    """``stats --help`` says each edge's ``--lb-timeout`` default from its ``Vocabulary.lb_timeout``
    (cli spells no proxy); the family reads the same number, so the help cannot drift from it."""
    from why502.cli.proxyargs import help_words
    from why502.proxies.logfamilies import families

    fams = families()
    for proxy in PROXIES.values():
        family = fams.get(proxy.name) if proxy.hooks.log_family else None
        if family is None:
            continue
        declared = family.default_timeout[0] if family.default_timeout else None
        assert proxy.vocabulary.lb_timeout == declared, proxy.name
        if declared:
            assert f"{proxy.vocabulary.title} {declared:g}" in str(help_words()["lb_timeouts"])
