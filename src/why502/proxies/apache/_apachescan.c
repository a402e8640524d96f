/*
 * why502.proxies.apache._apachescan -- httpd's error lines grouped by key in one native pass.
 *
 * The optional fast path of ApacheMemo.failures_of_block (Python side: proxies/apache/
 * error_memo.py).  The reference is that module's _KEYED regex, found in "\n" + the lines:
 *
 *   \n\[(?:Mon|...|Sun) (?:Jan|...|Dec) [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]{6}
 *   ( [0-9]{4}\] \[[A-Za-z0-9_-]{1,32}:[a-z]{1,10}[0-9]?)\] \[pid [0-9]{1,10}(?::tid [0-9]{1,20})?
 *   (?:(\] \[client )[0-9A-Fa-f.:]{1,64})?\] ([^\r\n]*)(?![^\n])
 *
 * i.e. a whole line of httpd's default head (ap_log_error's "[%t] [%m:%l] [pid %P:tid %T]
 * [client %a] ", server/log.c) whose key is (the fixed part -- the year and "[module:level", not
 * the pid and tid, which the memo's proof masks -- whether a client is there, the message to the
 * line's end).  Each part is cut as the regex takes it: every quantifier is
 * followed by a byte its class does not hold, so the greedy run is the only one, but for the
 * optional client: when "] [client ADDR" is not followed by "] " (or ADDR is longer than 64 or
 * holds another byte), the regex leaves the group out and the message starts at "[client".
 * Only lines of ASCII bytes without a "\r" are taken (the regex reads str, whose classes this
 * cut holds to on ASCII alone); every other line is handed back, for the per-line path
 * (tests/watch/test_apache_keyed.py: the same keys and counts as the regex on every input).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrow_buf.h"
#include "group_table.h"

static const char DAYS[] = "MonTueWedThuFriSatSun";
static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

static inline int dig(char c) { return c >= '0' && c <= '9'; }

static int one_of(const char *p, const char *names, int count) {
    for (int k = 0; k < count; k++)
        if (memcmp(p, names + 3 * k, 3) == 0) return 1;
    return 0;
}

/* a run of digits, min..max long: its length, 0 when there is none of that length */
static Py_ssize_t digits(const char *p, const char *end, Py_ssize_t min, Py_ssize_t max) {
    Py_ssize_t n = 0;
    while (p + n < end && dig(p[n])) n++;
    return n >= min && n <= max ? n : 0;
}

static int module_byte(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || dig(c) || c == '_' || c == '-';
}

static int addr_byte(char c) {
    return dig(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f') || c == '.' || c == ':';
}

/* the key of a line (s, n), no newline in it: 1 with the fixed part [*fixed, *fixed_n), the
 * client flag and the message's start; 0 when _KEYED does not match the line */
static int cut(const char *s, Py_ssize_t n, const char **fixed, Py_ssize_t *fixed_n, int *client, const char **msg) {
    const char *p = s, *end = s + n;
    /* [Www Mmm dd hh:mm:ss.uuuuuu */
    if (n < 27 || p[0] != '[' || !one_of(p + 1, DAYS, 7) || p[4] != ' ' || !one_of(p + 5, MONTHS, 12) ||
        p[8] != ' ' || !(p[9] == ' ' || dig(p[9])) || !dig(p[10]) || p[11] != ' ' || !dig(p[12]) || !dig(p[13]) ||
        p[14] != ':' || !dig(p[15]) || !dig(p[16]) || p[17] != ':' || !dig(p[18]) || !dig(p[19]) || p[20] != '.' ||
        digits(p + 21, end, 6, 6) == 0)
        return 0;
    p += 27;
    /* the fixed part: " yyyy] [module:level", then "] [pid N(:tid M)", masked (not in the key) */
    const char *f = p;
    if (end - p < 8 || p[0] != ' ' || digits(p + 1, end, 4, 4) == 0 || p[5] != ']' || p[6] != ' ' || p[7] != '[')
        return 0;
    p += 8;
    Py_ssize_t k = 0;
    while (p + k < end && module_byte(p[k])) k++;
    if (k < 1 || k > 32 || p + k == end || p[k] != ':') return 0;
    p += k + 1;
    k = 0;
    while (p + k < end && p[k] >= 'a' && p[k] <= 'z') k++;
    if (k < 1 || k > 10) return 0;
    p += k;
    if (p < end && dig(*p)) p++;
    *fixed = f;
    *fixed_n = p - f;
    if (end - p < 7 || memcmp(p, "] [pid ", 7) != 0) return 0;
    p += 7;
    if ((k = digits(p, end, 1, 10)) == 0) return 0;
    p += k;
    if (end - p >= 5 && memcmp(p, ":tid ", 5) == 0 && (k = digits(p + 5, end, 1, 20)) != 0) p += 5 + k;
    /* (] [client ADDR)? then "] " */
    *client = 0;
    if (end - p >= 10 && memcmp(p, "] [client ", 10) == 0) {
        const char *a = p + 10;
        k = 0;
        while (a + k < end && addr_byte(a[k])) k++;
        if (k >= 1 && k <= 64 && end - (a + k) >= 2 && a[k] == ']' && a[k + 1] == ' ') {
            *client = 1;
            *msg = a + k + 2;
            return 1;
        }
    }
    if (end - p < 2 || p[0] != ']' || p[1] != ' ') return 0;
    *msg = p + 2;
    return 1;
}

/* no byte >= 0x80 and no '\r' in (s, n): a word at a time (a line is ~150 bytes; the byte loop
 * was ~a tenth of the pass) -- a byte is 0x80 or more when its top bit is set, and '\r' when the
 * word xor 0x0d.. has a zero byte, which (x - 0x01..) & ~x & 0x80.. finds exactly */
static int ascii_no_cr(const char *s, Py_ssize_t n) {
    const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL, crs = 0x0d0d0d0d0d0d0d0dULL;
    Py_ssize_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w, x;
        memcpy(&w, s + k, 8);
        x = w ^ crs;
        if ((w & high) || ((x - ones) & ~x & high)) return 0;
    }
    for (; k < n; k++)
        if ((unsigned char)s[k] >= 0x80 || s[k] == '\r') return 0;
    return 1;
}

/* a group's key part k (fixed part, client flag, message) as the str or bool of the Python key */
static PyObject *key_part(const GroupTable *t, const FoldGroup *g, int k) {
    uint32_t n;
    const char *p = gt_key_part(t, g, k, &n);
    if (k == 1) return Py_NewRef(n == 1 && p[0] == '1' ? Py_True : Py_False);
    return PyUnicode_DecodeASCII(p, (Py_ssize_t)n, NULL);
}

/* a group's Python key, (fixed, client, message); NULL with an error set */
static PyObject *key_tuple(const GroupTable *t, const FoldGroup *g) {
    PyObject *fx = key_part(t, g, 0), *cl = fx ? key_part(t, g, 1) : NULL;
    PyObject *ms = cl ? key_part(t, g, 2) : NULL;
    PyObject *key = ms ? PyTuple_Pack(3, fx, cl, ms) : NULL;
    Py_XDECREF(fx);
    Py_XDECREF(cl);
    Py_XDECREF(ms);
    return key;
}

/* the line [s, e) counted under its key in t, `row` its number: the group's number, -1 when
 * _KEYED does not take the line, -2 when out of memory.  The head is cut before the whole line
 * is checked for ASCII and CR (either order gives the same answer: cut reads bytes at fixed
 * places only), so another program's line -- most of what classify's summary hands over -- costs
 * a byte or two, not a pass over it. */
static int64_t count_line(GroupTable *t, const char *s, const char *e, uint32_t row) {
    const char *fixed, *msg;
    Py_ssize_t fixed_n;
    int client;
    if (e == s || !cut(s, e - s, &fixed, &fixed_n, &client, &msg) || !ascii_no_cr(s, e - s)) return -1;
    gt_part(t, fixed, fixed_n);
    gt_part(t, client ? "1" : "0", 1);
    gt_part(t, msg, e - msg);
    int64_t id = gt_count(t, row, 0, 0);
    return id < 0 ? -2 : id;
}

/* apache_keys(data): ({(fixed, client, message): lines}, the lines handed back).  The lines are
 * counted by key in a table of this pass (group_table.h), and a key's str made once, when the
 * dict is built: before, each run of a key made its two str, its tuple and a dict update, which
 * on a log whose next line mostly has another key (a benign log: "Connection to child N
 * established") was a third of watch's CPU on it (BENCHMARKS.md stop 73).  The dict's keys are
 * in the order each first came, as the runs added them. */
static PyObject *apache_keys(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    PyObject *keys = NULL, *out = NULL;
    GroupTable t = {0};
    const FoldGroup **by_id = NULL;
    Buf back = {0};
    const char *s = data.buf, *end = s + data.len;
    uint32_t row = 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        int64_t id = count_line(&t, s, e, row);
        if (id == -2) { PyErr_NoMemory(); goto done; }
        if (id < 0) {
            buf_put(&back, s, (size_t)(e - s));
            buf_put(&back, "\n", 1);
        }
        row++;
        if (nl == NULL) break;
        s = nl + 1;
    }
    if (back.failed) { PyErr_NoMemory(); goto done; }
    if ((keys = PyDict_New()) == NULL) goto done;
    if (t.used && (by_id = gt_in_order(&t)) == NULL) { PyErr_NoMemory(); goto done; }
    for (size_t id = 0; id < t.used; id++) {
        const FoldGroup *g = by_id[id];
        PyObject *key = key_tuple(&t, g);
        PyObject *n = key ? PyLong_FromUnsignedLong(g->count) : NULL;
        int rc = n ? PyDict_SetItem(keys, key, n) : -1;
        Py_XDECREF(key);
        Py_XDECREF(n);
        if (rc != 0) goto done;
    }
    out = Py_BuildValue("(Oy#)", keys, back.data ? back.data : "", (Py_ssize_t)back.len);
done:
    Py_XDECREF(keys);
    free(by_id);
    gt_free(&t);
    free(back.data);
    PyBuffer_Release(&data);
    return out;
}

/* the line's time as heads._ctime_time writes it (its Python twin: ApacheMemo._retold), from the
 * head cut() took: "[Www Mmm dd hh:mm:ss.uuuuuu yyyy] ..." -> "yyyy-MM-ddThh:mm:ss.uuuuuu" (26
 * bytes; the day zero-padded, as int() and :02d make it): fixed widths, so bytewise order is the
 * times' order */
static void iso_time(const char *s, char out[26]) {
    int month = 0;
    while (memcmp(s + 5, MONTHS + 3 * month, 3) != 0) month++;
    month++;
    memcpy(out, s + 28, 4); /* the year, first in the fixed part " yyyy]" */
    out[4] = '-';
    out[5] = (char)('0' + month / 10);
    out[6] = (char)('0' + month % 10);
    out[7] = '-';
    out[8] = s[9] == ' ' ? '0' : s[9];
    out[9] = s[10];
    out[10] = 'T';
    memcpy(out + 11, s + 12, 15); /* hh:mm:ss.uuuuuu */
}

/* apache_groups(data): ([((fixed, client, message), lines, least time, greatest time)], rows,
 * the number of lines): apache_keys' keys in the order each first came, with the least and
 * greatest time of their lines (iso_time), and each line's key as int32 bytes (its index in the
 * list; -1: a line apache_keys hands back) -- classify's summary of Apache's error lines
 * (ApacheMemo.summary_of_block): each key's record is taken once, and the lines of a key whose
 * lines must be read one by one go back (apache_back), not the whole block. */
static PyObject *apache_groups(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    PyObject *list = NULL, *out = NULL;
    GroupTable t = {0};
    const FoldGroup **by_id = NULL;
    Buf rows = {0}, ranges = {0};
    const char *s = data.buf, *end = s + data.len;
    uint32_t row = 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        int64_t got = count_line(&t, s, e, row);
        if (got == -2) { PyErr_NoMemory(); goto done; }
        int32_t id = got < 0 ? -1 : (int32_t)got;
        if (id >= 0) {
            char iso[26];
            iso_time(s, iso);
            gt_range(&ranges, got, iso, sizeof iso);
        }
        buf_put(&rows, (const char *)&id, sizeof id);
        row++;
        if (nl == NULL) break;
        s = nl + 1;
    }
    if (rows.failed || ranges.failed) { PyErr_NoMemory(); goto done; }
    if ((list = PyList_New((Py_ssize_t)t.used)) == NULL) goto done;
    if (t.used && (by_id = gt_in_order(&t)) == NULL) { PyErr_NoMemory(); goto done; }
    for (size_t id = 0; id < t.used; id++) {
        const FoldGroup *g = by_id[id];
        const GtRange *r = (const GtRange *)ranges.data + g->id;
        PyObject *key = key_tuple(&t, g);
        PyObject *item = key ? Py_BuildValue("(Oks#s#)", key, (unsigned long)g->count, r->lo,
                                             (Py_ssize_t)r->lo_n, r->hi, (Py_ssize_t)r->hi_n) : NULL;
        Py_XDECREF(key);
        if (item == NULL) goto done;
        PyList_SET_ITEM(list, (Py_ssize_t)id, item);
    }
    out = Py_BuildValue("(Oy#I)", list, rows.data ? rows.data : "", (Py_ssize_t)rows.len, row);
done:
    Py_XDECREF(list);
    free(by_id);
    gt_free(&t);
    free(rows.data);
    free(ranges.data);
    PyBuffer_Release(&data);
    return out;
}

/* apache_back(data, rows, want): the lines of data whose key (rows: apache_groups') is -1 or
 * one whose byte in want is 0, each with a newline -- the lines the summary reads the usual way */
static PyObject *apache_back(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data, rows, want;
    if (!PyArg_ParseTuple(args, "y*y*y*", &data, &rows, &want)) return NULL;
    PyObject *out = NULL;
    Buf back = {0};
    const char *s = data.buf, *end = s + data.len;
    const int32_t *ids = rows.buf;
    Py_ssize_t nrows = rows.len / (Py_ssize_t)sizeof(int32_t), row = 0;
    const unsigned char *w = want.buf;
    int bad = 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        if (row >= nrows) { bad = 1; break; }
        int32_t id = ids[row];
        if (id < 0 || id >= want.len || !w[id]) {
            buf_put(&back, s, (size_t)(e - s));
            buf_put(&back, "\n", 1);
        }
        row++;
        if (nl == NULL) break;
        s = nl + 1;
    }
    if (back.failed) PyErr_NoMemory();
    else if (bad || row != nrows) PyErr_SetString(PyExc_ValueError, "apache_back: rows are not the lines of data");
    else out = PyBytes_FromStringAndSize(back.data ? back.data : "", (Py_ssize_t)back.len);
    free(back.data);
    PyBuffer_Release(&data);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&want);
    return out;
}

static PyMethodDef module_methods[] = {
    {"apache_keys", apache_keys, METH_VARARGS,
     "apache_keys(data) -> ({(fixed, client, message): lines}, the lines handed back, each with a newline): "
     "the lines of a block error_memo._KEYED takes, by its key (proxies/apache/error_memo.py)"},
    {"apache_groups", apache_groups, METH_VARARGS,
     "apache_groups(data) -> ([((fixed, client, message), lines, least time, greatest time)], each line's "
     "key as int32 bytes (-1: handed back), lines): apache_keys' keys with their lines' times"},
    {"apache_back", apache_back, METH_VARARGS,
     "apache_back(data, rows, want) -> the lines whose key is -1 or not wanted, each with a newline"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_apachescan", "httpd's error lines grouped by key in one native pass.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__apachescan(void) {
    uint64_t seed;
    if (getentropy(&seed, sizeof seed) == 0) fold_seed ^= seed; /* the keys' hash (group_table.h) */
    return PyModule_Create(&module_def);
}
