"""One bounded reader for every config family (``parsers.configread``): Apache httpd and HAProxy
configs are read like nginx's.

Each run is the installed console script under a kernel memory ceiling (``limited``): without
the guard, ``/dev/zero`` as a config or an include grew at ~1.2 GB/s until the ceiling stopped it
("out of memory", not what the test asks for), and a FIFO nobody writes hung ``open()`` until the
subprocess timeout.  No timing is asserted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.limits import limited
from why502.errors import InputError
from why502.parsers.configread import ConfigBudget, NotAConfigFile, parse_size

CEILING = 300  # MiB of data: a bounded read needs a fraction of it
GUARD = 60  # seconds: a hang fails with TimeoutExpired


def _apache(tmp: Path, include: str) -> Path:
    conf = tmp / "apache2.conf"
    conf.write_text(f"ServerRoot {tmp}\nListen 80\n<VirtualHost *:80>\n    ServerName a.example\n"
                    "    ProxyPass / http://127.0.0.1:9/\n</VirtualHost>\n"
                    f"Include {include}\n")
    return conf


def _fifo(tmp: Path) -> str:
    path = tmp / "fifo"
    os.mkfifo(path)  # nobody ever writes it: open() for reading would block forever
    return str(path)


@pytest.mark.parametrize("proxy", ["apache", "haproxy"])
@pytest.mark.parametrize("command", ["lint", "diagnose"])
def test_a_device_as_the_config_is_one_line_exit_3(proxy: str, command: str) -> None:
    argv = [command, "--proxy", proxy, "--config", "/dev/zero"]
    if command == "diagnose":
        argv += ["--offline", "--error-log", "/dev/null"]
    proc = limited(argv, CEILING, timeout=GUARD)
    assert proc.returncode == 3, proc.stderr[-500:]
    (line,) = proc.stderr.splitlines()
    assert "/dev/zero" in line and "character device, not a config file" in line


@pytest.mark.parametrize("proxy", ["apache", "haproxy"])
def test_a_fifo_as_the_config_is_refused_without_waiting_for_a_writer(tmp_path: Path, proxy: str) -> None:
    proc = limited(["lint", "--proxy", proxy, "--config", _fifo(tmp_path)], CEILING, timeout=GUARD)
    assert proc.returncode == 3, proc.stderr[-500:]
    assert "it is a FIFO, not a config file" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_the_kind_of_a_fifo_is_not_sniffed_by_opening_it(tmp_path: Path) -> None:
    """``--config FIFO`` without ``--proxy``: the kind was read from the FIFO's first MiB, which
    blocked in ``open()``."""
    proc = limited(["diagnose", "--offline", "--config", _fifo(tmp_path)], CEILING, timeout=GUARD)
    assert proc.returncode == 3, proc.stderr[-500:]
    (line,) = proc.stderr.splitlines()
    assert "FIFO" in line and "--proxy nginx" in line


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_an_apache_include_of_a_device_or_fifo_is_a_problem_of_the_config(tmp_path: Path,
                                                                          target: str) -> None:
    include = _fifo(tmp_path) if target == "fifo" else target
    proc = limited(["lint", "--proxy", "apache", "--config", str(_apache(tmp_path, include))], CEILING,
                   timeout=GUARD)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert f"Include {include}: it is a" in proc.stdout + proc.stderr
    assert "checked" in proc.stdout  # the rest of the config was read


def test_the_bound_is_over_the_whole_apache_config_not_per_file(tmp_path: Path) -> None:
    """Three includes of 2 KiB each pass a 4 KiB bound one by one; together they do not."""
    (tmp_path / "sites").mkdir()
    for i in range(3):
        (tmp_path / "sites" / f"s{i}.conf").write_text(f"# site {i}\n" + "#" * 2000 + "\n")
    conf = _apache(tmp_path, str(tmp_path / "sites" / "*.conf"))
    env = {"WHY502_MAX_CONFIG_BYTES": "4K"}
    for command in (["lint"], ["diagnose", "--offline", "--error-log", "/dev/null"]):
        proc = limited([*command, "--proxy", "apache", "--config", str(conf)], CEILING, env=env,
                       timeout=GUARD)
        assert proc.returncode == 3, proc.stderr[-500:]
        (line,) = proc.stderr.splitlines()
        assert "s1.conf" in line and "at most 4,096 bytes in all" in line
        assert "WHY502_MAX_CONFIG_BYTES" in line
    ok = limited(["lint", "--proxy", "apache", "--config", str(conf)], CEILING,
                 env={"WHY502_MAX_CONFIG_BYTES": "16K"}, timeout=GUARD)
    assert ok.returncode == 0, ok.stderr[-500:]


def test_a_haproxy_config_over_the_bound_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("defaults\n    mode http\n" + "".join(
        f"backend b{i}\n    server s 127.0.0.1:{10000 + i} check\n" for i in range(200)))
    proc = limited(["lint", "--config", str(cfg)], CEILING, env={"WHY502_MAX_CONFIG_BYTES": "4K"},
                   timeout=GUARD)
    assert proc.returncode == 3, proc.stderr[-500:]
    (line,) = proc.stderr.splitlines()
    assert "the config may hold at most 4,096 bytes in all" in line
    assert "WHY502_MAX_CONFIG_BYTES=1M allows it" in line


def test_an_nginx_include_past_the_bound_of_the_whole_config_is_exit_3(tmp_path: Path) -> None:
    """nginx goes through the same budget: an include that takes the whole config past the
    bound stops the run (it was a note, and the config was analysed without that file)."""
    (tmp_path / "big.conf").write_text("# padding\n" * 600)
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n    include big.conf;\n    server { listen 80; }\n}\n")
    proc = limited(["lint", str(conf)], CEILING, env={"WHY502_MAX_CONFIG_BYTES": "4K"}, timeout=GUARD)
    assert proc.returncode == 3, proc.stderr[-500:]
    (line,) = proc.stderr.splitlines()
    assert "big.conf" in line and "in all" in line


def test_the_budget_counts_every_file_and_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("x" * 600)
    b.write_text("y" * 600)
    budget = ConfigBudget(1000)
    assert budget.read(str(a)) == "x" * 600
    with pytest.raises(InputError, match="1,000 bytes in all"):
        budget.read(str(b))
    with pytest.raises(NotAConfigFile, match="character device"):
        ConfigBudget().read("/dev/zero")
    with pytest.raises(NotAConfigFile, match="directory"):
        ConfigBudget().read(str(tmp_path))


@pytest.mark.parametrize("text, expected", [("", 7), ("2K", 2048), ("3G", 3 << 30), ("0", 7), ("x", 7)])
def test_sizes_read_as_every_bound_takes_them(text: str, expected: int) -> None:
    assert parse_size(text, 7) == expected
