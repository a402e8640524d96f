"""A log writer for the follower and watch tests: appends numbered lines with O_APPEND, like
nginx, while the file is rotated the way logrotate (and ``nginx -s reopen``) does it."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path


class Writer(threading.Thread):
    """Appends ``line N`` with O_APPEND like nginx; ``reopen()`` makes it reopen the name (USR1)."""

    def __init__(self, path: Path, line: Callable[[int], str] = "line {}\n".format) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.line = line
        self.lock = threading.Lock()  # held by a copytruncate so copy + truncate are atomic
        self.count = 0
        self.stop_flag = threading.Event()
        self.reopen_flag = threading.Event()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def run(self) -> None:
        while not self.stop_flag.is_set():
            with self.lock:
                if self.reopen_flag.is_set():
                    os.close(self.fd)
                    self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    self.reopen_flag.clear()
                for _ in range(20):
                    self.count += 1
                    os.write(self.fd, self.line(self.count).encode())
            time.sleep(0.002)
        os.close(self.fd)


def rotate(how: str, path: Path, writer: Writer, n: int) -> None:
    old = path.with_name(f"{path.name}.{n}")
    if how == "rename-create":
        os.rename(path, old)
        path.touch()
        time.sleep(0.01)  # the writer keeps writing to the renamed file until told to reopen
        writer.reopen_flag.set()
    elif how == "copytruncate":
        with writer.lock:
            shutil.copyfile(path, old)
            os.truncate(path, 0)
    elif how == "delete-recreate":
        os.unlink(path)
        time.sleep(0.01)  # lines written now go to the deleted file, still open
        writer.reopen_flag.set()
    elif how == "nginx-reopen":
        os.rename(path, old)  # no create: the file appears when nginx reopens its logs
        time.sleep(0.01)
        writer.reopen_flag.set()
