/*
 * access_counts(): the access-log counter of `why502 watch` (Python side: app/watch/traffic.py,
 * LineCounter), one native pass per line of a block, no polars.
 *
 * The program is the log_format compiled by Python (traffic.native_program) into steps that
 * follow the format's own regex (parsers/log_format.py compile_format) in the regex's order of
 * preference: a literal is compared byte for byte; a free-text variable runs to the first byte of
 * the literal after it ([^c]*, greedy: the only place that literal can start); $status is three
 * digits; a number is \d+ (or \d+\.\d+) else "-"; an $upstream_* list is [^\s,"]+ joined by ", "
 * or " : ", greedy, or nothing; $time_local is the 26-byte shape.  What follows the format's
 * last piece is let be, as the statistics' parser does.  When that one path fails -- where the
 * regex could still backtrack into another -- the line is handed back undecided, for the regex
 * itself (Python), so counts are the regex's.
 *
 * Counted per block: requests by (status, host), by (status, $upstream_addr) and the histogram
 * of the last attempt's $upstream_response_time by the last attempt's $upstream_addr (the time
 * read by strtod only when it is digits[.digits]; any other text makes the line undecided).
 */

enum { OP_LIT = 0, OP_TEXT = 1, OP_STATUS = 2, OP_INT = 3, OP_DEC = 4, OP_MSEC = 5, OP_LIST = 6,
       OP_TIME = 7 };
enum { SLOT_HOST = 0, SLOT_STATUS = 1, SLOT_UP = 2, SLOT_TIME = 3, NSLOTS = 4 };
#define MAX_STEPS 128
#define MAX_BUCKETS 32

typedef struct {
    int op, slot;
    const char *lit;
    Py_ssize_t len;
} Step;

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }
static inline int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
/* [^\s,"] of a bytes regex: \s is [ \t\n\r\f\v] */
static inline int list_char(char c) {
    return !(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == ',' || c == '"');
}

static Py_ssize_t digits(const char *p, Py_ssize_t i, Py_ssize_t n) {
    while (i < n && is_digit(p[i])) i++;
    return i;
}

/* one step at p[i]; returns the end or -1 */
static Py_ssize_t step_at(const Step *s, const char *p, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t j;
    switch (s->op) {
    case OP_LIT:
        if (n - i < s->len || memcmp(p + i, s->lit, (size_t)s->len) != 0) return -1;
        return i + s->len;
    case OP_TEXT:
        if (s->len == 0) return n; /* .* to the end of the line */
        {
            const char *q = memchr(p + i, s->lit[0], (size_t)(n - i));
            return q == NULL ? -1 : (Py_ssize_t)(q - p);
        }
    case OP_STATUS:
        if (n - i < 3 || !is_digit(p[i]) || !is_digit(p[i + 1]) || !is_digit(p[i + 2])) return -1;
        return i + 3;
    case OP_INT:
        j = digits(p, i, n);
        if (j > i) return j;
        return (i < n && p[i] == '-') ? i + 1 : -1;
    case OP_DEC:
    case OP_MSEC:
        j = digits(p, i, n);
        if (j > i && j < n && p[j] == '.') {
            Py_ssize_t k = digits(p, j + 1, n);
            if (k > j + 1) return k;
        }
        /* \d+\.\d+ failed; the regex would try "-" (request_time) -- a partial number is undecided */
        if (s->op == OP_DEC && j == i && i < n && p[i] == '-') return i + 1;
        return -1;
    case OP_LIST:
        j = i;
        while (j < n && list_char(p[j])) j++;
        if (j == i) return i; /* (?:LIST|-)? : nothing ("-" is a list item) */
        for (;;) {
            Py_ssize_t k;
            if (n - j >= 3 && p[j] == ' ' && p[j + 1] == ':' && p[j + 2] == ' ') k = j + 3;
            else if (n - j >= 2 && p[j] == ',' && p[j + 1] == ' ') k = j + 2;
            else break;
            Py_ssize_t e = k;
            while (e < n && list_char(p[e])) e++;
            if (e == k) break;
            j = e;
        }
        return j;
    case OP_TIME: { /* \d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4} */
        static const char shape[] = "99/aaa/9999:99:99:99 s9999";
        if (n - i < 26) return -1;
        for (int k = 0; k < 26; k++) {
            char c = p[i + k], t = shape[k];
            if (t == '9' ? !is_digit(c) : t == 'a' ? !is_alpha(c) : t == 's' ? (c != '+' && c != '-') : c != t)
                return -1;
        }
        return i + 26;
    }
    }
    return -1;
}

/* the last attempt of an $upstream_* list: after the last ", " or " : " */
static Py_ssize_t last_attempt(const char *p, Py_ssize_t a, Py_ssize_t b) {
    for (Py_ssize_t k = b - 1; k > a; k--) {
        if (p[k] == ' ' && (p[k - 1] == ',' || (p[k - 1] == ':' && k - 2 >= a && p[k - 2] == ' ')))
            return k + 1;
    }
    return a;
}

static int bump(PyObject *dict, const char *a, Py_ssize_t an, const char *b, Py_ssize_t bn) {
    PyObject *key = PyBytes_FromStringAndSize(NULL, an + bn);
    if (key == NULL) return -1;
    memcpy(PyBytes_AS_STRING(key), a, (size_t)an);
    memcpy(PyBytes_AS_STRING(key) + an, b, (size_t)bn);
    PyObject *old = PyDict_GetItemWithError(dict, key);
    long v = 1;
    if (old != NULL) v = PyLong_AsLong(old) + 1;
    else if (PyErr_Occurred()) { Py_DECREF(key); return -1; }
    PyObject *val = PyLong_FromLong(v);
    int rc = val == NULL ? -1 : PyDict_SetItem(dict, key, val);
    Py_XDECREF(val);
    Py_DECREF(key);
    return rc;
}

typedef struct {
    long counts[MAX_BUCKETS];
    long n;
    double sum;
} Hist;

static PyObject *access_counts(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    PyObject *program, *bounds;
    if (!PyArg_ParseTuple(args, "y*O!O!", &data, &PyTuple_Type, &program, &PyTuple_Type, &bounds)) return NULL;
    Step steps[MAX_STEPS];
    double bucket[MAX_BUCKETS];
    Py_ssize_t nsteps = PyTuple_GET_SIZE(program), nb = PyTuple_GET_SIZE(bounds);
    PyObject *req = NULL, *resp = NULL, *hist = NULL, *undecided = NULL, *ups = NULL, *out = NULL;
    Hist *h = NULL;
    Py_ssize_t nh = 0, caph = 0;
    if (nsteps > MAX_STEPS || nb > MAX_BUCKETS) {
        PyErr_SetString(PyExc_ValueError, "program or buckets too long");
        goto done;
    }
    for (Py_ssize_t k = 0; k < nsteps; k++) {
        PyObject *t = PyTuple_GET_ITEM(program, k);
        char *lit;
        if (!PyTuple_Check(t) || !PyArg_ParseTuple(t, "iy#i", &steps[k].op, &lit, &steps[k].len, &steps[k].slot)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a step is (op, bytes, slot)");
            goto done;
        }
        steps[k].lit = lit;
        if (steps[k].slot >= NSLOTS) { PyErr_SetString(PyExc_ValueError, "bad slot"); goto done; }
    }
    for (Py_ssize_t k = 0; k < nb; k++) {
        bucket[k] = PyFloat_AsDouble(PyTuple_GET_ITEM(bounds, k));
        if (PyErr_Occurred()) goto done;
    }
    req = PyDict_New(); resp = PyDict_New(); hist = PyDict_New(); undecided = PyList_New(0); ups = PyDict_New();
    if (!req || !resp || !hist || !undecided || !ups) goto done;
    const char *p = data.buf;
    Py_ssize_t size = data.len, pos = 0;
    while (pos < size) {
        const char *nl = memchr(p + pos, '\n', (size_t)(size - pos));
        Py_ssize_t end = nl ? (Py_ssize_t)(nl - p) : size, next = nl ? end + 1 : size;
        Py_ssize_t a[NSLOTS], b[NSLOTS];
        int has[NSLOTS] = {0, 0, 0, 0};
        Py_ssize_t i = pos;
        int ok = 1;
        for (Py_ssize_t k = 0; k < nsteps && ok; k++) {
            Py_ssize_t j = step_at(&steps[k], p, i, end);
            if (j < 0) { ok = 0; break; }
            if (steps[k].slot >= 0) { a[steps[k].slot] = i; b[steps[k].slot] = j; has[steps[k].slot] = 1; }
            i = j;
        }
        double secs = 0;
        int timed = 0;
        Py_ssize_t ua = 0, ub = 0;
        if (ok && has[SLOT_UP]) {
            ua = last_attempt(p, a[SLOT_UP], b[SLOT_UP]);
            ub = b[SLOT_UP];
            int valid_up = ub > ua && !(ub - ua == 1 && p[ua] == '-');
            if (has[SLOT_TIME]) {
                /* [^0-9., :\r-]|-[0-9]: not what nginx wrote (the statistics' parser has the line
                 * unparsed): the regex path decides */
                for (Py_ssize_t k = a[SLOT_TIME]; k < b[SLOT_TIME] && ok; k++) {
                    char c = p[k];
                    if (!(is_digit(c) || c == '.' || c == ',' || c == ' ' || c == ':' || c == '\r' || c == '-')
                        || (c == '-' && k + 1 < b[SLOT_TIME] && is_digit(p[k + 1])))
                        ok = 0;
                }
            }
            if (ok && valid_up && has[SLOT_TIME]) {
                Py_ssize_t ta = last_attempt(p, a[SLOT_TIME], b[SLOT_TIME]), tb = b[SLOT_TIME];
                if (!(tb - ta == 1 && p[ta] == '-') && tb > ta) {
                    Py_ssize_t j = digits(p, ta, tb);
                    if (j > ta && j < tb && p[j] == '.') j = digits(p, j + 1, tb);
                    if (j != tb || j - ta > 40) ok = 0; /* not digits[.digits]: the regex path */
                    else {
                        char num[48];
                        memcpy(num, p + ta, (size_t)(tb - ta));
                        num[tb - ta] = 0;
                        secs = strtod(num, NULL);
                        timed = 1;
                    }
                }
            }
        }
        if (!ok) {
            /* blank lines are nobody's (nginx never writes one) */
            Py_ssize_t k = pos;
            while (k < end && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r' || p[k] == '\f' || p[k] == '\v')) k++;
            if (k < end) {
                PyObject *line = PyBytes_FromStringAndSize(p + pos, end - pos);
                if (line == NULL || PyList_Append(undecided, line) < 0) { Py_XDECREF(line); goto done; }
                Py_DECREF(line);
            }
            pos = next;
            continue;
        }
        const char *st = p + a[SLOT_STATUS];
        Py_ssize_t stn = b[SLOT_STATUS] - a[SLOT_STATUS];
        if (bump(req, st, stn, has[SLOT_HOST] ? p + a[SLOT_HOST] : "", has[SLOT_HOST] ? b[SLOT_HOST] - a[SLOT_HOST] : 0) < 0)
            goto done;
        if (has[SLOT_UP] && bump(resp, st, stn, p + a[SLOT_UP], b[SLOT_UP] - a[SLOT_UP]) < 0) goto done;
        if (timed) {
            PyObject *key = PyBytes_FromStringAndSize(p + ua, ub - ua);
            if (key == NULL) goto done;
            PyObject *idx = PyDict_GetItemWithError(ups, key);
            Py_ssize_t x;
            if (idx != NULL) x = PyLong_AsSsize_t(idx);
            else if (PyErr_Occurred()) { Py_DECREF(key); goto done; }
            else {
                if (nh == caph) {
                    Py_ssize_t cap = caph ? caph * 2 : 8;
                    Hist *g = realloc(h, (size_t)cap * sizeof(Hist));
                    if (g == NULL) { Py_DECREF(key); PyErr_NoMemory(); goto done; }
                    h = g;
                    caph = cap;
                }
                memset(&h[nh], 0, sizeof(Hist));
                x = nh++;
                PyObject *v = PyLong_FromSsize_t(x);
                if (v == NULL || PyDict_SetItem(ups, key, v) < 0) { Py_XDECREF(v); Py_DECREF(key); goto done; }
                Py_DECREF(v);
            }
            Py_DECREF(key);
            for (Py_ssize_t k = 0; k < nb; k++) if (secs <= bucket[k]) h[x].counts[k]++;
            h[x].n++;
            h[x].sum += secs;
        }
        pos = next;
    }
    {
        PyObject *key, *val;
        Py_ssize_t it = 0;
        while (PyDict_Next(ups, &it, &key, &val)) {
            Py_ssize_t x = PyLong_AsSsize_t(val);
            PyObject *counts = PyTuple_New(nb);
            if (counts == NULL) goto done;
            for (Py_ssize_t k = 0; k < nb; k++) {
                PyObject *c = PyLong_FromLong(h[x].counts[k]);
                if (c == NULL) { Py_DECREF(counts); goto done; }
                PyTuple_SET_ITEM(counts, k, c);
            }
            PyObject *row = Py_BuildValue("(Nld)", counts, h[x].n, h[x].sum);
            if (row == NULL || PyDict_SetItem(hist, key, row) < 0) { Py_XDECREF(row); goto done; }
            Py_DECREF(row);
        }
    }
    out = PyTuple_Pack(4, req, resp, hist, undecided);
done:
    free(h);
    Py_XDECREF(req); Py_XDECREF(resp); Py_XDECREF(hist); Py_XDECREF(undecided); Py_XDECREF(ups);
    PyBuffer_Release(&data);
    return out;
}
