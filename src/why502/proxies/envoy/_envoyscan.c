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
 *   - it starts with `[YYYY-MM-DDT...] "`, then a method `[A-Z]+ `, the request up to the next
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

#include "arrow_buf.h"

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
    const char *e = s + n, *p;
    if (c->error || n < 16 || s[0] != '[' || !printable(s, n) || memchr(s, '{', (size_t)n) != NULL) return 0;
    /* _HEAD's time: \[\d{4}-\d\d-\d\dT[^\]]*\] " */
    p = s + 1;
    if (!(is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3]) && p[4] == '-'
          && is_digit(p[5]) && is_digit(p[6]) && p[7] == '-' && is_digit(p[8]) && is_digit(p[9])
          && p[10] == 'T')) return 0;
    p += 11;
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
    if (p < e && *p == '-') {
        p++;
    } else {
        for (;;) {
            const char *r = p;
            while (p < e && is_upper(*p)) p++;
            if (p == r) return 0;
            if (p < e && *p == ',') { p++; continue; }
            break;
        }
    }
    if (p >= e || *p != ' ') return 0;
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

static PyMethodDef module_methods[] = {
    {"text_counts", text_counts, METH_VARARGS,
     "text_counts(data) -> ({status: lines}, {(status, flags, details, tfr, upstream or None, cluster or None): "
     "lines} of the 5xx, the lines handed back): what watch counts of the Envoy text access-log lines of a block "
     "whose shape leaves no doubt, without polars (proxies/envoy/textcount.py)"},
    {"text_ranges", text_ranges, METH_VARARGS,
     "text_ranges(data) -> ({status: lines}, {group: [lines, least time, greatest time]} of the 5xx, the row "
     "numbers of the lines handed back (uint32 bytes)): text_counts with each group's times, for classify's "
     "summary (proxies/envoy/textfold.py)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_envoyscan", "Envoy's text access-log lines counted in one native pass.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__envoyscan(void) { return PyModule_Create(&module_def); }
