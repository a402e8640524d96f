/*
 * why502.proxies.traefik._traefikscan -- Traefik's common-format access-log lines cut in one
 * native pass (issue 28 item 2), for its block reader (proxies/traefik/frame.py: traefik_block).
 *
 * Traefik's access log in its default "common" format
 * (https://doc.traefik.io/traefik/observability/access-logs/#clf-common-log-format):
 *
 *   <remote_IP_address> - <client_user_name_if_available> [<timestamp>] "<request_method>
 *   <request_path> <request_protocol>" <HTTP_status> <content-bytes> "<HTTP_referer>"
 *   "<HTTP_user_agent>" <number_of_requests_received_since_Traefik_started>
 *   "<Traefik_router_name>" "<Traefik_server_URL>" <request_duration_in_ms>ms
 *
 * The reference is the vectorised reader's regex (frame.py: CLF_RX, the per-line parser's
 * log._TRAEFIK_CLF):
 *
 *   ^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<req>[^"]*)" (?P<status>\S+) (?P<size>\S+)
 *   (?:"[^"]*"|-) (?:"[^"]*"|-) (?P<count>\d+) (?:"(?P<router>[^"]*)"|-) (?:"(?P<url>[^"]*)"|-)
 *   (?P<dur>\d+)ms$
 *
 * A line is taken only when every byte is printable ASCII (0x20-0x7e: the regex's \S, \d and $
 * -- Unicode in Rust's regex -- are then "not a space", an ASCII digit and the line's end) and
 * the regex matches it; each of its parts then has one way to match: a \S+ is the whole run of
 * non-spaces up to the next single space (a shorter run is followed by a non-space), [^\]]+ and
 * [^"]* end at the first ] or ", a quoted alternative and - differ by their first byte.  So the
 * cut below follows the regex part by part with no backtracking, and gives its captures as
 * columns, a router or URL written `-` null (its group took no part in the match).  A line the
 * regex refuses is tried again without kubectl logs' framing (`--timestamps`' RFC 3339 time and
 * space, `--prefix`'s `[pod/NAME/CONTAINER] `: clf_line), as frame.py's reader does.  Every other
 * line is handed back whole, to the decoded reader.  tests/stats/test_traefik_block.py holds the
 * rows equal to the decoded reader's on every recorded and published line and on bent ones.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answers.h"
#include "arrow_buf.h"
#include "group_table.h"
#include "unwrap_ascii.h"

typedef Capture Span;

/* CLF_RX's groups, in its order (the columns after "idx": frame.py's CLF_CAPTURES) */
enum { C_CLIENT, C_TIME, C_REQ, C_STATUS, C_SIZE, C_COUNT, C_ROUTER, C_URL, C_DUR, N_CAPS };
static const char *const NAMES[N_CAPS] = {"client", "time", "req", "status", "size", "count", "router", "url", "dur"};

/* \S+ at p, then a space: the position after the space (the run in *v), or NULL */
static inline const char *word(const char *p, const char *e, Span *v) {
    const char *q = p;
    while (q < e && *q != ' ') q++;
    if (q == p || q >= e) return NULL;
    if (v != NULL) { v->p = p; v->n = q - p; }
    return q + 1;
}

/* "[^"]*" at p, then a space: the position after the space (the text in *v), or NULL */
static inline const char *quoted(const char *p, const char *e, Span *v) {
    if (p >= e || *p != '"') return NULL;
    const char *q = memchr(p + 1, '"', (size_t)(e - p - 1));
    if (q == NULL || q + 1 >= e || q[1] != ' ') return NULL;
    if (v != NULL) { v->p = p + 1; v->n = q - p - 1; }
    return q + 2;
}

/* (?:"([^"]*)"|-) at p, then a space: the position after the space (*v: the text, or null for
 * `-`), or NULL */
static inline const char *quoted_or_dash(const char *p, const char *e, Span *v) {
    if (p < e && *p == '-') {
        if (p + 1 >= e || p[1] != ' ') return NULL;
        if (v != NULL) v->n = -1;
        return p + 2;
    }
    return quoted(p, e, v);
}

/* \d+ at p: the end of the run (p when none) */
static inline const char *digits(const char *p, const char *e) {
    while (p < e && *p >= '0' && *p <= '9') p++;
    return p;
}

/* CLF_RX's body on a line (read as printable: capture_take checks it): 1 when it matches, its
 * captures in m[0..N_CAPS) */
static int clf_at(const char *s, Py_ssize_t n, Capture *m) {
    const char *e = s + n, *p = s;
    /* ^(?P<client>\S+) \S+ \S+ \[ */
    if ((p = word(p, e, &m[C_CLIENT])) == NULL || (p = word(p, e, NULL)) == NULL || (p = word(p, e, NULL)) == NULL)
        return 0;
    if (p >= e || *p != '[') return 0;
    /* (?P<time>[^\]]+)\] " */
    const char *rb = memchr(p + 1, ']', (size_t)(e - p - 1));
    if (rb == NULL || rb == p + 1 || e - rb < 3 || rb[1] != ' ') return 0;
    m[C_TIME].p = p + 1;
    m[C_TIME].n = rb - p - 1;
    /* "(?P<req>[^"]*)" (?P<status>\S+) (?P<size>\S+) */
    if ((p = quoted(rb + 2, e, &m[C_REQ])) == NULL || (p = word(p, e, &m[C_STATUS])) == NULL
        || (p = word(p, e, &m[C_SIZE])) == NULL)
        return 0;
    /* (?:"[^"]*"|-) (?:"[^"]*"|-) : the referer and the user agent */
    if ((p = quoted_or_dash(p, e, NULL)) == NULL || (p = quoted_or_dash(p, e, NULL)) == NULL) return 0;
    /* (?P<count>\d+) */
    const char *q = digits(p, e);
    if (q == p || q >= e || *q != ' ') return 0;
    m[C_COUNT].p = p;
    m[C_COUNT].n = q - p;
    /* (?:"(?P<router>[^"]*)"|-) (?:"(?P<url>[^"]*)"|-) */
    if ((p = quoted_or_dash(q + 1, e, &m[C_ROUTER])) == NULL || (p = quoted_or_dash(p, e, &m[C_URL])) == NULL) return 0;
    /* (?P<dur>\d+)ms$ */
    q = digits(p, e);
    if (q == p || e - q != 2 || q[0] != 'm' || q[1] != 's') return 0;
    m[C_DUR].p = p;
    m[C_DUR].n = q - p;
    return 1;
}

/* CLF_RX on the line as written, else on it without kubectl logs' framing (--prefix,
 * --timestamps: unwrap_ascii.h ua_kubectl_framing, wrappers.KUBECTL_FRAMING), in the order
 * frame.py's _clf and family.parse_line try the two: 1 when either matches, its captures in m */
static int clf_line(const char *s, Py_ssize_t n, Capture *m) {
    if (clf_at(s, n, m)) return 1;
    Py_ssize_t at = ua_kubectl_framing(s, n);
    return at > 0 && clf_at(s + at, n - at, m);
}

/* clf_columns(data) -> (schema, array, lines, rows handed back (uint32 bytes), their text) */
static PyObject *clf_columns(PyObject *Py_UNUSED(self), PyObject *args) {
    return capture_columns(args, clf_line, NAMES, N_CAPS);
}

/* --- stats' fold of the common-format lines (issue 28 item 2) ------------------------------------
 *
 * All `why502 stats` does with a common-format row (frame.py: clf_records, then the accumulator,
 * evidence/lbstats.py) is count it by its minute, status, made_by and retries, by its target (the
 * server URL) and its group (the router), with no upstream timing (the format has none), and,
 * for a failure Traefik made itself, keep its code with its least and greatest time.  made_by and
 * the code are decided (log._traefik_own, log._traefik_code) on the status, the router, the URL
 * and, from 500 on, the body size.  So the fold counts the lines clf_columns takes by
 *
 *   (minute, status, size, router, url), each group with its least and greatest time,
 *
 * the raw captures, the size only when the status reads as a number of 500 or more (below, or
 * not a number, no decision reads it: a null part), and each group is decided in Python by the
 * reader's own expressions (proxies/traefik/clffold.py).  The row's time and minute are the ISO
 * form clf_records gives it (batch.clf_iso: `datetime.strptime(t, "%d/%b/%Y:%H:%M:%S
 * %z").isoformat()` of Go's one form), worked out here (clf_iso below): a line is taken only when
 *
 *   - clf_columns would take it (printable ASCII, CLF_RX matches);
 *   - its time is that form exactly (batch._CLF_TIME: two-digit day, an English month as Go
 *     writes it, a year other than 0000, a real date, hours 00-23, minutes and seconds 00-59, an
 *     offset of +/-hhmm with hh 00-23 and mm 00-59);
 *   - neither its status nor its size is a number of 19 digits or more (clf_records hands those
 *     back: model.to_int reads them otherwise than the cast).
 *
 * Every other line is handed back and stays a row.  tests/stats/test_traefik_clf_fold.py holds
 * the stats document equal to the rows' on every recorded and published line and on bent ones. */

static const char MONTHS[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static inline int dig(char c) { return c >= '0' && c <= '9'; }

/* two digits at p, the first at most `hi` (and, when it is `hi`, the second at most `hi2`) */
static inline int two(const char *p, char hi, char hi2) {
    return dig(p[0]) && dig(p[1]) && p[0] <= hi && (p[0] < hi || p[1] <= hi2);
}

/* batch.clf_iso of a time (`02/Jan/2006:15:04:05 -0700`): 1 and its 25 bytes in iso
 * (`2006-01-02T15:04:05-07:00`; an offset of zero is +00:00, as isoformat writes it), or 0 */
static int clf_iso(const char *t, Py_ssize_t n, char iso[25]) {
    static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != 26 || t[2] != '/' || t[6] != '/' || t[11] != ':' || t[14] != ':' || t[17] != ':' || t[20] != ' ')
        return 0;
    if (!dig(t[0]) || !dig(t[1]) || !dig(t[7]) || !dig(t[8]) || !dig(t[9]) || !dig(t[10])) return 0;
    int month = -1;
    for (int k = 0; k < 12; k++)
        if (memcmp(t + 3, MONTHS[k], 3) == 0) { month = k; break; }
    if (month < 0) return 0;
    int year = (t[7] - '0') * 1000 + (t[8] - '0') * 100 + (t[9] - '0') * 10 + (t[10] - '0');
    int day = (t[0] - '0') * 10 + (t[1] - '0');
    int leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    int most = DAYS[month] + (month == 1 && leap);
    if (year == 0 || day < 1 || day > most) return 0;
    /* hours [01][0-9]|2[0-3], minutes and seconds [0-5][0-9], the offset's the same */
    if (!two(t + 12, '2', '3') || !two(t + 15, '5', '9') || !two(t + 18, '5', '9')) return 0;
    if ((t[21] != '+' && t[21] != '-') || !two(t + 22, '2', '3') || !two(t + 24, '5', '9')) return 0;
    memcpy(iso, t + 7, 4);
    iso[4] = '-';
    iso[5] = (char)('0' + (month + 1) / 10);
    iso[6] = (char)('0' + (month + 1) % 10);
    iso[7] = '-';
    memcpy(iso + 8, t, 2);
    iso[10] = 'T';
    memcpy(iso + 11, t + 12, 8); /* HH:MM:SS */
    int zero = memcmp(t + 22, "0000", 4) == 0;
    iso[19] = zero ? '+' : t[21];
    memcpy(iso + 20, t + 22, 2);
    iso[22] = ':';
    memcpy(iso + 23, t + 24, 2);
    return 1;
}

/* a capture matching ^-?\d{19,}$ (to_int reads it otherwise than the cast) */
static inline int long_number(const Span *v) {
    Py_ssize_t k = v->n > 0 && v->p[0] == '-' ? 1 : 0, digits = v->n - k;
    if (digits < 19) return 0;
    for (; k < v->n; k++)
        if (!dig(v->p[k])) return 0;
    return 1;
}

/* the status read as _to_int reads it (^-?[0-9]{1,18}$) is a number of 500 or more */
static inline int status_500(const Span *v) {
    if (v->n < 1 || v->n > 18) return 0;
    long long x = 0;
    for (Py_ssize_t k = 0; k < v->n; k++) {
        if (!dig(v->p[k])) return 0;
        x = x * 10 + (v->p[k] - '0');
    }
    return x >= 500;
}

typedef struct {
    GroupTable groups;
    Buf ranges; /* GtRange of each group (by FoldGroup.id) */
    int64_t rows;
    int busy;
} ClfFold;

#define CLF_FOLD "why502.traefik_clf_fold"

static inline void span_part(GroupTable *t, const Span *v) {
    if (v->n < 0) gt_null(t);
    else gt_part(t, v->p, v->n);
}

/* scan_lines' TakeLine of the fold (without the GIL): 1 when the line was counted */
static int fold_clf_line(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    (void)row;
    ClfFold *f = ctx;
    Capture m[N_CAPS];
    char iso[25];
    if (!printable(s, n) || !clf_line(s, n, m) || !clf_iso(m[C_TIME].p, m[C_TIME].n, iso)
        || long_number(&m[C_STATUS]) || long_number(&m[C_SIZE]))
        return 0;
    GroupTable *t = &f->groups;
    gt_part(t, iso, 16);
    span_part(t, &m[C_STATUS]);
    if (status_500(&m[C_STATUS])) span_part(t, &m[C_SIZE]);
    else gt_null(t);
    span_part(t, &m[C_ROUTER]);
    span_part(t, &m[C_URL]);
    int64_t id = gt_count(t, 0, 0, 0);
    if (id >= 0) gt_range(&f->ranges, id, iso, sizeof iso);
    f->rows++;
    return 1;
}

static void clf_fold_clear(ClfFold *f) {
    gt_free(&f->groups);
    free(f->ranges.data);
    memset(&f->ranges, 0, sizeof f->ranges);
    f->rows = 0;
}

static int clf_fold_failed(const void *ctx) {
    const ClfFold *f = ctx;
    return f->groups.failed || f->ranges.failed;
}

static void clf_fold_capsule_free(PyObject *cap) {
    ClfFold *f = PyCapsule_GetPointer(cap, CLF_FOLD);
    if (f == NULL) { PyErr_Clear(); return; }
    clf_fold_clear(f);
    free(f);
}

static ClfFold *clf_fold_of(PyObject *cap) {
    ClfFold *f = PyCapsule_GetPointer(cap, CLF_FOLD);
    if (f != NULL && f->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the fold is in use by another call");
        return NULL;
    }
    return f;
}

static PyObject *clf_fold_new(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(args)) {
    ClfFold *f = calloc(1, sizeof *f);
    if (f == NULL) return PyErr_NoMemory();
    PyObject *cap = PyCapsule_New(f, CLF_FOLD, clf_fold_capsule_free);
    if (cap == NULL) free(f);
    return cap;
}

/* clf_fold_block(fold, data) -> (rows handed back (uint32 bytes), their text (each line and a
 * newline), rows counted) */
static PyObject *clf_fold_block(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *cap;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "Oy*", &cap, &data)) return NULL;
    ClfFold *f = clf_fold_of(cap);
    PyObject *out = NULL;
    if (f != NULL) /* the empty "line" after the last newline is none */
        out = fold_scan(&data, whole_lines_len(&data), fold_clf_line, f, &f->busy, &f->rows, clf_fold_failed);
    PyBuffer_Release(&data);
    return out;
}

/* (groups, rows counted) */
static PyObject *clf_fold_size(PyObject *Py_UNUSED(self), PyObject *cap) {
    ClfFold *f = clf_fold_of(cap);
    if (f == NULL) return NULL;
    return Py_BuildValue("(nL)", (Py_ssize_t)f->groups.used, (long long)f->rows);
}

/* --- the answers: the requests `diagnose` only counts (native/answers.h) ----------------------
 *
 * A line clf_columns takes is counted in the block's answers instead of written as captures when
 * it surely answered, as frame.py's clf_records (then batch.finish) reads it:
 *   - the fold's conditions hold (clf_iso reads its time; neither its status nor its size is a
 *     number of 19 digits or more): clf_records refuses no such line;
 *   - its status is one to three digits, below 500;
 *   - it names a router or a server URL (a capture that is not "-"): below 500, Traefik made the
 *     status itself only with neither (_decide's own: its "no router" 404), and a status it did
 *     not make fails only from 500 on.
 * Its key: the status, the minute of its ISO time (clf_iso, written here: answers_count_made),
 * and the URL, the record's target ("-" and "" none, as _answer_groups reads them).  Every other line goes out as captures, as clf_columns gives them. */

static inline int named(const Span *v) { return v->n > 0 ? !(v->n == 1 && v->p[0] == '-') : v->n == 0; }

/* capture_pass' CaptureCounted: the line counted in the answers (ctx) when it surely answered */
static int clf_answer_counted(void *ctx, const Capture *m, uint32_t row) {
    const Span *st = &m[C_STATUS], *url = &m[C_URL];
    char iso[25];
    if (st->n < 1 || st->n > 3 || (!named(&m[C_ROUTER]) && !named(url))) return 0;
    int64_t status = 0;
    for (Py_ssize_t k = 0; k < st->n; k++) {
        if (!dig(st->p[k])) return 0;
        status = status * 10 + (st->p[k] - '0');
    }
    if (status >= 500 || long_number(&m[C_SIZE]) || !clf_iso(m[C_TIME].p, m[C_TIME].n, iso)) return 0;
    return answers_count_made(ctx, &status, iso, sizeof iso, url->n > 0 ? url->p : NULL, url->n > 0 ? url->n : 0,
                              row);
}

/* clf_answers(data) -> clf_columns' answer and the answers' schema and array */
static PyObject *clf_answers(PyObject *Py_UNUSED(self), PyObject *args) {
    return capture_answers(args, clf_line, NAMES, N_CAPS, clf_answer_counted);
}

static const char *const FOLD_NAMES[] = {"minute", "status", "size", "router", "url"};
#define FOLD_PARTS 5

/* clf_fold_take(fold) -> ((schema, array) of the groups: their parts, n, first, last; rows
 * counted): the groups since the last take, the table emptied */
static PyObject *clf_fold_take(PyObject *Py_UNUSED(self), PyObject *cap) {
    ClfFold *f = clf_fold_of(cap);
    if (f == NULL) return NULL;
    const GroupTable *t = &f->groups;
    if (f->ranges.len != t->used * sizeof(GtRange)) return PyErr_NoMemory();
    Frame fr = {NULL, NULL};
    PyObject *sc = NULL, *ac = NULL;
    int rc = -1;
    if (frame_new(&fr, (int64_t)t->used, FOLD_PARTS + 3) != 0) goto out;
    static const char *const utf8[FOLD_PARTS] = {"u", "u", "u", "u", "u"};
    if (gt_add_parts(&fr, t, FOLD_PARTS, utf8, FOLD_NAMES) != 0) goto out;
    if (frame_add(&fr, "l", "n", 0, gt_counts64(t)) != 0) goto out;
    if (frame_add(&fr, "u", "first", 0, gt_range_column(t, &f->ranges, 0)) != 0) goto out;
    if (frame_add(&fr, "u", "last", 0, gt_range_column(t, &f->ranges, 1)) != 0) goto out;
    rc = frame_capsules(&fr, &sc, &ac);
out:
    frame_free(&fr);
    if (rc != 0) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return NULL;
    }
    int64_t rows = f->rows;
    clf_fold_clear(f);
    return Py_BuildValue("((NN)L)", sc, ac, (long long)rows);
}

static PyMethodDef module_methods[] = {
    {"clf_columns", clf_columns, METH_VARARGS,
     "clf_columns(data) -> (schema, array, lines, rows handed back (uint32 bytes), their text): CLF_RX's captures "
     "of the Traefik common-format lines of a block whose shape leaves no doubt, as columns "
     "(proxies/traefik/frame.py)"},
    {"clf_answers", clf_answers, METH_VARARGS,
     "clf_answers(data) -> clf_columns' five and the (schema, array) of the requests that surely answered, "
     "counted by status, minute and URL instead of written as captures (native/answers.h)"},
    {"clf_fold_new", clf_fold_new, METH_NOARGS,
     "clf_fold_new() -> a fold: the common-format lines clf_columns takes, counted across blocks by the captures "
     "stats decides them on, with their time in ISO form (proxies/traefik/clffold.py)"},
    {"clf_fold_block", clf_fold_block, METH_VARARGS,
     "clf_fold_block(fold, data) -> (rows handed back (uint32 bytes), their text (each line and a newline), "
     "rows counted)"},
    {"clf_fold_size", clf_fold_size, METH_O, "clf_fold_size(fold) -> (groups, rows counted)"},
    {"clf_fold_take", clf_fold_take, METH_O,
     "clf_fold_take(fold) -> ((schema, array) of the groups (minute, status, size, router, url, n, first, last), "
     "rows counted), the table emptied"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_traefikscan", "Traefik's common-format access-log lines cut in one native pass.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__traefikscan(void) { return PyModule_Create(&module_def); }
