"""Types of the optional C extension ``_needles.c`` (driven by ``parsers.needles``)."""

from collections.abc import Sequence

class NeedleSet:
    """Which of ``needles`` a text holds, in one pass over it."""

    def __init__(self, needles: Sequence[str]) -> None: ...
    def find(self, text: str, /) -> tuple[int, ...] | None: ...
    def size(self) -> int: ...
