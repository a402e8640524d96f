"""``apachectl -S`` and ``apache2 -t -D DUMP_INCLUDES`` output as ``--config``: detected from the
content, the main config it names is read, each virtual host keeps its name and block file:line.
The dumps are made here by the real apache2 from a config in a temp dir."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunMain
from why502.proxies import detect_text as detect_kind
from why502.proxies.apache import dump as dump_module
from why502.proxies.apache.config import load_apache, parse_apache_text
from why502.proxies.apache.dump import parse_apache_dump
from why502.proxies.apache.lab import MODULE_DIRS, find_apache

SITES = """<VirtualHost 127.0.0.1:8080>
    ServerName app.example
    ServerAlias www.app.example
    ProxyPass / http://127.0.0.1:9001/
</VirtualHost>

<VirtualHost 127.0.0.1:8080>
    ServerName api.example
    ProxyTimeout 5
    ProxyPass / http://127.0.0.1:9002/
</VirtualHost>
"""


def test_two_vhosts_on_one_address_are_told_apart_by_their_block() -> None:
    cfg = parse_apache_text(SITES, "/etc/apache2/sites-enabled/app.conf", "/etc/apache2",
                            read_includes=False)
    names = {t.key: (cfg.vhost_of(t.directive), cfg.timeout(t).value) for t in cfg.targets()}
    # api.example's ProxyTimeout is its own: app.example on the same address keeps Timeout's 60
    assert names == {"127.0.0.1:9001": ("app.example", "60"), "127.0.0.1:9002": ("api.example", "5")}
    assert [(b.line, b.end, b.names) for b in cfg.vhost_blocks] == [
        (1, 5, ["app.example", "www.app.example"]), (7, 11, ["api.example"])]


@pytest.mark.real
@pytest.mark.skipif(find_apache() is None, reason="apache2 is not installed")
def test_dumps_of_the_real_apache2_stand_for_the_config(tmp_path: Path, run_main: RunMain) -> None:
    binary = find_apache()
    mods = next((d for d in MODULE_DIRS if os.path.isdir(d)), None)
    assert binary is not None
    if mods is None:
        pytest.skip("Apache's module directory was not found")
    (tmp_path / "sites").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "sites" / "app.conf").write_text(SITES)
    main = tmp_path / "apache2.conf"
    main.write_text(
        f"ServerRoot {tmp_path}\nServerName localhost\nListen 127.0.0.1:8080\n"
        f"PidFile {tmp_path}/run/apache2.pid\nDefaultRuntimeDir {tmp_path}/run\n"
        f"ErrorLog {tmp_path}/error.log\n"
        + "".join(f"LoadModule {m}_module {mods}/mod_{m}.so\n"
                  for m in ("mpm_event", "authz_core", "proxy", "proxy_http"))
        + "IncludeOptional sites/*.conf\n")
    dumps = {}
    for name, flags in (("vhosts", ["-S"]), ("includes", ["-t", "-D", "DUMP_INCLUDES"])):
        res = subprocess.run([binary, *flags, "-f", str(main)], capture_output=True, text=True, timeout=30,
                             check=False)
        assert res.returncode == 0, res.stderr
        dumps[name] = tmp_path / f"{name}.txt"
        dumps[name].write_text(res.stdout)
        assert detect_kind(res.stdout) == "apache"
    dump = parse_apache_dump(dumps["vhosts"].read_text())
    assert [(v.name, v.line, v.aliases, v.default) for v in dump.vhosts] == [
        ("app.example", 1, ("www.app.example",), True), ("api.example", 7, (), False)]
    assert dump.server_root == str(tmp_path)
    for path in dumps.values():
        cfg = load_apache(str(path))
        assert cfg.main_file == str(main) and str(tmp_path / "sites" / "app.conf") in cfg.files
        # lint reads the real files through the dump: the 5 s ProxyTimeout of api.example
        code, out, err = run_main("lint", "--config", str(path), "--backend-timeout", "30",
                                  "--format", "json")
        assert code == 1, err
        (f,) = json.loads(out)["findings"]
        assert f["code"] == "W502-030" and f["file"] == str(tmp_path / "sites" / "app.conf")
        assert f["line"] == 9


def test_a_single_address_line_reads_as_when_each_colon_was_tried() -> None:
    """``_SINGLE`` asks once for the colon inside the address (``(\\S+:\\S+)`` cut the run at each
    of its colons: 16.7 s for 32 KB of ``:``); generated lines give the same groups, and a long
    run of colons is read at once."""
    before = re.compile(r"^(\S+:\S+)\s+(\S+) \((.+):(\d+)\)\s*$")
    rnd = random.Random(3)
    addresses = ["*:80", "127.0.0.1:8080", "[::1]:443", "x:", ":x", "a", "::", "*:80:"]
    names = ["example.com", "x", "(x", "a:b"]
    places = ["/etc/x.conf:12)", "/a b/c.conf:1)", "x:)", ":12)", "c.conf:1) ", "c.conf:1"]
    pieces = [":", " ", "  ", "a", "1", "(", ")", " (", "\t", "x:"]
    hits = 0
    for i in range(60_000):
        if i % 2:
            text = (rnd.choice(addresses) + rnd.choice([" ", "  ", "\t", ""]) + rnd.choice(names)
                    + rnd.choice([" (", "(", "  ("]) + rnd.choice(places))
        else:
            text = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 9)))
        a, b = before.match(text), dump_module._SINGLE.match(text)
        assert (a is None) == (b is None) and (a is None or b is None or a.groups() == b.groups()), text
        hits += a is not None
    assert hits > 1500, hits
    assert dump_module._SINGLE.match(":" * 1_000_000) is None
