/*
 * why502.parsers._needles -- which of a fixed set of literals a text holds, in one pass over it.
 *
 * The per-line recogniser (parsers/errorlog.py `_gated_rules`) asks only the rules one of whose
 * needles (lower-case literals every match of the rule holds, `PatternInfo.needles`) the line
 * holds.  Asking each of the ~300 needles with `needle in text` is one search of the text per
 * needle: ~10 us of a Caddy runtime line's ~34 us, ~30 us of an Apache error line's ~66 us
 * (BENCHMARKS.md stop 71).  Here the text is read once: at each byte, a bitmap of the needles'
 * first two bytes says whether any needle may start there (an 8 KB table, in the first-level
 * cache), and only those needles are compared.
 *
 * The answer is Python's: needle `i` is found when `needles[i] in text`.  Both are compared as
 * UTF-8, where one string is in another exactly when its bytes are in the other's bytes (UTF-8
 * is self-synchronising: a code point's bytes never start inside another's).  A text that has
 * no UTF-8 form (a lone surrogate) gets None, and the caller asks Python
 * (tests/classify/test_needles_native.py compares the two on generated texts).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define KEYS 65536 /* two bytes */

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;               /* needles */
    char **bytes;               /* each needle's UTF-8 (owned copies) */
    Py_ssize_t *len;            /* ... and its length */
    uint8_t map[KEYS / 8];      /* bit k: some needle of two bytes or more starts with key k */
    uint32_t *start;            /* KEYS + 1 offsets into `ids` */
    uint32_t *ids;              /* the needles of two bytes or more, by their first two bytes */
    uint32_t one_start[257];    /* offsets into `one_ids` */
    uint32_t *one_ids;          /* the needles of one byte, by that byte */
    uint32_t *empty_ids;        /* the empty needles (in every text) */
    Py_ssize_t n_empty;
    uint8_t *seen;              /* scratch: 1 for a needle found in this text (all 0 between calls) */
    uint32_t *hits;             /* scratch: the needles found, in the order found */
} NeedleSet;

static void needles_free(NeedleSet *self) {
    if (self->bytes != NULL) {
        for (Py_ssize_t i = 0; i < self->n; i++) PyMem_Free(self->bytes[i]);
    }
    PyMem_Free(self->bytes);
    PyMem_Free(self->len);
    PyMem_Free(self->start);
    PyMem_Free(self->ids);
    PyMem_Free(self->one_ids);
    PyMem_Free(self->empty_ids);
    PyMem_Free(self->seen);
    PyMem_Free(self->hits);
    self->bytes = NULL;
    self->len = NULL;
    self->start = self->ids = self->one_ids = self->empty_ids = self->hits = NULL;
    self->seen = NULL;
    self->n = 0;
}

static void needles_dealloc(NeedleSet *self) {
    needles_free(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static inline unsigned key_of(const char *p) {
    return ((unsigned)(unsigned char)p[0] << 8) | (unsigned)(unsigned char)p[1];
}

static int needles_init(NeedleSet *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"needles", NULL};
    PyObject *arg;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:NeedleSet", kwlist, &arg)) return -1;
    PyObject *seq = PySequence_Fast(arg, "NeedleSet: needles must be a sequence of str");
    if (seq == NULL) return -1;
    needles_free(self);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > (Py_ssize_t)UINT32_MAX - 1) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "NeedleSet: too many needles");
        return -1;
    }
    size_t un = (size_t)n ? (size_t)n : 1;
    self->bytes = PyMem_Calloc(un, sizeof(char *));
    self->len = PyMem_Calloc(un, sizeof(Py_ssize_t));
    self->start = PyMem_Calloc(KEYS + 1, sizeof(uint32_t));
    self->ids = PyMem_Calloc(un, sizeof(uint32_t));
    self->one_ids = PyMem_Calloc(un, sizeof(uint32_t));
    self->empty_ids = PyMem_Calloc(un, sizeof(uint32_t));
    self->seen = PyMem_Calloc(un, 1);
    self->hits = PyMem_Calloc(un, sizeof(uint32_t));
    if (!self->bytes || !self->len || !self->start || !self->ids || !self->one_ids || !self->empty_ids
        || !self->seen || !self->hits) {
        Py_DECREF(seq);
        needles_free(self);
        PyErr_NoMemory();
        return -1;
    }
    self->n = n;
    memset(self->map, 0, sizeof self->map);
    memset(self->one_start, 0, sizeof self->one_start);
    self->n_empty = 0;
    /* each needle's bytes, and the count of needles per key (counting sort into `ids`) */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_Check(item)) {
            Py_DECREF(seq);
            needles_free(self);
            PyErr_SetString(PyExc_TypeError, "NeedleSet: each needle must be a str");
            return -1;
        }
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(item, &len);
        if (s == NULL) {
            Py_DECREF(seq);
            needles_free(self);
            return -1;
        }
        self->bytes[i] = PyMem_Malloc((size_t)len + 1);
        if (self->bytes[i] == NULL) {
            Py_DECREF(seq);
            needles_free(self);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(self->bytes[i], s, (size_t)len + 1);
        self->len[i] = len;
        if (len >= 2) {
            unsigned k = key_of(s);
            self->start[k + 1]++;
            self->map[k >> 3] |= (uint8_t)(1u << (k & 7));
        } else if (len == 1) {
            self->one_start[(unsigned char)s[0] + 1]++;
        } else {
            self->empty_ids[self->n_empty++] = (uint32_t)i;
        }
    }
    Py_DECREF(seq);
    for (unsigned k = 0; k < KEYS; k++) self->start[k + 1] += self->start[k];
    for (unsigned b = 0; b < 256; b++) self->one_start[b + 1] += self->one_start[b];
    /* each key's needles in needle order (the fill cursors start at each key's offset) */
    uint32_t *fill = PyMem_Malloc((KEYS + 256) * sizeof(uint32_t));
    if (fill == NULL) {
        needles_free(self);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(fill, self->start, KEYS * sizeof(uint32_t));
    memcpy(fill + KEYS, self->one_start, 256 * sizeof(uint32_t));
    for (Py_ssize_t i = 0; i < n; i++) {
        if (self->len[i] >= 2)
            self->ids[fill[key_of(self->bytes[i])]++] = (uint32_t)i;
        else if (self->len[i] == 1)
            self->one_ids[fill[KEYS + (unsigned char)self->bytes[i][0]]++] = (uint32_t)i;
    }
    PyMem_Free(fill);
    return 0;
}

/* the needles `s` holds, into self->hits (each once); their count */
static Py_ssize_t find_all(NeedleSet *self, const char *s, Py_ssize_t len) {
    Py_ssize_t found = 0;
    for (Py_ssize_t e = 0; e < self->n_empty; e++) {
        uint32_t id = self->empty_ids[e];
        self->seen[id] = 1;
        self->hits[found++] = id;
    }
    int ones = self->one_start[256] != 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        if (ones) {
            unsigned b = (unsigned char)s[i];
            for (uint32_t j = self->one_start[b]; j < self->one_start[b + 1]; j++) {
                uint32_t id = self->one_ids[j];
                if (!self->seen[id]) {
                    self->seen[id] = 1;
                    self->hits[found++] = id;
                }
            }
        }
        if (i + 1 >= len) break;
        unsigned k = key_of(s + i);
        if (!(self->map[k >> 3] & (1u << (k & 7)))) continue;
        Py_ssize_t left = len - i;
        for (uint32_t j = self->start[k]; j < self->start[k + 1]; j++) {
            uint32_t id = self->ids[j];
            Py_ssize_t nl = self->len[id];
            if (self->seen[id] || nl > left) continue;
            if (memcmp(s + i + 2, self->bytes[id] + 2, (size_t)(nl - 2)) == 0) {
                self->seen[id] = 1;
                self->hits[found++] = id;
            }
        }
    }
    return found;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static PyObject *needles_find(NeedleSet *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "find: the text must be a str");
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(text, &len);
    if (s == NULL) { /* no UTF-8 form (a lone surrogate): Python's `in` answers */
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_ssize_t found = find_all(self, s, len);
    if (found > 1) qsort(self->hits, (size_t)found, sizeof(uint32_t), cmp_u32);
    /* the scratch is cleared and the hits copied out before any allocation: an allocation may
     * run a collection, whose finalizers may ask this set again */
    uint32_t local[64];
    uint32_t *ids = found <= 64 ? local : PyMem_Malloc((size_t)found * sizeof(uint32_t));
    for (Py_ssize_t i = 0; i < found; i++) self->seen[self->hits[i]] = 0;
    if (ids == NULL) return PyErr_NoMemory();
    memcpy(ids, self->hits, (size_t)found * sizeof(uint32_t));
    PyObject *out = PyTuple_New(found);
    for (Py_ssize_t i = 0; out != NULL && i < found; i++) {
        PyObject *num = PyLong_FromUnsignedLong(ids[i]);
        if (num == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyTuple_SET_ITEM(out, i, num);
    }
    if (ids != local) PyMem_Free(ids);
    return out;
}

static PyObject *needles_len(NeedleSet *self, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromSsize_t(self->n);
}

static PyMethodDef needles_methods[] = {
    {"find", (PyCFunction)needles_find, METH_O,
     "find(text) -> the indices of the needles text holds (needles[i] in text), ascending; None "
     "when text has no UTF-8 form (a lone surrogate: ask Python)"},
    {"size", (PyCFunction)needles_len, METH_NOARGS, "size() -> the number of needles"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject NeedleSetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "why502.parsers._needles.NeedleSet",
    .tp_doc = "NeedleSet(needles) -- which of needles (a sequence of str) a text holds, in one pass",
    .tp_basicsize = sizeof(NeedleSet),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)needles_init,
    .tp_dealloc = (destructor)needles_dealloc,
    .tp_methods = needles_methods,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_needles", "Which of a fixed set of literals a text holds, in one pass over it.",
    -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__needles(void) {
    if (PyType_Ready(&NeedleSetType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    Py_INCREF(&NeedleSetType);
    if (PyModule_AddObject(m, "NeedleSet", (PyObject *)&NeedleSetType) < 0) {
        Py_DECREF(&NeedleSetType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
