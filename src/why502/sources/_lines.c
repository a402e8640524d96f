/*
 * why502.sources._lines -- the newlines of a block of bytes, counted at memory speed.
 *
 * Every reader numbers the lines of the blocks it reads (sources/logfiles.py `_numbered`: the
 * number of a block's first line is the count of the newlines before it) and `watch`'s follower
 * counts the lines it hands out (sources/follow.py `hand_out`).  `bytes.count(b"\n")` does it at
 * ~3.7 GB/s, one byte at a time, holding the GIL: ~12 % of `classify`'s summary of a 1.1 GB
 * Cloudflare log and ~9 % of `watch` on Caddy's log (BENCHMARKS.md "2026-11-26 (stop 53)").  Here
 * sixteen bytes are compared at a time (SSE2, which every x86-64 has; elsewhere a memchr loop),
 * without the GIL on a big block.  The answer is bytes.count's (tests/sources/test_newlines.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* the GIL is let go from this many bytes on (a small block: the release costs more) */
#define RELEASE_FROM (1 << 16)

static Py_ssize_t count_nl(const char *p, Py_ssize_t len) {
    const char *e = p + len;
    Py_ssize_t n = 0;
#if defined(__SSE2__)
    /* each byte lane counts its newlines (a match is -1: subtracted), at most 4 x 63 = 252 per
     * round so no lane wraps, then the lanes are summed (psadbw).  A popcount of movemask bits
     * was a call to libgcc's table popcount where the build does not assume POPCNT (Debian's
     * x86-64 baseline): ~a quarter of the follower's newline count in `watch` (BENCHMARKS.md
     * stop 57). */
    const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    while (e - p >= 64) {
        __m128i acc = zero;
        for (int k = 0; k < 63 && e - p >= 64; k++, p += 64) {
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), nl));
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), nl));
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), nl));
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), nl));
        }
        __m128i sums = _mm_sad_epu8(acc, zero);
        n += _mm_cvtsi128_si32(sums) + _mm_cvtsi128_si32(_mm_srli_si128(sums, 8));
    }
    for (; p < e; p++) n += *p == '\n';
#else
    while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        n++;
        p++;
    }
#endif
    return n;
}

static PyObject *count_newlines(PyObject *Py_UNUSED(self), PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) != 0) return NULL;
    Py_ssize_t n;
    if (b.len >= RELEASE_FROM) {
        Py_BEGIN_ALLOW_THREADS
        n = count_nl(b.buf, b.len);
        Py_END_ALLOW_THREADS
    } else {
        n = count_nl(b.buf, b.len);
    }
    PyBuffer_Release(&b);
    return PyLong_FromSsize_t(n);
}

/* ---- read_cut: a reader's next block of whole lines, with no copy of it ---------------------
 *
 * sources/logfiles.py `_chunks` read each block into a new bytes and sliced it at its last
 * newline: a second copy of every byte, into fresh pages (a 1.1 GB log: 0.32-0.34 s of the
 * reading thread, 0.21 s now, 0.19 s for the reads alone).  Here the block is read straight
 * after the carried head of its first line, into the bytes that is handed out, which is then
 * shrunk in place to its last newline; only the bytes after it (less than a line) are copied,
 * as the next carry.  The reader's readinto fills a memoryview of the new bytes' storage, which
 * must be gone before the resize (a reader that kept it or a view of it: an error). */

/* a new bytes (never shared, its hash not taken) made `n` bytes long in its room: the size and
 * the closing NUL a bytes keeps after its bytes.  Not _PyBytes_Resize: its realloc of every
 * block to a size of its own left the freed blocks too small for the next ones, and the heap
 * grew with the file (a 1.1 GB log read in 16 MiB blocks: 590 MB RSS, against 101 MB sliced
 * and 68 MB so).  The room stays the block's until it is freed (a line more than its bytes). */
static void shorten(PyObject *buf, Py_ssize_t n) {
    Py_SET_SIZE(buf, n);
    PyBytes_AS_STRING(buf)[n] = '\0';
}

static PyObject *read_cut(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *readinto, *carry;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "OSn:read_cut", &readinto, &carry, &size)) return NULL;
    if (size <= 0) {
        PyErr_SetString(PyExc_ValueError, "read_cut: size must be positive");
        return NULL;
    }
    Py_ssize_t head = PyBytes_GET_SIZE(carry);
    if (head > PY_SSIZE_T_MAX - size) return PyErr_NoMemory();
    Py_ssize_t room = head + size; /* the carry, then `size` bytes read: the blocks of a read */
    PyObject *buf = PyBytes_FromStringAndSize(NULL, room);
    if (buf == NULL) return NULL;
    char *data = PyBytes_AS_STRING(buf);
    memcpy(data, PyBytes_AS_STRING(carry), (size_t)head);
    PyObject *view = PyMemoryView_FromMemory(data + head, size, PyBUF_WRITE);
    if (view == NULL) goto fail;
    PyObject *got = PyObject_CallOneArg(readinto, view);
    /* a reader that kept the view, an export of it, or a view made from it (a cast, a slice:
     * they share its managed buffer) could still write into the storage: it is never freed
     * under them (left to leak) and the read is an error.  None of io's readers keeps one. */
    PyMemoryViewObject *mv = (PyMemoryViewObject *)view;
    if (Py_REFCNT(view) > 1 || mv->exports > 0 || Py_REFCNT((PyObject *)mv->mbuf) > 1) {
        Py_DECREF(view);
        Py_XDECREF(got);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_BufferError, "read_cut: the reader kept the buffer it read into");
        return NULL;
    }
    Py_DECREF(view);
    if (got == NULL) goto fail;
    Py_ssize_t n = got == Py_None ? 0 : PyLong_AsSsize_t(got);
    Py_DECREF(got);
    if (n == -1 && PyErr_Occurred()) goto fail;
    if (n < 0 || n > size) {
        PyErr_SetString(PyExc_ValueError, "read_cut: readinto returned a count out of range");
        goto fail;
    }
    /* the last newline among the bytes read (the carry holds none): a byte loop from the end,
     * which meets it within a line's length */
    const char *nl = NULL;
    for (const char *q = data + head + n; q > data + head;) {
        if (*--q == '\n') {
            nl = q;
            break;
        }
    }
    Py_ssize_t total = head + n;
    if (nl == NULL) { /* no newline read: everything is the carry (None: no block) */
        shorten(buf, total);
        PyObject *out = Py_BuildValue("(OOn)", Py_None, buf, n);
        Py_DECREF(buf);
        return out;
    }
    Py_ssize_t cut = nl - data;
    PyObject *rest = PyBytes_FromStringAndSize(nl + 1, total - cut - 1);
    if (rest == NULL) goto fail;
    shorten(buf, cut);
    PyObject *out = Py_BuildValue("(NNn)", buf, rest, n);
    return out;
fail:
    Py_DECREF(buf);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"count_newlines", count_newlines, METH_O,
     "count_newlines(data) -> the number of b'\\n' bytes in data (a bytes-like object): data.count(b'\\n')"},
    {"read_cut", read_cut, METH_VARARGS,
     "read_cut(readinto, carry, size) -> (block, rest, read): carry + up to size bytes read by "
     "readinto(memoryview), cut after its last newline (block: the bytes before that newline, "
     "rest: the bytes after it; block None when none was read: rest is all of it); read: how "
     "many bytes readinto read (0: the end) (sources/logfiles.py _chunks)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_lines", "The newlines of a block of bytes, counted at memory speed.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__lines(void) { return PyModule_Create(&module_def); }
