/*
 * why502.sources._unframe -- a container runtime's framed log lines, read as the program's lines.
 *
 * sources/unframe.py reads a log inside docker's json-file framing or a CRI runtime's as the
 * lines the program wrote (`unframe_block`, `_line`).  In Python that was `json.loads` of every
 * docker object and a regex match of every CRI prefix: 4-7 us and ~1.4 us a line, so `stats` of
 * a docker-framed nginx log of 1M lines took 5.9 s where the plain log took 0.8 s
 * (docs/limits.md, BENCHMARKS.md stop 70).  Here the lines of a block are unframed in one call,
 * without the GIL on a big block.
 *
 * The reference stays `unframe._line`: a line is taken here only when the reference provably
 * reads it the same, and the call stops at the first line it does not take, which the caller
 * reads with the reference before calling again.  Taken:
 *
 *   CRI:    the reference's `_CRI` prefix, byte for byte (`<RFC 3339> stdout|stderr F|P ?`),
 *           the text after it;
 *   docker: exactly `{"log":"<string>","stream":"stdout|stderr","time":"<string>"}`, the shape
 *           moby's jsonlog writes (no spaces, these keys in this order); the string's escapes
 *           as `json.loads` decodes them, a \u escape of a code point that is not a surrogate
 *           written as its UTF-8; bytes >= 0x80 only where they are well-formed UTF-8 that
 *           is not an encoded surrogate (what `json.loads`' decoding and the reference's
 *           re-encoding give back unchanged).
 *
 * Stopped at (left to the reference): an object of another shape (spaces, more keys, other
 * orders, a trailing CR), a raw control byte or malformed UTF-8, a surrogate (escaped or
 * encoded), and a part of a line (CRI's `P`, a docker "log" without its newline) in the
 * stream kept: the caller joins parts per stream.  A line of the other stream is skipped here,
 * as the reference skips it, and an empty line too.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* the GIL is let go from this many bytes on (a small block: the release costs more) */
#define RELEASE_FROM (1 << 16)

enum { CRI = 0, DOCKER = 1 };            /* the framing (unframe.CRI, unframe.DOCKER) */
enum { BOTH = 0, STDOUT = 1, STDERR = 2 }; /* the streams kept; a line's stream */

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

static int digits(const char *p, const char *e, int k) {
    if (e - p < k) return 0;
    for (int i = 0; i < k; i++)
        if (!is_digit(p[i])) return 0;
    return 1;
}

static int hex(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The reference's _CRI: ^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) (stdout|stderr)
 * ([PF]) ? -- 1 and the text's start, stream and whether the line is whole, or 0.  The optional
 * fraction cannot give way to a shorter match: what follows it is Z, + or -, never a digit. */
static int cri_line(const char *s, const char *e, Py_ssize_t *at, int *stream, int *whole) {
    const char *p = s;
    if (!digits(p, e, 4) || e - p < 19 || p[4] != '-' || !digits(p + 5, e, 2) || p[7] != '-' ||
        !digits(p + 8, e, 2) || p[10] != 'T' || !digits(p + 11, e, 2) || p[13] != ':' ||
        !digits(p + 14, e, 2) || p[16] != ':' || !digits(p + 17, e, 2))
        return 0;
    p += 19;
    if (p < e && *p == '.') {
        const char *q = p + 1;
        while (q < e && is_digit(*q)) q++;
        if (q == p + 1) return 0;
        p = q;
    }
    if (p < e && *p == 'Z') {
        p++;
    } else if (e - p >= 6 && (*p == '+' || *p == '-') && digits(p + 1, e, 2) && p[3] == ':' && digits(p + 4, e, 2)) {
        p += 6;
    } else {
        return 0;
    }
    if (e - p < 9 || *p != ' ') return 0;
    p++;
    if (memcmp(p, "stdout", 6) == 0) *stream = STDOUT;
    else if (memcmp(p, "stderr", 6) == 0) *stream = STDERR;
    else return 0;
    p += 6;
    if (*p != ' ' || (p[1] != 'P' && p[1] != 'F')) return 0;
    *whole = p[1] == 'F';
    p += 2;
    if (p < e && *p == ' ') p++;
    *at = p - s;
    return 1;
}

/* The length of the well-formed UTF-8 sequence at p (lead byte >= 0x80) that encodes no
 * surrogate, or 0 (malformed, overlong, beyond U+10FFFF, or U+D800-U+DFFF). */
static int utf8_seq(const unsigned char *p, const unsigned char *e) {
    unsigned char c = p[0];
    int k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) k = 2;
    else if (c == 0xE0) { k = 3; lo = 0xA0; }
    else if (c == 0xED) { k = 3; hi = 0x9F; } /* ED A0-BF: a surrogate */
    else if (c >= 0xE1 && c <= 0xEF) k = 3;
    else if (c == 0xF0) { k = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) k = 4;
    else if (c == 0xF4) { k = 4; hi = 0x8F; }
    else return 0;
    if (e - p < k || p[1] < lo || p[1] > hi) return 0;
    for (int i = 2; i < k; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return k;
}

static size_t put_utf8(char *o, unsigned v) {
    if (v < 0x80) { o[0] = (char)v; return 1; }
    if (v < 0x800) { o[0] = (char)(0xC0 | v >> 6); o[1] = (char)(0x80 | (v & 0x3F)); return 2; }
    o[0] = (char)(0xE0 | v >> 12);
    o[1] = (char)(0x80 | ((v >> 6) & 0x3F));
    o[2] = (char)(0x80 | (v & 0x3F));
    return 3;
}

/* The first byte from p on that ends a run of plain string bytes: a quote, a backslash, a
 * control or a byte >= 0x80 (e: none).  Sixteen bytes at a time where SSE2 is there (every
 * x86-64): a signed compare below 0x20 catches the controls and the bytes >= 0x80 at once. */
static inline const char *plain_run(const char *p, const char *e) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (e - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                                   _mm_cmplt_epi8(x, space));
        int m = _mm_movemask_epi8(hit);
        if (m) return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#endif
    while (p < e && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' && *p != '\\') p++;
    return p;
}

/* A JSON string's body from p (after its opening quote) decoded into o (NULL: only checked),
 * as json.loads decodes it, within the taken subset above; the byte after the closing quote
 * and the decoded length, or NULL.  The decoded text is never longer than its source. */
static const char *json_str(const char *p, const char *e, char *o, size_t *olen) {
    size_t n = 0;
    while (p < e) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *olen = n;
            return p + 1;
        }
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            const char *run = p;
            p = plain_run(p, e);
            if (o != NULL) memcpy(o + n, run, (size_t)(p - run));
            n += (size_t)(p - run);
            continue;
        }
        if (c >= 0x80) {
            int k = utf8_seq((const unsigned char *)p, (const unsigned char *)e);
            if (!k) return NULL;
            if (o != NULL) memcpy(o + n, p, (size_t)k);
            n += (size_t)k;
            p += k;
            continue;
        }
        if (c != '\\' || e - p < 2) return NULL; /* a raw control: json.loads (strict) refuses it */
        char d;
        switch (p[1]) {
        case '"': d = '"'; break;
        case '\\': d = '\\'; break;
        case '/': d = '/'; break;
        case 'b': d = '\b'; break;
        case 'f': d = '\f'; break;
        case 'n': d = '\n'; break;
        case 'r': d = '\r'; break;
        case 't': d = '\t'; break;
        case 'u': {
            if (e - p < 6) return NULL;
            int h0 = hex(p[2]), h1 = hex(p[3]), h2 = hex(p[4]), h3 = hex(p[5]);
            if ((h0 | h1 | h2 | h3) < 0) return NULL;
            unsigned v = (unsigned)(h0 << 12 | h1 << 8 | h2 << 4 | h3);
            if (v >= 0xD800 && v <= 0xDFFF) return NULL; /* a surrogate: the reference's */
            char tmp[3];
            size_t k = put_utf8(o != NULL ? o + n : tmp, v);
            n += k;
            p += 6;
            continue;
        }
        default: return NULL;
        }
        if (o != NULL) o[n] = d;
        n++;
        p += 2;
    }
    return NULL;
}

/* A docker json-file line of the taken shape: 1, its "log" decoded into o, its stream, and
 * whether the line is whole (the text's newline, and one CR before it, not written); else 0. */
static int docker_line(const char *s, const char *e, char *o, size_t *olen, int *stream, int *whole) {
    static const char open[] = "{\"log\":\"", so[] = ",\"stream\":\"stdout\",\"time\":\"",
                      se[] = ",\"stream\":\"stderr\",\"time\":\"";
    const size_t kopen = sizeof(open) - 1, kstream = sizeof(so) - 1;
    if ((size_t)(e - s) < kopen || memcmp(s, open, kopen) != 0) return 0;
    size_t n;
    const char *p = json_str(s + kopen, e, o, &n);
    if (p == NULL || (size_t)(e - p) < kstream) return 0;
    if (memcmp(p, so, kstream) == 0) *stream = STDOUT;
    else if (memcmp(p, se, kstream) == 0) *stream = STDERR;
    else return 0;
    size_t tlen;
    p = json_str(p + kstream, e, NULL, &tlen);
    if (p == NULL || e - p != 1 || *p != '}') return 0;
    *whole = n > 0 && o[n - 1] == '\n';
    if (*whole) {
        n--;
        if (n > 0 && o[n - 1] == '\r') n--;
    }
    *olen = n;
    return 1;
}

/* unframe(data, start, kind, stream) -> (text, lines, stop): see the module docstring. */
static PyObject *unframe(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer b;
    Py_ssize_t start;
    int kind, want;
    if (!PyArg_ParseTuple(args, "y*nii:unframe", &b, &start, &kind, &want)) return NULL;
    if (start < 0 || start > b.len || (kind != CRI && kind != DOCKER) || want < BOTH || want > STDERR) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "unframe: start, kind or stream out of range");
        return NULL;
    }
    /* each line taken writes at most its bytes and a newline: the room of what is left and one */
    PyObject *text = PyBytes_FromStringAndSize(NULL, b.len - start + 1);
    if (text == NULL) {
        PyBuffer_Release(&b);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(text);
    const char *data = b.buf, *p = data + start, *end = data + b.len;
    Py_ssize_t lines = 0, stop = b.len;
    size_t o = 0;
    PyThreadState *save = b.len - start >= RELEASE_FROM ? PyEval_SaveThread() : NULL;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl != NULL ? nl : end, *next = nl != NULL ? nl + 1 : end;
        if (e == p) {
            p = next;
            continue;
        }
        int stream = 0, whole = 0, ok;
        size_t n = 0;
        if (kind == CRI) {
            Py_ssize_t at = 0;
            ok = cri_line(p, e, &at, &stream, &whole);
            if (ok && whole && (want == BOTH || stream == want)) {
                n = (size_t)(e - p - at);
                memcpy(out + o, p + at, n);
            }
        } else {
            ok = docker_line(p, e, out + o, &n, &stream, &whole);
        }
        if (!ok) {
            stop = p - data;
            break;
        }
        if (want != BOTH && stream != want) {
            p = next;
            continue;
        }
        if (!whole) {
            stop = p - data;
            break;
        }
        out[o + n] = '\n';
        o += n + 1;
        lines++;
        p = next;
    }
    if (save != NULL) PyEval_RestoreThread(save);
    PyBuffer_Release(&b);
    if (_PyBytes_Resize(&text, (Py_ssize_t)o) != 0) return NULL;
    return Py_BuildValue("(Nnn)", text, lines, stop);
}

static PyMethodDef module_methods[] = {
    {"unframe", unframe, METH_VARARGS,
     "unframe(data, start, kind, stream) -> (text, lines, stop): the program's whole lines of "
     "data's framed lines from byte start on (kind: 0 CRI, 1 docker json-file; stream: 0 both, "
     "1 stdout, 2 stderr), each followed by a newline, how many, and where the first line it "
     "left to the reference (sources/unframe.py _line) starts (len(data): none)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_unframe", "A container runtime's framed log lines, read as the program's lines.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__unframe(void) { return PyModule_Create(&module_def); }
