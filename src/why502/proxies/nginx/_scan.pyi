"""Types of the optional C extension ``_scan.c``, nginx's native line scanner (driven by
``parsers.errorlog_native``, ``parsers.native.Scanner``)."""

from collections.abc import Callable, Sequence
from typing import Literal, overload

Resolver = Callable[[int, int, str | None, str, int], tuple[int, bytes, bool] | Literal[False] | None]

class Scanner:
    """nginx error-log lines, one native pass each; one thread at a time."""

    def __init__(self, plain: Sequence[bytes], prefixed: Sequence[bytes], details: Sequence[Sequence[bytes]],
                 resolver: Resolver, max_groups: int = 50000) -> None: ...
    def summarize(self, data: bytes | memoryview, since: bytes | None = None, ascii: bool = False, /,
                  ) -> tuple[int, bytes | None]: ...
    def groups(self) -> list[tuple[int, bytes | bool | None, int, bytes, bytes]]: ...
    def records(self, data: bytes, first_line: int, file_json: bytes, since: bytes | None = None,
                ascii: bool = False, /) -> tuple[bytes, int, int, bytes | None, bytes]: ...

Histograms = dict[bytes, tuple[tuple[int, ...], int, float]]

def access_counts(data: bytes, program: tuple[tuple[int, bytes, int], ...], buckets: tuple[float, ...], /,
                  ) -> tuple[dict[bytes, int], dict[bytes, int], Histograms, list[bytes]]:
    """An access-log block counted (``app.watch.traffic.LineCounter``)."""

NativeStep = tuple[int, int, int, int, int, int, int, int, bytes]

FoldProgram = tuple[int, int, int, int, int, tuple[int, ...], tuple[bytes, ...]]

@overload
def access_columns(data: bytes, pieces: int, program: tuple[NativeStep, ...],
                   fields: tuple[tuple[bytes, bool], ...], /) -> tuple[object, object, int, bytes, bytes]:
    """An access-log block split at its quotes and parsed (``evidence.stats.parser.LineParser``):
    the Arrow schema and array capsules of the taken lines' columns, the block's lines, the
    handed-back lines' numbers (uint32) and those lines."""
@overload
def access_columns(data: bytes, pieces: int, program: tuple[NativeStep, ...],
                   fields: tuple[tuple[bytes, bool], ...], fold: FoldProgram, /) -> tuple[
        object, object, int, bytes, bytes, tuple[object, object, object, object, object, object, int]]:
    """The same, the rows only counted left out of the columns and grouped (``_scan_fold.h``):
    the timeline's, the attempts' and the answered rows' capsules, and how many rows were folded."""
