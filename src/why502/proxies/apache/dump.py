"""What ``apachectl -S`` (``apache2 -S``, ``-t -D DUMP_VHOSTS -D DUMP_RUN_CFG``) and ``apache2 -t
-D DUMP_INCLUDES`` print, as input: the virtual hosts with the file:line of each ``<VirtualHost>``
block, the ``ServerRoot``, and the config files with the main one first.

People paste these when asking why a site answers 502 (they are what the Debian and httpd docs
tell to run first), and they name the real config: the main file (``(*) PATH`` of
DUMP_INCLUDES, else ``apache2.conf``/``httpd.conf`` under the ``ServerRoot`` of ``-S``) is read
from there.  Formats from httpd's ``server/vhost.c`` ``dump_vhost_config()`` ("VirtualHost
configuration:", ``ADDR is a NameVirtualHost``, ``default server NAME (FILE:LINE)``, ``port N
namevhost NAME (FILE:LINE)``, ``alias NAME``), ``server/main.c`` / ``core.c``
``ap_dump_run_cfg`` (``ServerRoot: "..."``) and ``server/config.c`` ``dump_config_files``
("Included configuration files:", ``(*) MAIN``, ``(LINE) FILE``).  Pure: text in, records out.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

MAIN_NAMES = ("apache2.conf", "httpd.conf", "conf/httpd.conf")

_NAMEVHOST = re.compile(r"^(\S+)\s+is a NameVirtualHost\s*$")
_ENTRY = re.compile(r"^\s+(?:default server|port \d+ namevhost) (\S+) \((.+):(\d+)\)\s*$")
# an address (``*:80``) is the line's first run of non-spaces with a ``:`` inside it; written as
# ``(\S+:\S+)`` that run was cut at each of its colons, each cut read to the run's end (16.7 s
# for 32 KB of ``:``): the look-ahead asks for the colon once, the same lines and groups
_SINGLE = re.compile(r"^(?=\S+:\S)(\S+)\s+(\S+) \((.+):(\d+)\)\s*$")
_ALIAS = re.compile(r"^\s+(?:wild )?alias (\S+)\s*$")
_MAIN = re.compile(r"^\s*\(\*\) (\S.*?)\s*$")
_INCLUDED = re.compile(r"^\s*\((\d+)\) (\S.*?)\s*$")


@dataclass(frozen=True)
class VHost:
    """One virtual host of ``apachectl -S``: its address, name, aliases and block's file:line."""

    address: str
    name: str
    file: str
    line: int
    aliases: tuple[str, ...] = ()
    default: bool = False


@dataclass
class ApacheDump:
    vhosts: list[VHost] = field(default_factory=list)
    server_root: str | None = None
    main_config: str | None = None  # DUMP_INCLUDES' (*) file
    files: list[str] = field(default_factory=list)
    error_log: str | None = None
    pid_file: str | None = None

    def main_candidates(self) -> list[str]:
        """Where the main config is: DUMP_INCLUDES names it; ``-S`` gives the ServerRoot."""
        if self.main_config:
            return [self.main_config]
        if self.server_root:
            return [os.path.join(self.server_root, n) for n in MAIN_NAMES]
        return []


def parse_apache_dump(text: str) -> ApacheDump:
    dump = ApacheDump()
    address = ""
    # (file, line, name) -> vhost: the default server is listed again as a namevhost
    found: dict[tuple[str, int, str], VHost] = {}
    last: tuple[str, int, str] | None = None
    for line in text.splitlines():
        if m := _NAMEVHOST.match(line):
            address = m.group(1)
        elif (m := _ENTRY.match(line)) or _SINGLE.match(line):
            if m is not None:
                addr, name, file, no = address, m.group(1), m.group(2), int(m.group(3))
            else:
                single = _SINGLE.match(line)
                assert single is not None
                addr, name, file, no = single.group(1), single.group(2), single.group(3), int(single.group(4))
            last = (file, no, name)
            before = found.get(last)
            default = line.strip().startswith("default server") or (before is not None and before.default)
            found[last] = VHost(addr, name, file, no, before.aliases if before else (), default)
        elif (m := _ALIAS.match(line)) and last is not None:
            v = found[last]
            found[last] = VHost(v.address, v.name, v.file, v.line, (*v.aliases, m.group(1)), v.default)
        elif line.startswith('ServerRoot: "'):
            dump.server_root = line.split('"')[1]
        elif line.startswith('Main ErrorLog: "'):
            dump.error_log = line.split('"')[1]
        elif line.startswith('PidFile: "'):
            dump.pid_file = line.split('"')[1]
        elif m := _MAIN.match(line):
            dump.main_config = m.group(1)
            dump.files.append(m.group(1))
        elif m := _INCLUDED.match(line):
            dump.files.append(m.group(2))
    dump.vhosts = list(found.values())
    return dump
