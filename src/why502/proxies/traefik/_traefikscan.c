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
 * columns, a router or URL written `-` null (its group took no part in the match).  Every other
 * line is handed back whole, to the decoded reader.  tests/stats/test_traefik_block.py holds the
 * rows equal to the decoded reader's on every recorded and published line and on bent ones.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arrow_buf.h"

typedef Capture Span;

/* CLF_RX's groups, in its order (the columns after "idx": frame.py's _CLF_CAPTURES) */
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

/* CLF_RX on a line (read as printable: capture_take checks it): 1 when it matches, its captures
 * in m[0..N_CAPS) */
static int clf_line(const char *s, Py_ssize_t n, Capture *m) {
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

/* clf_columns(data) -> (schema, array, lines, rows handed back (uint32 bytes), their text) */
static PyObject *clf_columns(PyObject *Py_UNUSED(self), PyObject *args) {
    return capture_columns(args, clf_line, NAMES, N_CAPS);
}

static PyMethodDef module_methods[] = {
    {"clf_columns", clf_columns, METH_VARARGS,
     "clf_columns(data) -> (schema, array, lines, rows handed back (uint32 bytes), their text): CLF_RX's captures "
     "of the Traefik common-format lines of a block whose shape leaves no doubt, as columns "
     "(proxies/traefik/frame.py)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_traefikscan", "Traefik's common-format access-log lines cut in one native pass.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__traefikscan(void) { return PyModule_Create(&module_def); }
