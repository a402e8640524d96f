"""Telling which proxy a config is for takes time linear in its size, whatever its lines hold.

Detection counts each proxy's keywords with ``(?m)^\\s*(?:...)`` scans of the config with its
comments blanked (``proxies.base.mask``).  ``\\s`` also takes newlines, so from every line start
of a run of blank or comment lines the scan crossed the whole run before it failed: quadratic.
A 28 KB config of 2,000 comment lines took 7 CPU-s to refuse (``WHY502_MAX_CONFIG_BYTES``), and
the first MiB that detection reads (``proxies.HEAD_BYTES``) would have taken hours.  The scans now
take horizontal blanks only (``[^\\S\\n]*``), which count the same keywords.  Caddy's scan for a
site address line (``example.com, www.example.com {``) cut one long line of commas, or of digits,
every way it could (a 20,000-comma line held ``why502 lint`` for good); it is written to cut each
line one way now, and a test shows it reads the same lines; so is Traefik's YAML scan for a
``routers:`` key, whose ``\\s+`` crossed a run of blank lines from each of them.

The bound below is the kernel's CPU limit on a real ``why502`` run, not a timing: the old scans
are killed by it (SIGXCPU) long before they end, the linear ones finish in about a second.
"""

from __future__ import annotations

import os
import random
import re
import resource
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import WHY502
from why502.proxies import HEAD_BYTES, detect_text
from why502.proxies.caddy import detect as caddy_detect
from why502.proxies.traefik import detect as traefik_detect

CPU_SECONDS = 60


def _config(blank_line: str, head: str, tail: str) -> str:
    body = blank_line * ((HEAD_BYTES - len(head) - len(tail)) // len(blank_line))
    return head + body + tail


SHAPES = {
    "nginx-comments": ("    # a commented-out directive;\n", "events {}\nhttp {\n",
                       "server { listen 80; }\n}\n"),
    "nginx-blank-crlf": ("   \r\n", "events {}\r\nhttp {\r\n", "server { listen 80; }\r\n}\r\n"),
    "apache-comments": ("# LoadModule foo_module modules/mod_foo.so\n", "ServerRoot /etc/apache2\n",
                        "<VirtualHost *:80>\n</VirtualHost>\n"),
    "traefik-blank": ("\t\n", "[http.routers.web]\n", '[http.services.app]\nurl = "http://127.0.0.1:8080"\n'),
    # one line of a MiB: Caddy's site-address scan cut a run of commas, or of digits, every way
    "caddy-commas": (",", "example.com {\n  reverse_proxy 127.0.0.1:8080\n}\n", "\n"),
    "caddy-digits": ("1", "example.com {\n  reverse_proxy 127.0.0.1:8080\n}\n", "\n"),
    # Traefik's YAML: ``\s+`` before ``routers:`` crossed a MiB of blank lines from each of them
    "traefik-yaml-blank": (" \n", "http:\n", "routers: x\n"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_mib_of_blank_or_comment_lines_is_read_under_a_cpu_limit(tmp_path: Path, shape: str) -> None:
    conf = tmp_path / "proxy.conf"
    conf.write_text(_config(*SHAPES[shape]), newline="")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))

    base = {k: v for k, v in os.environ.items() if k != "WHY502_DEBUG"}
    done = subprocess.run([WHY502, "lint", str(conf)], capture_output=True, text=True, errors="replace",
                          timeout=10 * CPU_SECONDS, check=False, stdin=subprocess.DEVNULL,
                          env={**base, "WHY502_MAX_CONFIG_BYTES": "2M"}, preexec_fn=limit)
    assert done.returncode != -signal.SIGXCPU, f"killed by the {CPU_SECONDS} s CPU limit"
    assert done.returncode in (0, 1, 2, 3), done.stderr[-500:]
    assert "Traceback" not in done.stderr


def test_the_keywords_counted_are_the_same_across_blank_lines() -> None:
    """The horizontal-blank scans find a keyword after blank and comment lines as before."""
    nginx = "# head\n\n   \n  # c\nevents {}\n\n\thttp {\n\n  server {\n   proxy_pass http://a;\n }\n}\n"
    apache = "# c\n\n  \nServerRoot /x\n\n   <VirtualHost *:80>\n  ProxyPass / http://a/\n</VirtualHost>\n"
    assert detect_text(nginx) == "nginx"
    assert detect_text(apache) == "apache"
    assert detect_text("\n\n  \n[http.routers.r]\n") == "traefik"


_SITE_BEFORE = re.compile(r"(?m)^(?:https?://)?(?:[\w.*-]+|\[[0-9a-fA-F:]+\])?:?\d*"
                          r"(?:,[ \t]*\S+)*[ \t]*\{[ \t]*$")


def test_caddy_site_lines_are_the_ones_the_first_scan_read() -> None:
    """Generated lines of the characters the scan turns on (short: the old scan is exponential
    in a run of commas): the same ``findall`` from both scans."""
    rnd = random.Random(7)
    alphabet = [",", " ", "\t", "a", "1", ":", "{", "[", "]", ".", "/", "http://", "https://", "f", "*", "-",
                "}", "\n", ", ", ",\t"]
    hits = 0
    for _ in range(40_000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 11)))
        got = caddy_detect._SITE.findall(text)
        assert got == _SITE_BEFORE.findall(text), text
        hits += len(got)
    assert hits > 800


_NESTED_BEFORE = re.compile(r"(?m)^\s+(routers|services):\s*$")


def test_traefik_nested_keys_are_found_as_when_blanks_crossed_lines() -> None:
    """The answer of ``(?m)^\\s+(routers|services):\\s*$`` (whose ``\\s+`` crossed lines) on
    generated texts of the characters it turns on, Unicode blanks among them."""
    rnd = random.Random(4)
    alphabet = ["\n", " ", "\t", "  ", "routers:", "services:", "routers", ":", "x", "http:", "\r", "\x0b",
                "\x1c", " \n", "\u2028"]
    hits = 0
    for _ in range(60_000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 9)))
        found = traefik_detect._NESTED_KEY.search(text) is not None
        assert found == (_NESTED_BEFORE.search(text) is not None), text
        hits += found
    assert hits > 3000, hits
