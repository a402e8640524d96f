/*
 * Growable malloc'd byte buffers, and their hand-over to polars through the Arrow C data
 * interface (https://arrow.apache.org/docs/format/CDataInterface.html): the columns a native
 * pass builds without the GIL become one struct array that ``pl.DataFrame`` imports (one copy
 * per column in polars' Rust, none per row in Python).
 *
 * Shared by the native passes: nginx's scanner (why502/proxies/nginx/_scan.c, its access-log
 * columns in _scan_columns.h) and the ALB pass (why502/parsers/lblogs/_albscan.c).  Include it
 * after <Python.h>, <stdint.h>, <stdlib.h> and <string.h>.
 */
#ifndef WHY502_ARROW_BUF_H
#define WHY502_ARROW_BUF_H

/* ------------------------------------------------------------------------------------------ */
/* growable byte buffer (used without the GIL: plain malloc)                                  */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} Buf;

static inline int buf_reserve(Buf *b, size_t extra) {
    if (b->failed) return -1;
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) {
        if (cap > ((size_t)-1) / 2) { b->failed = 1; return -1; }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) { b->failed = 1; return -1; }
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline void buf_put(Buf *b, const char *s, size_t n) {
    if (n == 0) return; /* nothing to copy (memcpy to a buffer not yet allocated is undefined) */
    if (buf_reserve(b, n) == 0) { memcpy(b->data + b->len, s, n); b->len += n; }
}


/* the first n bytes of a and b are the same, compared a word at a time: the values compared are
 * short (JSON keys, group keys, a format's literals), and a call to memcmp cost more than the
 * compare (_jsonscan's keys; group_table.h's lookups, BENCHMARKS.md stop 69) */
static inline int same_bytes(const char *a, const char *b, Py_ssize_t n) {
    uint64_t x, y;
    if (n >= 8) {
        Py_ssize_t i = 0;
        for (; i + 8 <= n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) return 0;
        }
        if (i == n) return 1;
        memcpy(&x, a + n - 8, 8); /* the last bytes, overlapping the ones compared */
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t u, v;
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        if (u != v) return 0;
        memcpy(&u, a + n - 4, 4);
        memcpy(&v, b + n - 4, 4);
        return u == v;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* every byte printable ASCII (0x20-0x7e), eight at a time */
static inline int printable(const char *s, Py_ssize_t n) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    Py_ssize_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w;
        memcpy(&w, s + k, 8);
        /* a byte >= 0x80, < 0x20 (w - 0x20 borrows into its high bit) or 0x7f (w ^ 0x7f is 0) */
        uint64_t x = w ^ (0x7f * ones);
        if ((w | ((w - 0x20 * ones) & ~w) | ((x - ones) & ~x)) & high) return 0;
    }
    for (; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c < 0x20 || c > 0x7e) return 0;
    }
    return 1;
}

/* buf_put with the common case (room left) inline */
static inline void col_put(Buf *b, const void *s, size_t n) {
    if (n == 0) return; /* an empty value: nothing to copy (and no buffer yet, maybe) */
    if (b->len + n <= b->cap) { memcpy(b->data + b->len, s, n); b->len += n; }
    else buf_put(b, s, n);
}

/* ---- the Arrow C data interface (https://arrow.apache.org/docs/format/CDataInterface.html) -- */

struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

static inline void schema_release(struct ArrowSchema *s) {
    if (s->release == NULL) return;
    for (int64_t k = 0; k < s->n_children; k++) {
        struct ArrowSchema *c = s->children[k];
        if (c->release != NULL) c->release(c);
        free(c);
    }
    free(s->children);
    free((void *)s->name);
    s->release = NULL;
}

static inline void schema_child_release(struct ArrowSchema *s) {
    free((void *)s->name);
    s->release = NULL;
}

/* an array's private data: the memory its buffers point to (freed on release) */
typedef struct {
    const void *bufs[4];
    void *mem[4];
} ArrPriv;

static inline void array_release(struct ArrowArray *a) {
    if (a->release == NULL) return;
    for (int64_t k = 0; k < a->n_children; k++) {
        struct ArrowArray *c = a->children[k];
        if (c->release != NULL) c->release(c);
        free(c);
    }
    free(a->children);
    ArrPriv *p = a->private_data;
    if (p != NULL) {
        for (int k = 0; k < 4; k++) free(p->mem[k]);
        free(p);
    }
    a->release = NULL;
}

static inline void capsule_schema_free(PyObject *cap) {
    struct ArrowSchema *s = PyCapsule_GetPointer(cap, "arrow_schema");
    if (s == NULL) { PyErr_Clear(); return; }
    if (s->release != NULL) s->release(s);
    free(s);
}

static inline void capsule_array_free(PyObject *cap) {
    struct ArrowArray *a = PyCapsule_GetPointer(cap, "arrow_array");
    if (a == NULL) { PyErr_Clear(); return; }
    if (a->release != NULL) a->release(a);
    free(a);
}

static inline char *dup_str(const char *s, Py_ssize_t n) {
    char *d = malloc((size_t)n + 1);
    if (d != NULL) { memcpy(d, s, (size_t)n); d[n] = 0; }
    return d;
}

/* a child array owning (taking) up to three malloc'd buffers: [validity (NULL: no null), b1, b2] */
static inline struct ArrowArray *child_array_nulls(int64_t length, int64_t nulls, void *valid, void *b1, void *b2) {
    struct ArrowArray *a = calloc(1, sizeof *a);
    ArrPriv *p = calloc(1, sizeof *p);
    if (a == NULL || p == NULL) { free(a); free(p); free(valid); free(b1); free(b2); return NULL; }
    p->bufs[0] = p->mem[0] = nulls > 0 ? valid : NULL;
    if (nulls == 0) free(valid);
    p->bufs[1] = p->mem[1] = b1;
    p->bufs[2] = p->mem[2] = b2;
    a->length = length;
    a->null_count = nulls;
    a->n_buffers = b2 != NULL ? 3 : 2;
    a->buffers = p->bufs;
    a->private_data = p;
    a->release = array_release;
    return a;
}

/* the same with no validity buffer (no null) */
static inline struct ArrowArray *child_array(int64_t length, void *b1, void *b2) {
    return child_array_nulls(length, 0, NULL, b1, b2);
}

/* buffers handed to arrow: never NULL (an empty column still needs a valid pointer) */
static inline void *buf_take(Buf *b) {
    void *d = b->data != NULL ? b->data : malloc(8);
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

/* the length of a block's whole lines: without the final newline (the empty "line" after it is
 * none: the counting passes, which hand back no row of it) */
static inline Py_ssize_t whole_lines_len(const Py_buffer *data) {
    return data->len > 0 && ((const char *)data->buf)[data->len - 1] == '\n' ? data->len - 1 : data->len;
}

/* each k in [0, n) with counts[k] > 0 set in the dict `into` as {k: counts[k]} (a counting
 * pass's {status: lines}); 0, or -1 with an error set */
static inline int counts_into(PyObject *into, const int64_t *counts, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        if (counts[k] == 0) continue;
        PyObject *key = PyLong_FromLongLong(k);
        PyObject *v = PyLong_FromLongLong(counts[k]);
        int rc = key != NULL && v != NULL ? PyDict_SetItem(into, key, v) : -1;
        Py_XDECREF(key);
        Py_XDECREF(v);
        if (rc != 0) return -1;
    }
    return 0;
}

/* a pass's reader of one line (without its newline): 1 when it took the line as row `row` */
typedef int (*TakeLine)(void *ctx, const char *s, Py_ssize_t n, uint32_t row);

/* the lines of [p, p + size) as Python's str.split("\n") cuts them (a last, empty one after a
 * final newline), each offered to `take` without the \r of a CRLF line (a log written or copied
 * on Windows: the Python readers drop it, parsers/lblogs/family.parse_line, and each pass gave
 * such a line back to them, 2-27x slower: BENCHMARKS.md stop 69); the rows it does not take go
 * to `back` (uint32) and their text, as it is, to `back_text` (each with a newline).  Returns
 * the number of lines; a line of 1 GiB
 * or more, or a row past uint32, is never offered (the caller refuses such a block).  Runs
 * without the GIL. */
static inline int64_t scan_lines(const char *p, Py_ssize_t size, TakeLine take, void *ctx, Buf *back,
                                 Buf *back_text) {
    int64_t nrows = 0;
    Py_ssize_t pos = 0;
    for (;;) {
        const char *nl = memchr(p + pos, '\n', (size_t)(size - pos));
        Py_ssize_t end = nl ? (Py_ssize_t)(nl - p) : size;
        Py_ssize_t n = end - pos > 0 && p[end - 1] == '\r' ? end - pos - 1 : end - pos;
        if (!(nrows <= UINT32_MAX && end - pos < INT32_MAX / 2 && take(ctx, p + pos, n, (uint32_t)nrows))) {
            uint32_t r = (uint32_t)nrows;
            buf_put(back, (const char *)&r, sizeof r);
            buf_put(back_text, p + pos, (size_t)(end - pos));
            buf_put(back_text, "\n", 1);
        }
        nrows++;
        if (nl == NULL) break;
        pos = end + 1;
    }
    return nrows;
}

/* a nullable column being built: its values (utf8 bytes, or fixed-width numbers), utf8 offsets,
 * and the validity bitmap (bit k set: row k has a value) */
typedef struct {
    Buf data, offsets, valid;
    int64_t n, nulls;
} NCol;

/* a utf8 column starts with the offset 0 */
static inline void ncol_utf8_start(NCol *c) {
    int32_t z = 0;
    buf_put(&c->offsets, (const char *)&z, sizeof z);
}

/* the validity of the next row */
static inline void ncol_bit(NCol *c, int ok) {
    if ((c->n & 7) == 0) {
        char z = 0;
        col_put(&c->valid, &z, 1);
    }
    if (ok && !c->valid.failed) c->valid.data[c->n >> 3] |= (char)(1u << (c->n & 7));
    if (!ok) c->nulls++;
    c->n++;
}

/* the end of the next row's text (its bytes put before) */
static inline void ncol_utf8_end(NCol *c, int ok) {
    if (c->data.len > INT32_MAX) c->data.failed = 1;
    int32_t o = (int32_t)c->data.len;
    col_put(&c->offsets, &o, sizeof o);
    ncol_bit(c, ok);
}

/* the next row of a utf8 column: the `n` bytes at `p`, or null when `n` < 0 (a regex group that
 * took no part in the match, as polars' extract_groups gives it) */
static inline void ncol_utf8(NCol *c, const char *p, Py_ssize_t n) {
    if (n > 0) col_put(&c->data, p, (size_t)n);
    ncol_utf8_end(c, n >= 0);
}

/* the next row of a fixed-width column (`size` bytes at v; NULL: null) */
static inline void ncol_fixed(NCol *c, const void *v, size_t size) {
    static const char zero[8] = {0};
    col_put(&c->data, v != NULL ? v : zero, size);
    ncol_bit(c, v != NULL);
}

static inline int ncol_failed(const NCol *c) { return c->data.failed || c->offsets.failed || c->valid.failed; }

static inline void ncol_free(NCol *c) {
    free(c->data.data);
    free(c->offsets.data);
    free(c->valid.data);
}

/* the column as an Arrow child array (its buffers taken), `length` rows */
static inline struct ArrowArray *ncol_array(NCol *c, int utf8, int64_t length) {
    void *valid = buf_take(&c->valid);
    return utf8 ? child_array_nulls(length, c->nulls, valid, buf_take(&c->offsets), buf_take(&c->data))
                : child_array_nulls(length, c->nulls, valid, buf_take(&c->data), NULL);
}

/* a frame being built: a struct array ("+s") whose children are its columns */
typedef struct {
    struct ArrowSchema *schema;
    struct ArrowArray *array;
} Frame;

/* room for `n` columns of `length` rows; 0, or -1 with MemoryError set */
static inline int frame_new(Frame *f, int64_t length, int64_t n) {
    f->schema = calloc(1, sizeof *f->schema);
    f->array = calloc(1, sizeof *f->array);
    if (f->schema == NULL || f->array == NULL) { PyErr_NoMemory(); return -1; }
    f->schema->format = "+s";
    f->schema->name = dup_str("", 0);
    f->schema->release = schema_release;
    f->schema->children = calloc((size_t)n, sizeof *f->schema->children);
    f->array->length = length;
    f->array->n_buffers = 1;
    ArrPriv *top = calloc(1, sizeof *top);
    f->array->private_data = top;
    f->array->release = array_release;
    f->array->children = calloc((size_t)n, sizeof *f->array->children);
    if (f->schema->name == NULL || f->schema->children == NULL || top == NULL || f->array->children == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    f->array->buffers = top->bufs; /* validity: NULL */
    return 0;
}

/* A utf8 array (validity, int32 offsets, data) made a utf8 view array ("vu": validity, views,
 * the data, the data's length), in place: polars keeps its strings as views, and converting an
 * imported utf8 column to them was ~8 % of `diagnose` on 1M Envoy JSON lines (polars_compute's
 * binary_to_binview; BENCHMARKS.md stop 57).  A view (Arrow columnar format, "Variable-size
 * Binary View Layout") is the length (int32), then up to 12 bytes inline, or the first 4
 * bytes, the buffer's index (0) and the offset.  0, or -1 when out of memory (the array as it
 * was). */
static inline int utf8_to_view(struct ArrowArray *a) {
    ArrPriv *p = a->private_data;
    const int32_t *off = p->bufs[1];
    const char *data = p->bufs[2];
    int64_t n = a->length;
    char *views = malloc((size_t)(n > 0 ? n : 1) * 16);
    int64_t *sizes = malloc(sizeof *sizes);
    if (views == NULL || sizes == NULL) { free(views); free(sizes); return -1; }
    for (int64_t k = 0; k < n; k++) {
        char *v = views + 16 * k;
        int32_t len = off[k + 1] - off[k];
        memset(v, 0, 16);
        memcpy(v, &len, 4);
        if (len <= 12) {
            memcpy(v + 4, data + off[k], (size_t)len);
        } else {
            int32_t buffer = 0;
            memcpy(v + 4, data + off[k], 4);
            memcpy(v + 8, &buffer, 4);
            memcpy(v + 12, &off[k], 4);
        }
    }
    *sizes = off[n];
    free(p->mem[1]);
    p->bufs[1] = p->mem[1] = views;
    p->bufs[3] = p->mem[3] = sizes;
    a->n_buffers = 4;
    return 0;
}

/* the next column (`format` a static Arrow format string; `ca` taken, NULL when it could not
 * be made); 0, or -1 with MemoryError set.  A utf8 column ("u") goes as a utf8 view ("vu"). */
static inline int frame_add(Frame *f, const char *format, const char *name, int nullable, struct ArrowArray *ca) {
    if (ca != NULL && strcmp(format, "u") == 0 && ca->n_buffers == 3) {
        if (utf8_to_view(ca) != 0) { ca->release(ca); free(ca); ca = NULL; }
        else format = "vu";
    }
    struct ArrowSchema *cs = calloc(1, sizeof *cs);
    if (cs == NULL || ca == NULL) {
        free(cs);
        if (ca != NULL) { ca->release(ca); free(ca); }
        PyErr_NoMemory();
        return -1;
    }
    f->schema->children[f->schema->n_children++] = cs;
    cs->release = schema_child_release;
    cs->format = format;
    cs->name = dup_str(name, (Py_ssize_t)strlen(name));
    cs->flags = nullable ? 2 : 0; /* ARROW_FLAG_NULLABLE */
    f->array->children[f->array->n_children++] = ca;
    if (cs->name == NULL) { PyErr_NoMemory(); return -1; }
    return 0;
}

/* the frame handed to two capsules (which own it from then on); 0, or -1 with an error set */
static inline int frame_capsules(Frame *f, PyObject **sc, PyObject **ac) {
    *sc = PyCapsule_New(f->schema, "arrow_schema", capsule_schema_free);
    if (*sc == NULL) return -1;
    f->schema = NULL;
    *ac = PyCapsule_New(f->array, "arrow_array", capsule_array_free);
    if (*ac == NULL) { Py_CLEAR(*sc); return -1; }
    f->array = NULL;
    return 0;
}

/* the answer of a pass that hands lines back: (schema, array, lines, the rows handed back as
 * uint32 bytes, their text joined by newlines); the frame is the capsules' from then on; NULL
 * with an error set */
static inline PyObject *frame_result(Frame *f, int64_t lines, const Buf *rows, const Buf *text) {
    PyObject *sc, *ac;
    if (frame_capsules(f, &sc, &ac) != 0) return NULL;
    PyObject *rb = PyBytes_FromStringAndSize(rows->data ? rows->data : "", (Py_ssize_t)rows->len);
    PyObject *tb = PyBytes_FromStringAndSize(text->data ? text->data : "", (Py_ssize_t)text->len);
    if (rb == NULL || tb == NULL) {
        Py_DECREF(sc);
        Py_DECREF(ac);
        Py_XDECREF(rb);
        Py_XDECREF(tb);
        return NULL;
    }
    return Py_BuildValue("(NNLNN)", sc, ac, (long long)lines, rb, tb);
}

/* what is left of a frame no capsule took */
static inline void frame_free(Frame *f) {
    if (f->schema != NULL) { if (f->schema->release) f->schema->release(f->schema); free(f->schema); }
    if (f->array != NULL) { if (f->array->release) f->array->release(f->array); free(f->array); }
    f->schema = NULL;
    f->array = NULL;
}

/* a column of a pass's frame: its name and Arrow format ("u": utf8, its NCol started by
 * ncol_utf8_start; "I", "l", "g": fixed-width) */
typedef struct {
    const char *name;
    const char *format;
} ColSpec;

/* The body of a pass that hands lines back (the ALB and HAProxy passes): `take` (with `ctx`,
 * which counts the rows it takes in *taken) over the lines of `data` without the GIL, into the
 * `n` columns `cols` (utf8 ones started), then the frame of those rows with the lines handed
 * back: frame_result's answer, or NULL with an error set.  The columns are freed either way;
 * `data` stays the caller's. */
static inline PyObject *pass_result(const Py_buffer *data, TakeLine take, void *ctx, const int64_t *taken,
                                    NCol *cols, int n, const ColSpec *spec) {
    Buf back = {0}, back_text = {0};
    PyObject *out = NULL;
    Frame fr = {NULL, NULL};
    int64_t nrows = 0;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    nrows = scan_lines(data->buf, data->len, take, ctx, &back, &back_text);
    failed = back.failed || back_text.failed;
    for (int k = 0; k < n; k++) failed |= ncol_failed(&cols[k]);
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_NoMemory(); goto done; }
    if (nrows > UINT32_MAX) { PyErr_SetString(PyExc_ValueError, "block too long"); goto done; }
    if (frame_new(&fr, *taken, n) != 0) goto done;
    for (int k = 0; k < n; k++) {
        int utf8 = spec[k].format[0] == 'u';
        if (frame_add(&fr, spec[k].format, spec[k].name, cols[k].nulls > 0, ncol_array(&cols[k], utf8, *taken)) != 0)
            goto done;
    }
    out = frame_result(&fr, nrows, &back, &back_text);
done:
    frame_free(&fr);
    for (int k = 0; k < n; k++) ncol_free(&cols[k]);
    free(back.data);
    free(back_text.data);
    return out;
}

/* ---- a regex's captures as columns (the cut of a proxy's text format) ---------------------- */

/* one capture of a line: its bytes, or n = -1 when its group took no part in the match */
typedef struct {
    const char *p;
    Py_ssize_t n;
} Capture;

#define MAX_CAPTURES 16

/* a format's cut of one line (without its newline): 1 when the line matches as its reader's
 * regex would, its captures in caps[0..ncaps) */
typedef int (*CaptureLine)(const char *s, Py_ssize_t n, Capture *caps);

/* a taken line's captures counted elsewhere instead of written as columns (1), or not (0);
 * without the GIL */
typedef int (*CaptureCounted)(void *ctx, const Capture *caps, uint32_t row);

typedef struct {
    CaptureLine read;
    NCol *cols; /* idx, then one utf8 column per capture */
    int ncaps;
    int64_t taken;
    CaptureCounted counted; /* NULL: every taken line is written */
    void *counted_ctx;
} CaptureTaker;

/* scan_lines' TakeLine of capture_pass (without the GIL): a line is taken when `read`
 * matches it and every byte is printable ASCII (a regex's \S, \d and $ are Unicode in Rust's
 * regex: on ASCII they are the bytes a cut compares) */
static inline int capture_take(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    CaptureTaker *t = ctx;
    Capture caps[MAX_CAPTURES];
    if (!t->read(s, n, caps) || !printable(s, n)) return 0;
    if (t->counted != NULL && t->counted(t->counted_ctx, caps, row)) return 1;
    ncol_fixed(&t->cols[0], &row, sizeof row);
    for (int k = 0; k < t->ncaps; k++) ncol_utf8(&t->cols[k + 1], caps[k].p, caps[k].n);
    t->taken++;
    return 1;
}

/* The body of a pass `f(data) -> (schema, array, lines, rows handed back (uint32 bytes), their
 * text)`: the captures `names` (ncaps of them, at most MAX_CAPTURES) of the lines `read` takes as
 * columns after "idx", every other line handed back (frame_result's answer); NULL with an error
 * set. */
/* capture_columns on `data`, the lines `counted` counts left out of the columns (NULL: none) */
static inline PyObject *capture_pass(const Py_buffer *data, CaptureLine read, const char *const *names, int ncaps,
                                     CaptureCounted counted, void *counted_ctx) {
    if (ncaps > MAX_CAPTURES) { PyErr_SetString(PyExc_ValueError, "too many captures"); return NULL; }
    NCol cols[MAX_CAPTURES + 1];
    ColSpec spec[MAX_CAPTURES + 1];
    memset(cols, 0, sizeof cols);
    spec[0] = (ColSpec){"idx", "I"};
    for (int k = 0; k < ncaps; k++) {
        spec[k + 1] = (ColSpec){names[k], "u"};
        ncol_utf8_start(&cols[k + 1]);
    }
    CaptureTaker t = {read, cols, ncaps, 0, counted, counted_ctx};
    return pass_result(data, capture_take, &t, &t.taken, cols, ncaps + 1, spec);
}

static inline PyObject *capture_columns(PyObject *args, CaptureLine read, const char *const *names, int ncaps) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    PyObject *out = capture_pass(&data, read, names, ncaps, NULL, NULL);
    PyBuffer_Release(&data);
    return out;
}

#endif /* WHY502_ARROW_BUF_H */
