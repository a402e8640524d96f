"""What ``kubectl logs --timestamps`` / ``--prefix`` put before a line, and heads that are no such
framing, for the tests of every reader that takes a line behind it (``wrappers.kubectl_unframed``,
``native/unwrap_ascii.h`` ``ua_kubectl_framing``): one list, so each reader is held to the same
heads.

The framing: the time the kubelet writes (Go's RFC3339Nano, pkg/kubelet/kuberuntime/logs/logs.go
``timeFormatOut``) and a space, after ``[pod/NAME/CONTAINER] `` (kubectl pkg/cmd/logs/logs.go
``addPrefixIfNeeded``) when there is one; a reader peels only a time kubectl could have written.
"""

from __future__ import annotations

#: kubectl's framings (``--timestamps``, ``--prefix``, both; a time with 0-9 fraction digits and
#: either zone form; the day is not checked against its month, as the regex does not)
FRAMINGS: tuple[str, ...] = (
    "2026-11-28T10:00:00.123456789Z ", "2026-11-28T10:00:00Z ", "2026-11-28T10:00:00.5-07:30 ",
    "[pod/web-7d4b9c-x2x/proxy] 2026-11-28T10:00:00.123456789Z ", "[pod/web-0/] ", "[pod/a.b/c] ",
    "2026-02-31T23:59:59Z ",
)

#: heads that are no framing kubectl writes: each stays part of the line
NOT_FRAMINGS: tuple[str, ...] = (
    "2026-13-28T10:00:00.123456789Z ",  # month 13
    "2026-11-32T10:00:00.123456789Z ",  # day 32
    "2026-11-28T24:00:00.123456789Z ",  # hour 24
    "2026-11-28T10:60:00Z ",  # minute 60
    "2026-11-28 10:00:00.123456789Z ",  # a space for the T
    "2026-11-28T10:00:00.1234567891Z ",  # ten fraction digits
    "2026-11-28T10:00:00.Z ",  # a dot with no digit
    "2026-11-28T10:00:00.123456789 ",  # no zone
    "2026-11-28T10:00:00.123456789+0100 ",  # an offset without its colon
    "2026-11-28T10:00:00.123456789+24:00 ",  # hour 24 in the offset
    "2026-11-28T10:00:00.123456789Z  ",  # two spaces
    "2026-11-28T10:00:00.123456789z ",  # a lower-case zone
    "2026-11-28T10:00:00.123456789Z\u00a0",  # a no-break space after it
    "\u0662026-11-28T10:00:00Z ",  # a non-ASCII digit
    "[pod/Web-0/proxy] ",  # an upper-case pod name
    "[pod/web-0] ",  # no container part
    "x 2026-11-28T10:00:00Z ",  # something before the time
    "2026-11-28T10:00:00Z [pod/web-0/proxy] ",  # kubectl's two parts the other way round
    "web-1  | ",  # another shipper's prefix (not kubectl's)
)

HEADS: tuple[str, ...] = FRAMINGS + NOT_FRAMINGS
