/*
 * why502.proxies.envoy._envoyscan -- what `why502 watch` counts of Envoy's text access-log lines
 * (its default format and Istio's), in one native pass (issue 28 item 5).
 *
 * The reference is the per-line reader the agent used on every line: the family's text status
 * regex (proxies/envoy/log.py: TEXT_STATUS, `\] "[A-Z]+ [^"\n]*" (\d{1,3}) `) for the status, and
 * `parse_envoy_text` (its _HEAD regex, then its `"([^"]*)"|(\S+)` tokens: the three unquoted
 * integers every variant has -- bytes received, bytes sent, duration -- and what stands before
 * and after them) for the proxy's own failures.  Envoy's default format
 * (https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage#default-format-string):
 *
 *   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
 *   %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ... "%UPSTREAM_HOST%"
 *
 * and Istio's (https://istio.io/latest/docs/tasks/observability/logs/access-log/), which adds the
 * details, the termination details and "%UPSTREAM_TRANSPORT_FAILURE_REASON%" before the three
 * integers and %UPSTREAM_CLUSTER% after the quoted block.
 *
 * A line is taken only when it leaves no doubt that both readings are the ones below, else it is
 * handed back whole (the agent reads it as before):
 *
 *   - every byte printable ASCII and no `{` (a byte is a character, `\S` is "not a space", and
 *     LogFamilies.parse_line never tries the line as JSON);
 *   - it starts with `[YYYY-MM-DDT...] "` (after kubectl logs' framing, when it has one:
 *     unwrap_ascii.h ua_kubectl_framing), then a method `[A-Z]+ `, the request up to the next
 *     quote, `" `, a status of 1-3 digits, a space, the flags (`-` or `[A-Z]+(,[A-Z]+)*`) and a
 *     space: _HEAD then matches at the line's start and the status regex at its first `] "`
 *     (the time holds no `]`), with the same status;
 *   - the three integers are found among the tokens (else parse_envoy_text reads no record);
 *   - below 500, no flag: the status regex's reading (the agent reads a line below 500 no
 *     further) and parse_line's (no flag: no code, so no failure of the proxy's own) are the
 *     same.  A flagged line below 500 (a 200 with UT, a 404 with NR) is handed back: the
 *     line-by-line path reads it with the parser (LogFamily.own_below_500), which may count a
 *     failure of the proxy's own.
 *
 * A taken line counts its status; a 5xx is grouped by the values parse_envoy_text decides it on
 * -- (status, flags, details, transport failure reason, upstream host, upstream cluster), as
 * written -- and each group is decided once in Python by the same code (proxies/envoy/textcount.py).
 * tests/watch/test_watch_native_counts.py holds the counts equal to the per-line reader's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "answers.h"
#include "arrow_buf.h"
#include "group_table.h"
#include "unwrap_ascii.h"

#define N_STATUS 1000 /* a status has 1-3 digits */
#define MAX_TOKS 64   /* a line of more tokens (before the three integers, or in a 5xx) goes back */

typedef struct {
    int64_t status[N_STATUS];
    PyObject *groups; /* {(status, flags, details, tfr, upstream or None, cluster or None): lines} */
    int error;        /* a Python error is set */
    int ranged;       /* text_ranges: each group's value is [lines, least time, greatest time] */
} Counts;

typedef struct {
    const char *p;
    Py_ssize_t n;
    int quoted;
} Tok;

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }
static inline int is_upper(char c) { return c >= 'A' && c <= 'Z'; }

/* \d{4}-\d\d-\d\dT at p (11 bytes the caller has) */
static inline int iso_date(const char *p) {
    return is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3]) && p[4] == '-'
           && is_digit(p[5]) && is_digit(p[6]) && p[7] == '-' && is_digit(p[8]) && is_digit(p[9]) && p[10] == 'T';
}

/* the flags at p, `[A-Z]+(?:,[A-Z]+)*|-`, and a space: the space's position, or NULL (a shorter
 * run or fewer repeats is followed by a capital or a comma, not the space: one way to match) */
static inline const char *flags_end(const char *p, const char *e) {
    if (p < e && *p == '-') {
        p++;
    } else {
        for (;;) {
            const char *r = p;
            while (p < e && is_upper(*p)) p++;
            if (p == r) return NULL;
            if (p < e && *p == ',') { p++; continue; }
            break;
        }
    }
    return p < e && *p == ' ' ? p : NULL;
}

static int count_add(PyObject *dict, PyObject *key, Py_ssize_t n) {
    PyObject *old = PyDict_GetItemWithError(dict, key);
    if (old == NULL && PyErr_Occurred()) return -1;
    long long was = old != NULL ? PyLong_AsLongLong(old) : 0;
    PyObject *now = PyLong_FromLongLong(was + n);
    if (now == NULL) return -1;
    int rc = PyDict_SetItem(dict, key, now);
    Py_DECREF(now);
    return rc;
}

/* text_ranges' group update: [lines, least time, greatest time], the times the bracketed
 * text as written (bytewise order: what min/max of the parser's time strings give) */
static int range_add(PyObject *dict, PyObject *key, const char *time, Py_ssize_t tn) {
    PyObject *old = PyDict_GetItemWithError(dict, key);
    if (old == NULL && PyErr_Occurred()) return -1;
    if (old == NULL) {
        PyObject *t = PyBytes_FromStringAndSize(time, tn);
        PyObject *v = t != NULL ? Py_BuildValue("[iOO]", 1, t, t) : NULL;
        Py_XDECREF(t);
        int rc = v != NULL ? PyDict_SetItem(dict, key, v) : -1;
        Py_XDECREF(v);
        return rc;
    }
    PyObject *n = PyLong_FromLongLong(PyLong_AsLongLong(PyList_GET_ITEM(old, 0)) + 1);
    if (n == NULL) return -1;
    PyList_SetItem(old, 0, n); /* steals n */
    for (int k = 1; k <= 2; k++) {
        PyObject *have = PyList_GET_ITEM(old, k);
        Py_ssize_t hn = PyBytes_GET_SIZE(have);
        int c = memcmp(time, PyBytes_AS_STRING(have), (size_t)(tn < hn ? tn : hn));
        if (c == 0) c = (tn > hn) - (tn < hn);
        if ((k == 1 && c < 0) || (k == 2 && c > 0)) {
            PyObject *t = PyBytes_FromStringAndSize(time, tn);
            if (t == NULL) return -1;
            PyList_SetItem(old, k, t);
        }
    }
    return 0;
}

/* a token's bytes, or None (absent) */
static PyObject *tok_bytes(const Tok *t) {
    if (t == NULL) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(t->p, t->n);
}

/* scan_lines' TakeLine: a line taken and counted (the GIL held), 0 when it goes back */
static int count_line(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    (void)row;
    Counts *c = ctx;
    if (c->error || n < 16) return 0;
    if (s[0] != '[' || !iso_date(s + 1)) {
        /* kubectl logs' framing before it (--timestamps' time, --prefix's [pod/NAME/CONTAINER]):
         * the per-line path reads such a line as the line without it (family.parse_line), and the
         * framing holds no `] "`, so the status regex's first one is the line's own */
        Py_ssize_t at = ua_kubectl_framing(s, n);
        if (at <= 0 || n - at < 16 || s[at] != '[' || !iso_date(s + at + 1)) return 0;
        s += at;
        n -= at;
    }
    const char *e = s + n, *p;
    if (!printable(s, n) || memchr(s, '{', (size_t)n) != NULL) return 0;
    /* _HEAD's time: \[\d{4}-\d\d-\d\dT[^\]]*\] " (its "[YYYY-MM-DDT" asked above) */
    p = s + 12;
    const char *rb = memchr(p, ']', (size_t)(e - p));
    if (rb == NULL || e - rb < 3 || rb[1] != ' ' || rb[2] != '"') return 0;
    p = rb + 3;
    /* the request: the status regex's [A-Z]+ and a space, then _HEAD's [^"]* */
    const char *q = p;
    while (q < e && is_upper(*q)) q++;
    if (q == p || q >= e || *q != ' ') return 0;
    const char *close = memchr(q, '"', (size_t)(e - q));
    if (close == NULL) return 0;
    p = close + 1;
    if (p >= e || *p != ' ') return 0;
    p++;
    /* the status: \d{1,3} and a space */
    int status = 0, digits = 0;
    while (p < e && is_digit(*p) && digits < 4) {
        status = status * 10 + (*p - '0');
        digits++;
        p++;
    }
    if (digits == 0 || digits > 3 || p >= e || *p != ' ') return 0;
    p++;
    /* the flags: [A-Z]+(?:,[A-Z]+)*|- and a space */
    const char *flags = p;
    if ((p = flags_end(p, e)) == NULL) return 0;
    Py_ssize_t nflags = p - flags;
    int dash = nflags == 1 && flags[0] == '-';
    if (status < 500 && !dash) return 0;
    p++;
    /* parse_envoy_text's tokens: "([^"]*)"|(\S+), and the first three unquoted integers */
    int full = status >= 500;
    Tok t[MAX_TOKS];
    int nt = 0, run = 0, idx = -1;
    for (;;) {
        while (p < e && *p == ' ') p++;
        if (p >= e) break;
        Tok k;
        const char *end = NULL;
        if (*p == '"' && (end = memchr(p + 1, '"', (size_t)(e - p - 1))) != NULL) {
            k.p = p + 1;
            k.n = end - p - 1;
            k.quoted = 1;
            p = end + 1;
        } else {
            end = memchr(p, ' ', (size_t)(e - p));
            if (end == NULL) end = e;
            k.p = p;
            k.n = end - p;
            k.quoted = 0;
            p = end;
        }
        if (nt == MAX_TOKS) return 0;
        t[nt++] = k;
        if (idx < 0) {
            int num = !k.quoted;
            for (Py_ssize_t j = 0; num && j < k.n; j++) num = is_digit(k.p[j]);
            run = num ? run + 1 : 0;
            if (run == 3) {
                idx = nt - 3;
                if (!full) break;
            }
        }
    }
    if (idx < 0) return 0;
    c->status[status]++;
    if (!full) return 1;
    /* before the integers: the first unquoted token (details), the last quoted one (tfr) */
    const Tok *details = NULL, *tfr = NULL;
    for (int i = 0; i < idx; i++) {
        if (!t[i].quoted && details == NULL) details = &t[i];
        if (t[i].quoted) tfr = &t[i];
    }
    /* after them: the fifth quoted token (upstream host); with five quoted, the first unquoted
     * token after the last quoted one (Istio's cluster) */
    const Tok *upstream = NULL, *cluster = NULL;
    int quoted = 0, last_q = -1;
    for (int i = idx + 3; i < nt; i++) {
        if (!t[i].quoted) continue;
        if (quoted == 4) upstream = &t[i];
        quoted++;
        last_q = i;
    }
    if (quoted >= 5) {
        for (int i = last_q + 1; i < nt && cluster == NULL; i++)
            if (!t[i].quoted) cluster = &t[i];
    }
    static const Tok empty = {"", 0, 0};
    PyObject *key = Py_BuildValue("(iy#y#y#NN)", status, flags, nflags,
                                  (details ? details : &empty)->p, (details ? details : &empty)->n,
                                  (tfr ? tfr : &empty)->p, (tfr ? tfr : &empty)->n,
                                  tok_bytes(upstream), tok_bytes(cluster));
    if (key == NULL || (c->ranged ? range_add(c->groups, key, s + 1, rb - s - 1) : count_add(c->groups, key, 1)) != 0)
        c->error = 1;
    Py_XDECREF(key);
    return 1;
}

static PyObject *scan(PyObject *args, int ranged) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    Counts *c = calloc(1, sizeof *c);
    Buf back = {0}, back_text = {0};
    PyObject *statuses = NULL, *out = NULL;
    if (c == NULL) { PyErr_NoMemory(); goto done; }
    c->ranged = ranged;
    c->groups = PyDict_New();
    statuses = PyDict_New();
    if (c->groups == NULL || statuses == NULL) goto done;
    /* whole lines: the empty "line" after the last newline is none */
    Py_ssize_t len = whole_lines_len(&data);
    scan_lines(data.buf, len, count_line, c, &back, &back_text);
    if (c->error) goto done;
    if (back.failed || back_text.failed) { PyErr_NoMemory(); goto done; }
    if (counts_into(statuses, c->status, N_STATUS) != 0) goto done;
    out = ranged ? Py_BuildValue("(OOy#)", statuses, c->groups, back.data ? back.data : "", (Py_ssize_t)back.len)
                 : Py_BuildValue("(OOy#)", statuses, c->groups, back_text.data ? back_text.data : "",
                                 (Py_ssize_t)back_text.len);
done:
    if (c != NULL) {
        Py_XDECREF(c->groups);
        free(c);
    }
    Py_XDECREF(statuses);
    free(back.data);
    free(back_text.data);
    PyBuffer_Release(&data);
    return out;
}

static PyObject *text_counts(PyObject *Py_UNUSED(self), PyObject *args) { return scan(args, 0); }

static PyObject *text_ranges(PyObject *Py_UNUSED(self), PyObject *args) { return scan(args, 1); }

/* --- stats' fold of the text lines (issue 28 item 2) --------------------------------------------
 *
 * `why502 stats` reads a text line with the vectorised reader (proxies/envoy/frame.py: ENVOY_RX,
 * polars' extract_groups, then the decisions of log._record as column expressions), and all it
 * does with the row is count it by its minute (the time's first 16 characters), status, made_by
 * and retries, by its target and its group with the upstream timing, and, for a failure Envoy
 * made itself, by its code with its least and greatest time (evidence/lbstats.py).  So the fold
 * takes the lines ENVOY_RX takes, with no doubt about what each group captures, and counts them
 * by the raw captures those values are decided on, in three tables:
 *
 *   - the timeline: (minute, code, flags, details, tfr), each group with its least and greatest
 *     time (the decisions of made_by, retries and the failure's code read the status, flags,
 *     details and transport failure reason only);
 *   - the per-target table: (code, flags, details, tfr, upstream host, upstream time), and the
 *     per-group table: (code, flags, details, tfr, cluster, upstream time) -- two tables, not one
 *     of both keys: targets in several clusters (the bench's Istio log) multiplied the groups,
 *     and the takes with them (11 takes of its 1M lines instead of 1).
 *
 * Each group is decided once in Python by the reader's own expressions on its captures
 * (proxies/envoy/textfold.py), so no decision is made here.  A line is taken only when:
 *
 *   - every byte is printable ASCII (0x20-0x7e): the regex's \d, \s and \S (Unicode in Rust's
 *     regex) are then ASCII digits, the space, and anything but the space; the line starts with
 *     `[`, so the reader never tries it as JSON (frame.envoy_frame: lines starting with `{`);
 *   - ENVOY_RX matches it (rx_line below follows the regex step by step: each of its quantifiers
 *     has one way to match that can be followed, so no backtracking but the optional Istio group,
 *     tried first as the regex tries it, then without);
 *   - its time is at most GT_TIME_MAX bytes (the ranges' fixed slots).
 *
 * Every other line is handed back and stays a row.  tests/stats/test_envoy_text_fold.py holds the
 * stats document equal to the rows' on every recorded and published line and on bent ones. */

typedef struct {
    const char *p;
    Py_ssize_t n; /* -1: the group did not take part in the match (polars: null) */
} Span;

typedef struct {
    Span time, req, code, flags, details, tfr, dur, ust, auth, uhost, cluster;
} RxLine;

/* [^\s"]* from p, on printable ASCII: the end of the run */
static inline const char *word_end(const char *p, const char *e) {
    while (p < e && *p != ' ' && *p != '"') p++;
    return p;
}

static inline const char *digits_end(const char *p, const char *e) {
    while (p < e && is_digit(*p)) p++;
    return p;
}

/* "[^"]*" at p: the position after the closing quote (its text in *v), or NULL */
static inline const char *quoted_at(const char *p, const char *e, Span *v) {
    if (p >= e || *p != '"') return NULL;
    const char *q = memchr(p + 1, '"', (size_t)(e - p - 1));
    if (q == NULL) return NULL;
    if (v != NULL) { v->p = p + 1; v->n = q - p - 1; }
    return q + 1;
}

/* ENVOY_RX from its bytes received to its end, at p:
 *   \d+ \d+ (?P<dur>\d+) (?P<ust>\S+) "[^"]*" "[^"]*" "[^"]*" "(?P<auth>[^"]*)" "(?P<uhost>[^"]*)"
 *   (?:(?: "[^"]*")* (?P<cluster>[^\s"]+))?
 * 1 when it matches (ust, uhost and cluster set) */
static int rx_rest(const char *p, const char *e, RxLine *m) {
    for (int k = 0; k < 3; k++) { /* \d+ and a space: a shorter run is followed by a digit */
        const char *q = digits_end(p, e);
        if (q == p || q >= e || *q != ' ') return 0;
        if (k == 2) { m->dur.p = p; m->dur.n = q - p; }
        p = q + 1;
    }
    const char *q = p; /* \S+ and a space: the whole run (a shorter one is followed by a non-space) */
    while (q < e && *q != ' ') q++;
    if (q == p || q >= e) return 0;
    m->ust.p = p;
    m->ust.n = q - p;
    p = q;
    for (int k = 0; k < 5; k++) { /* ` "[^"]*"` five times: [^"]* ends at the next quote */
        if (p >= e || *p != ' ') return 0;
        p = quoted_at(p + 1, e, k == 4 ? &m->uhost : k == 3 ? &m->auth : NULL);
        if (p == NULL) return 0;
    }
    /* the optional tail: as many ` "[^"]*"` as there are, then ` [^\s"]+`; fewer of them would
     * leave ` "` next, where the cluster cannot start: no cluster then */
    while (e - p >= 2 && p[0] == ' ' && p[1] == '"') {
        const char *r = quoted_at(p + 1, e, NULL);
        if (r == NULL) break;
        p = r;
    }
    m->cluster.n = -1;
    if (p < e && *p == ' ') {
        const char *r = word_end(p + 1, e);
        if (r > p + 1) { m->cluster.p = p + 1; m->cluster.n = r - p - 1; }
    }
    return 1;
}

/* ENVOY_RX on a printable line: 1 when it matches, its captures in *m */
static int rx_line(const char *s, Py_ssize_t n, RxLine *m) {
    const char *e = s + n, *p;
    if (n < 16 || s[0] != '[') return 0;
    /* \[(?P<time>\d{4}-\d\d-\d\dT[^\]]*)\] "  */
    p = s + 1;
    if (!iso_date(p)) return 0;
    const char *rb = memchr(p + 11, ']', (size_t)(e - p - 11));
    if (rb == NULL || e - rb < 3 || rb[1] != ' ' || rb[2] != '"') return 0;
    m->time.p = p;
    m->time.n = rb - p;
    /* (?P<req>[^"]*)" : up to the next quote, then a space */
    const char *q = memchr(rb + 3, '"', (size_t)(e - rb - 3));
    if (q == NULL || e - q < 2 || q[1] != ' ') return 0;
    m->req.p = rb + 3;
    m->req.n = q - rb - 3;
    p = q + 2;
    /* (?P<code>\d{1,3}) and a space */
    q = digits_end(p, e);
    if (q == p || q - p > 3 || q >= e || *q != ' ') return 0;
    m->code.p = p;
    m->code.n = q - p;
    p = q + 1;
    /* (?P<flags>[A-Z]+(?:,[A-Z]+)*|-) and a space */
    const char *flags = p;
    if ((p = flags_end(p, e)) == NULL) return 0;
    m->flags.p = flags;
    m->flags.n = p - flags;
    p++;
    /* (?:(?P<details>[^\s"]+) [^\s"]+ "(?P<tfr>[^"]*)" )? -- tried first, as the regex does */
    const char *d = word_end(p, e);
    if (d > p && d < e && *d == ' ') {
        const char *t = word_end(d + 1, e);
        Span tfr;
        const char *z = t > d + 1 && t < e && *t == ' ' ? quoted_at(t + 1, e, &tfr) : NULL;
        if (z != NULL && z < e && *z == ' ' && rx_rest(z + 1, e, m)) {
            m->details.p = p;
            m->details.n = d - p;
            m->tfr = tfr;
            return 1;
        }
    }
    m->details.n = m->tfr.n = -1;
    return rx_rest(p, e, m);
}

/* rx_line on the line as written, else on it without kubectl logs' framing (--timestamps' RFC
 * 3339 time and space, --prefix's `[pod/NAME/CONTAINER] `: unwrap_ascii.h ua_kubectl_framing,
 * wrappers.KUBECTL_FRAMING), in the order family.parse_line tries the two.  Before, every line
 * of `kubectl logs --timestamps` went back and was read line by line (300k lines ~8 s against
 * ~0.7 s written plain); tests/classify/test_lb_kubectl_framing.py holds the answers to the
 * plain log's. */
static int rx_framed(const char *s, Py_ssize_t n, RxLine *m) {
    if (rx_line(s, n, m)) return 1; /* (it asks for 16 bytes and the `[` itself) */
    Py_ssize_t at = ua_kubectl_framing(s, n);
    return at > 0 && rx_line(s + at, n - at, m);
}

typedef struct {
    GroupTable timeline, target, group;
    Buf ranges; /* GtRange of each timeline group (by FoldGroup.id) */
    int64_t rows;
    int busy;
} TextFold;

#define TEXT_FOLD "why502.envoy_text_fold"

static inline void span_part(GroupTable *t, const Span *v) {
    if (v->n < 0) gt_null(t);
    else gt_part(t, v->p, v->n);
}

/* scan_lines' TakeLine of the fold (without the GIL): 1 when the line was counted */
static int fold_text_line(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    (void)row;
    TextFold *f = ctx;
    RxLine m;
    if (n < 16 || !printable(s, n) || !rx_framed(s, n, &m) || m.time.n > GT_TIME_MAX) return 0;
    GroupTable *t = &f->timeline;
    gt_part(t, m.time.p, m.time.n < 16 ? m.time.n : 16);
    span_part(t, &m.code);
    span_part(t, &m.flags);
    span_part(t, &m.details);
    span_part(t, &m.tfr);
    int64_t id = gt_count(t, 0, 0, 0);
    if (id >= 0) gt_range(&f->ranges, id, m.time.p, (size_t)m.time.n);
    for (int k = 0; k < 2; k++) {
        t = k == 0 ? &f->target : &f->group;
        span_part(t, &m.code);
        span_part(t, &m.flags);
        span_part(t, &m.details);
        span_part(t, &m.tfr);
        span_part(t, k == 0 ? &m.uhost : &m.cluster);
        span_part(t, &m.ust);
        gt_count(t, 0, 0, 0);
    }
    f->rows++;
    return 1;
}

static void text_fold_clear(TextFold *f) {
    gt_free(&f->timeline);
    gt_free(&f->target);
    gt_free(&f->group);
    free(f->ranges.data);
    memset(&f->ranges, 0, sizeof f->ranges);
    f->rows = 0;
}

static int text_fold_failed(const void *ctx) {
    const TextFold *f = ctx;
    return f->timeline.failed || f->target.failed || f->group.failed || f->ranges.failed;
}

static void text_fold_capsule_free(PyObject *cap) {
    TextFold *f = PyCapsule_GetPointer(cap, TEXT_FOLD);
    if (f == NULL) { PyErr_Clear(); return; }
    text_fold_clear(f);
    free(f);
}

static TextFold *text_fold_of(PyObject *cap) {
    TextFold *f = PyCapsule_GetPointer(cap, TEXT_FOLD);
    if (f != NULL && f->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the fold is in use by another call");
        return NULL;
    }
    return f;
}

static PyObject *text_fold_new(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(args)) {
    TextFold *f = calloc(1, sizeof *f);
    if (f == NULL) return PyErr_NoMemory();
    PyObject *cap = PyCapsule_New(f, TEXT_FOLD, text_fold_capsule_free);
    if (cap == NULL) free(f);
    return cap;
}

/* text_fold_block(fold, data) -> (rows handed back (uint32 bytes), their text (each line and a
 * newline), rows counted) */
static PyObject *text_fold_block(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *cap;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "Oy*", &cap, &data)) return NULL;
    TextFold *f = text_fold_of(cap);
    PyObject *out = NULL;
    if (f != NULL) /* the empty "line" after the last newline is none */
        out = fold_scan(&data, whole_lines_len(&data), fold_text_line, f, &f->busy, &f->rows, text_fold_failed);
    PyBuffer_Release(&data);
    return out;
}

/* (groups of the largest table, rows counted) */
static PyObject *text_fold_size(PyObject *Py_UNUSED(self), PyObject *cap) {
    TextFold *f = text_fold_of(cap);
    if (f == NULL) return NULL;
    size_t most = f->timeline.used;
    if (f->target.used > most) most = f->target.used;
    if (f->group.used > most) most = f->group.used;
    return Py_BuildValue("(nL)", (Py_ssize_t)most, (long long)f->rows);
}

static const char *const TL_NAMES[] = {"minute", "code", "flags", "details", "tfr"};
static const char *const TARGET_NAMES[] = {"code", "flags", "details", "tfr", "uhost", "ust"};
static const char *const GROUP_NAMES[] = {"code", "flags", "details", "tfr", "cluster", "ust"};
static const char *const UTF8[] = {"u", "u", "u", "u", "u", "u"};

/* the timeline as a frame's capsules: its parts, n, first, last; 0, or -1 with an error set */
static int text_timeline_frame(const TextFold *f, PyObject **sc, PyObject **ac) {
    const GroupTable *t = &f->timeline;
    Frame fr = {NULL, NULL};
    int rc = -1;
    if (frame_new(&fr, (int64_t)t->used, 5 + 3) != 0) goto out;
    if (gt_add_parts(&fr, t, 5, UTF8, TL_NAMES) != 0) goto out;
    if (frame_add(&fr, "l", "n", 0, gt_counts64(t)) != 0) goto out;
    if (frame_add(&fr, "u", "first", 0, gt_range_column(t, &f->ranges, 0)) != 0) goto out;
    if (frame_add(&fr, "u", "last", 0, gt_range_column(t, &f->ranges, 1)) != 0) goto out;
    rc = frame_capsules(&fr, sc, ac);
out:
    frame_free(&fr);
    return rc;
}

/* text_fold_take(fold) -> ((schema, array) of the timeline, of the per-target table, of the
 * per-group table, rows counted): the groups since the last take, the tables emptied */
static PyObject *text_fold_take(PyObject *Py_UNUSED(self), PyObject *cap) {
    TextFold *f = text_fold_of(cap);
    if (f == NULL) return NULL;
    PyObject *tsc, *tac, *psc, *pac, *gsc, *gac;
    if (f->ranges.len != f->timeline.used * sizeof(GtRange)) return PyErr_NoMemory();
    if (text_timeline_frame(f, &tsc, &tac) != 0) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return NULL;
    }
    if (gt_frame(&f->target, 6, TARGET_NAMES, UTF8, &psc, &pac) != 0) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        Py_DECREF(tsc);
        Py_DECREF(tac);
        return NULL;
    }
    if (gt_frame(&f->group, 6, GROUP_NAMES, UTF8, &gsc, &gac) != 0) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        Py_DECREF(tsc);
        Py_DECREF(tac);
        Py_DECREF(psc);
        Py_DECREF(pac);
        return NULL;
    }
    int64_t rows = f->rows;
    text_fold_clear(f);
    return Py_BuildValue("((NN)(NN)(NN)L)", tsc, tac, psc, pac, gsc, gac, (long long)rows);
}

/* ---- the captures as columns (``envoy_block``) ------------------------------------------- */

/* `diagnose` and `classify` read each text line's record (proxies/envoy/frame.py: text_records on
 * ENVOY_RX's captures).  text_columns gives the captures of the lines the fold would take (every
 * byte printable ASCII, ENVOY_RX matching as rx_line follows it) as columns, a capture that took
 * no part in the match null as polars' extract_groups gives it; every other line is handed back
 * (the decoded reader reads it).  tests/stats/test_envoy_block.py holds the rows equal to the
 * decoded reader's on every recorded and published line and on bent ones. */

/* ENVOY_RX's groups, in its order (frame.py's _CAPTURES) */
static const char *const CAPTURE_NAMES[] = {"time", "req", "code", "flags", "details", "tfr", "dur", "ust", "auth",
                                            "uhost", "cluster"};
#define N_CAPTURES ((int)(sizeof CAPTURE_NAMES / sizeof *CAPTURE_NAMES))
/* the places in CAPTURE_NAMES of the captures the answers read */
enum { CAP_TIME = 0, CAP_CODE = 2, CAP_FLAGS = 3, CAP_UHOST = 9 };

/* capture_columns' CaptureLine: rx_line's captures in ENVOY_RX's order */
static int rx_captures(const char *s, Py_ssize_t n, Capture *caps) {
    RxLine m;
    if (!rx_framed(s, n, &m)) return 0;
    const Span *v[] = {&m.time, &m.req, &m.code, &m.flags, &m.details, &m.tfr, &m.dur, &m.ust, &m.auth, &m.uhost,
                       &m.cluster};
    for (int k = 0; k < N_CAPTURES; k++) caps[k] = (Capture){v[k]->p, v[k]->n};
    return 1;
}

/* text_columns(data) -> (schema, array, lines, rows handed back (uint32 bytes), their text) */
static PyObject *text_columns(PyObject *Py_UNUSED(self), PyObject *args) {
    return capture_columns(args, rx_captures, CAPTURE_NAMES, N_CAPTURES);
}

/* --- the answers: the requests `diagnose` only counts (native/answers.h) ----------------------
 *
 * A text line ENVOY_RX takes is counted in the block's answers instead of written as captures
 * when it surely answered, as frame.py's decisions (text_records, _records, _decided, then
 * batch.finish) read it: its flags are "-", so it has no primary flag, no code (_decided's code
 * is the primary flag) and no symptom (every symptom _decided gives needs a primary flag, and the
 * vocabulary's is joined on the code): whoever made its status (the details "via_upstream" or
 * "direct_response" only say who), it failed only with a 5xx; and its code, 1-3 digits, is below
 * 500.  Its key: that code, its time's minute, and its upstream host (null: "-" or "").  Every
 * other line goes out as captures, as text_columns gives them. */

/* capture_pass' CaptureCounted: the line counted in the answers (ctx) when it surely answered */
static int answer_counted(void *ctx, const Capture *caps, uint32_t row) {
    const Capture *flags = &caps[CAP_FLAGS], *code = &caps[CAP_CODE];
    if (flags->n != 1 || flags->p[0] != '-') return 0;
    int64_t status = 0;
    for (Py_ssize_t k = 0; k < code->n; k++) status = status * 10 + (code->p[k] - '0');
    return status < 500 && answers_count(ctx, &status, caps[CAP_TIME].p, caps[CAP_TIME].n, caps[CAP_UHOST].p,
                                         caps[CAP_UHOST].n, row);
}

/* text_answers(data) -> text_columns' answer and the answers' schema and array */
static PyObject *text_answers(PyObject *Py_UNUSED(self), PyObject *args) {
    return capture_answers(args, rx_captures, CAPTURE_NAMES, N_CAPTURES, answer_counted);
}

static PyMethodDef module_methods[] = {
    {"text_columns", text_columns, METH_VARARGS,
     "text_columns(data) -> (schema, array, lines, rows handed back (uint32 bytes), their text): ENVOY_RX's "
     "captures of the Envoy text lines of a block whose shape leaves no doubt, as columns (proxies/envoy/frame.py)"},
    {"text_answers", text_answers, METH_VARARGS,
     "text_answers(data) -> text_columns' five and the (schema, array) of the requests that surely answered, "
     "counted by (status, minute, upstream host) instead of given as captures (app/diagnose/lb.py "
     "_answer_groups)"},
    {"text_counts", text_counts, METH_VARARGS,
     "text_counts(data) -> ({status: lines}, {(status, flags, details, tfr, upstream or None, cluster or None): "
     "lines} of the 5xx, the lines handed back): what watch counts of the Envoy text access-log lines of a block "
     "whose shape leaves no doubt, without polars (proxies/envoy/textcount.py)"},
    {"text_ranges", text_ranges, METH_VARARGS,
     "text_ranges(data) -> ({status: lines}, {group: [lines, least time, greatest time]} of the 5xx, the row "
     "numbers of the lines handed back (uint32 bytes)): text_counts with each group's times, for classify's "
     "summary (proxies/envoy/textfold.py)"},
    {"text_fold_new", text_fold_new, METH_NOARGS,
     "text_fold_new() -> a fold: the text lines ENVOY_RX takes without doubt, counted across blocks by the "
     "captures stats decides them on, for stats (proxies/envoy/textfold.py)"},
    {"text_fold_block", text_fold_block, METH_VARARGS,
     "text_fold_block(fold, data) -> (rows handed back (uint32 bytes), their text (each line and a newline), "
     "rows counted)"},
    {"text_fold_size", text_fold_size, METH_O, "text_fold_size(fold) -> (groups of its largest table, rows counted)"},
    {"text_fold_take", text_fold_take, METH_O,
     "text_fold_take(fold) -> ((schema, array) of the timeline (minute, code, flags, details, tfr, n, first, "
     "last), of the per-target table (code, flags, details, tfr, uhost, ust, n), of the per-group table (code, "
     "flags, details, tfr, cluster, ust, n), rows): the groups since the last take, the tables emptied"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_envoyscan", "Envoy's text access-log lines counted in one native pass.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__envoyscan(void) {
    uint64_t seed;
    if (getentropy(&seed, sizeof seed) == 0) fold_seed ^= seed; /* the fold's hash (group_table.h) */
    return PyModule_Create(&module_def);
}
