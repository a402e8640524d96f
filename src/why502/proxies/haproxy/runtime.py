"""HAProxy's runtime API answers (``show stat``, ``show servers state``) as ``ServerState`` rows.

``show stat`` (doc/management.txt 9.3 "show stat", CSV fields in 9.1) gives per server its
``status`` (``UP``, ``DOWN``, ``MAINT``, ``NOLB``, ``UP 1/3``...), the last health check
(``check_status`` such as ``L4CON``/``L4TOUT``/``L7STS``, ``check_desc`` such as "Layer4
connection problem", ``last_chk`` such as "Connection refused"), the queue (``qcur``), the
sessions (``scur``) and the limit (``slim`` = the server's ``maxconn``).  Parsed here from the
text, so it is tested on a recorded answer (I/O-free: the socket is read by ``proxies.haproxy.source``).
"""

from __future__ import annotations

import csv
import io

from why502.facts.server_state import ServerState


def _int(value: str | None) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None


def parse_show_stat(text: str) -> list[ServerState]:
    """Server rows of a ``show stat`` answer (``FRONTEND``/``BACKEND`` rows are left out)."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        return []
    reader = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
    out = []
    for row in reader:
        sv = row.get("svname") or ""
        if not sv or sv in ("FRONTEND", "BACKEND") or not row.get("pxname"):
            continue
        out.append(ServerState(
            backend=row["pxname"], server=sv, status=row.get("status") or "",
            address=row.get("addr") or None, check_status=row.get("check_status") or None,
            check_desc=row.get("check_desc") or None, last_check=row.get("last_chk") or None,
            queued=_int(row.get("qcur")) or 0, sessions=_int(row.get("scur")) or 0,
            limit=_int(row.get("slim")), backup=(row.get("bck") == "1")))
    return out


# include/haproxy/check-t.h ``enum healthcheck_status`` (2.x order): the number ``show servers
# state`` prints as ``srv_check_status``, as the name ``show stat`` prints.
CHECK_STATUS = ("UNK", "INI", "START", "CHECKED", "HANA", "SOCKERR", "L4OK",
                "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP", "L57DATA", "L7OK",
                "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK")
_OP_STATE = {"0": "DOWN", "1": "UP (starting)", "2": "UP", "3": "NOLB (stopping)"}
_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # SRV_ADMF_FMAINT/IMAINT/CMAINT/RMAINT/HMAINT
_DRAIN = 0x08 | 0x10  # SRV_ADMF_FDRAIN/IDRAIN


def parse_servers_state(text: str) -> list[ServerState]:
    """Rows of a ``show servers state`` answer (management.txt 9.3 "show servers state": a
    version line, a ``# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...``
    header, one line per server).  ``srv_op_state`` 0 stopped, 1 starting, 2 running, 3 stopping
    (``enum srv_state``, include/haproxy/server-t.h); ``srv_admin_state`` bits say maintenance
    or drain (``enum srv_admin``)."""
    header: list[str] = []
    out: list[ServerState] = []
    for line in text.splitlines():
        if line.startswith("# "):
            header = line[2:].split()
            continue
        words = line.split()
        if not header or len(words) < len(header) // 2 or "srv_name" not in header:
            continue
        row = dict(zip(header, words))
        admin = _int(row.get("srv_admin_state")) or 0
        status = ("MAINT" if admin & _MAINT else "DRAIN" if admin & _DRAIN
                  else _OP_STATE.get(row.get("srv_op_state", ""), row.get("srv_op_state", "?")))
        check = _int(row.get("srv_check_status"))
        port = row.get("srv_port")
        addr = row.get("srv_addr")
        address = f"{addr}:{port}" if addr and port and port not in ("0", "-") else addr
        out.append(ServerState(
            backend=row.get("be_name", "?"), server=row.get("srv_name", "?"), status=status,
            address=address, check_status=CHECK_STATUS[check] if check is not None
            and 0 < check < len(CHECK_STATUS) else None))
    return out
