"""The answers of a JSON family: the requests ``diagnose`` only counts, counted by the native
JSON pass instead of handed over as columns (issue 28 item 2; ``native/answers.h``).

``diagnose`` counts the requests that answered -- ``app.stats.lb.ANSWERED``: an access line with
no 5xx that the edge did not fail itself -- by (status, minute, target) only
(``app.diagnose.lb._answer_groups``, whose polars query is the reference).  On a JSON family's
log three lines in four are such requests, and each went through the pass's columns, the
family's decisions in polars and that query; counted in the pass, Cloudflare's ``diagnose`` of 1M
lines went from 3.15 to 1.82 s (BENCHMARKS.md stop 60).  With an :class:`AnswerRule` the pass
(``_jsonscan.c`` ``rule_answered``) counts a line it reads in the block's answers when the rule
makes it sure the line answered, and every other line goes on as before: any split between the
answers and the rows counts the same.

Each family states its rule next to its decisions (Cloudflare: ``batch``; Envoy, Traefik and
Caddy: their ``frame`` modules), and says why those decisions make a line that passes it an
answer.  A family whose log mixes JSON and a text format (Envoy, Traefik) counts the answers of
the pass that reads a block first (``mixed_answers``): the JSON pass's, or its text pass's own
(``_envoyscan.text_answers``, ``_traefikscan.clf_answers``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import polars as pl

from why502.parsers.arrowcols import frame as arrow_frame

if TYPE_CHECKING:
    from why502.parsers.lblogs.batch import JsonPass

#: a pass on a chunk of the block: (its rows, the ``idx`` of the lines it hands back, their text)
TextPass = Callable[[bytes], "tuple[pl.DataFrame, list[int], bytes] | None"]
#: a pass's rows decided (``batch.Decide``): (the records, the ``idx`` of those refused)
Decide = Callable[[str, pl.DataFrame], "tuple[pl.DataFrame, list[int]]"]


@dataclass(frozen=True)
class AnswerRule:
    """When a JSON line the pass reads surely answered (``_jsonscan.c``, "the answers").

    ``status``: its keys in order; the first holding a value (not null, not "") is the status,
    an integer or a text of one to three digits, which must be below 500 and not one of
    ``own_below_500`` (statuses the edge may make itself).  ``time`` / ``target``: the first of
    their keys holding a value is the record's time / target (or none).
    ``clean``: keys that must be null, "" or "-".  ``numbers``: keys that must be null, "", "-"
    or a plain decimal (``-?[0-9]{1,15}(.[0-9]+)?``).  ``named``: keys one of which at least
    must hold a value.  ``prefix``: (key, text) pairs, each key a string starting with its text.
    ``unix_time``: the time keys hold Unix seconds (0 to 253402300799), and the record's time is
    ``datetime.fromtimestamp(ts, utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` of the first (Caddy's
    ``ts``; ``_jsonscan.c`` ``unix_text``).  A "-" in a key of ``status``, ``time`` or ``target``
    sends the line out as columns (the families read "-" differently; the counting reads it as no
    target)."""

    status: tuple[str, ...]
    time: tuple[str, ...]
    target: tuple[str, ...] = ()
    clean: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    named: tuple[str, ...] = ()
    own_below_500: tuple[int, ...] = ()
    prefix: tuple[tuple[str, str], ...] = ()
    unix_time: bool = False

    def spec(self) -> tuple[Any, ...]:
        """The rule as ``_jsonscan.json_columns`` takes it."""
        roles = (self.status, self.time, self.target, self.clean, self.numbers, self.named)
        return (*(tuple(k.encode() for k in keys) for keys in roles), self.own_below_500, self.unix_time,
                tuple((k.encode(), text.encode()) for k, text in self.prefix))


#: (the pass's rows, the ``idx`` of the lines it hands back, their text, the answers' groups)
AnsweredPass = tuple[pl.DataFrame, list[int], bytes, pl.DataFrame]


def split_answers(answer: tuple[Any, ...]) -> AnsweredPass:
    """A native pass's answer with the answers (``native/answers.h`` ``answers_result``: its five,
    then the answers' schema and array): ``json_columns`` with a rule, ``alb_columns``,
    ``text_answers``, ``clf_answers``."""
    from why502.parsers.lblogs.batch import pass_columns

    schema_cap, array_cap, lines, back_rows, back_text, answers_schema, answers_array = answer
    rows, back, text = pass_columns((schema_cap, array_cap, lines, back_rows, back_text))
    return rows, back, text, arrow_frame(answers_schema, answers_array)


def json_answers_text(data: bytes, schema: dict[str, pl.DataType], native: JsonPass, rule: AnswerRule,
                      seen: bool = False) -> AnsweredPass | None:
    """``batch.json_block_text`` with the lines that surely answered by ``rule`` counted instead,
    or None when the pass was not built, is turned off, or cannot build a column of ``schema``."""
    from why502.parsers.lblogs.batch import _native_pass

    module = _native_pass("_jsonscan")
    spec = native.keys(schema)
    if module is None or spec is None:
        return None
    return split_answers(module.json_columns(data, spec, tuple(f.encode() for f in native.forbidden),
                                             native.nested_ok, seen, rule.spec()))


def _text_answered(text_answers: Callable[[bytes], Any], chunk: bytes) -> AnsweredPass:
    """A native text pass's answer with the answers (``split_answers``)."""
    return split_answers(text_answers(chunk))


def mixed_answers(data: bytes, family: str, json_answers: Callable[[bytes], AnsweredPass | None],
                  on_json: TextPass, text_answers: Callable[[bytes], Any] | None, on_text: TextPass,
                  decide: Decide) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """``batch.json_and_text_block`` of a family whose log mixes JSON and a text format, the pass
    that reads the block first counting the answers: the JSON one (``json_answers``) when the
    block starts with a JSON line, else the text one (``text_answers``: the native pass's answer,
    its columns' five then the answers' schema and array; None when that pass was not built or
    is off).  (The records of the other lines read, the ``idx`` of the lines handed back, the
    answers' groups), or None when the first pass cannot run.  Only a pass that reads the whole
    block counts answers: the rows it numbers are the block's lines (the pass after it reads
    what is left, numbered anew)."""
    from why502.parsers.lblogs.batch import json_and_text_block

    json_first = data[:1] == b"{"
    if json_first:
        first = json_answers
    elif text_answers is not None:
        first = partial(_text_answered, text_answers)
    else:
        return None
    counted: list[pl.DataFrame] = []

    def counting(chunk: bytes) -> tuple[pl.DataFrame, list[int], bytes] | None:
        got = first(chunk)
        if got is None:
            return None
        counted.append(got[3])
        return got[:3]

    got = (json_and_text_block(data, family, counting, on_text, decide) if json_first
           else json_and_text_block(data, family, on_json, counting, decide))
    if got is None or len(counted) != 1:
        return None
    return got[0], got[1], counted[0]
