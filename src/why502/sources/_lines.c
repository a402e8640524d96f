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

static PyMethodDef module_methods[] = {
    {"count_newlines", count_newlines, METH_O,
     "count_newlines(data) -> the number of b'\\n' bytes in data (a bytes-like object): data.count(b'\\n')"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_lines", "The newlines of a block of bytes, counted at memory speed.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__lines(void) { return PyModule_Create(&module_def); }
