/*
 * access_columns(): the split and parse of `why502 stats`' access-log reader (Python side:
 * evidence/stats/parser.py, LineParser._native_program and LineParser._fast_out), one native
 * pass per line of a block, no polars string operation per line.
 *
 * The program is LineParser's own plan of the format's pieces between quotes (its _Segment list,
 * compiled by _native_program): per piece, take it whole, check it is there, compare it with a
 * literal, or slice a value out of it at fixed offsets or up to a stop byte, exactly as the
 * polars expressions of LineParser._build_exprs do, and check the shapes of _shape_ok (status,
 * $time_local, the upstream timings).  A line is taken only when polars' fast split would take
 * it with the same values: printable ASCII only (so a byte is a character and no UTF-8 question
 * arises; nginx's default escaping writes every other byte as \xHH, ngx_http_log_escape()),
 * exactly the format's number of quotes, every check passed.  Any other line -- a blank one, a
 * \r, a quote inside a value, a shape in doubt -- is handed back untouched (its row number and
 * its bytes) for the polars path, which decides it as before; so the taken rows are a subset of
 * what polars would take, with the same values.
 *
 * The columns come back through the Arrow C data interface (a struct array of _row uint32, then
 * each field utf8 or int16) that polars imports as one frame (pl.DataFrame(obj) with
 * __arrow_c_array__): one copy per column in polars' Rust, none per row in Python.  The scan
 * runs without the GIL (plain malloc buffers), so two reader threads parse side by side.
 */

enum { COP_SINGLE = 0, COP_ANCHOR = 1, COP_LIT = 2, COP_PRE = 3, COP_SUF = 4, COP_WHOLE = 5, COP_CUT = 6 };
enum { CHK_NONE = 0, CHK_STATUS_I16 = 1, CHK_STATUS_STR = 2, CHK_TIME_LOCAL = 3, CHK_TIMES = 4 };
#define COL_MAX_PIECES 64
#define COL_MAX_FIELDS 32

typedef struct {
    int piece, op, out, pre, suf, width, stop, check;
    const char *lit;
    Py_ssize_t len;
} ColStep;

/* one output column: utf8 (offsets + bytes) or int16 */
typedef struct {
    int is_i16;
    Buf data;      /* utf8 bytes or int16 values */
    Buf offsets;   /* int32 offsets (utf8 only) */
} Col;

static int col_check(int check, const char *v, Py_ssize_t n, int *i16) {
    switch (check) {
    case CHK_NONE:
        return 1;
    case CHK_STATUS_I16:
    case CHK_STATUS_STR: { /* cast(pl.Int16) not null: here only 1-4 digits are taken */
        if (n < 1 || n > 4) return 0;
        int x = 0;
        for (Py_ssize_t k = 0; k < n; k++) {
            if (!is_digit(v[k])) return 0;
            x = x * 10 + (v[k] - '0');
        }
        *i16 = x;
        return 1;
    }
    case CHK_TIME_LOCAL: { /* parser._shape_ok("time_local"): [2] "/", [11] ":", year, month */
        static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        if (n < 12 || v[2] != '/' || v[11] != ':') return 0;
        int y = 0;
        for (int k = 7; k < 11; k++) {
            if (!is_digit(v[k])) return 0;
            y = y * 10 + (v[k] - '0');
        }
        if (y < 1970 || y >= 9999) return 0;
        for (int m = 0; m < 12; m++)
            if (memcmp(v + 3, months + 3 * m, 3) == 0) return 1;
        return 0;
    }
    case CHK_TIMES: /* not [^0-9., :\r-]|-[0-9] */
        for (Py_ssize_t k = 0; k < n; k++) {
            char c = v[k];
            if (!(is_digit(c) || c == '.' || c == ',' || c == ' ' || c == ':' || c == '-')) return 0;
            if (c == '-' && k + 1 < n && is_digit(v[k + 1])) return 0;
        }
        return 1;
    }
    return 0;
}

/* The line at p[pos] split at its quotes in one pass, eight bytes at a time: its end (its
 * newline, or size), the pieces' bounds (ps/pe, *np of them; a quote past npieces - 1 leaves
 * them as they were), and *ok: every byte printable ASCII and no quote past npieces - 1 --
 * what the memchr for the newline, printable() and a memchr per quote said before.  Each word
 * gets an exact mask of its quotes and of its bytes outside 0x20-0x7e (a newline is one; the
 * sums below never carry from one byte into the next: each adds at most 0x7f to a byte below
 * 0x80), and only the flagged bytes are looked at, lowest first.  With SSE2 (every x86-64),
 * sixteen bytes at a time by the same three tests.  A line's \r before its newline (a log written
 * or copied on Windows) ends its last piece, as the polars path reads it (``rstrip("\r")``):
 * such a line went back to polars whole, and a CRLF log was read at half the speed. */
static inline Py_ssize_t split_quoted(const char *p, Py_ssize_t pos, Py_ssize_t size, int npieces, Py_ssize_t *ps,
                                      Py_ssize_t *pe, int *ok, int *np) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL, low7 = 0x7f7f7f7f7f7f7f7fULL;
    Py_ssize_t k = pos, end = size;
    int n = 1, good = 1, cr = 0;
    ps[0] = pos;
    for (;;) {
        uint64_t flags;
        int shift = 3, step = 8; /* flags: a byte's high bit (>> 3 to its place), eight bytes */
#if defined(__SSE2__)
        if (k + 16 <= size) { /* sixteen bytes, one bit a byte (signed: 0x80-0xff are below 0x20) */
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
                                                  _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f))),
                                     _mm_cmpeq_epi8(x, _mm_set1_epi8('"')));
            flags = (uint64_t)(unsigned)_mm_movemask_epi8(m);
            shift = 0;
            step = 16;
        } else
#endif
        if (k + 8 <= size) {
            uint64_t w;
            memcpy(&w, p + k, 8);
            uint64_t lo = w & low7, z = w ^ (0x22 * ones);
            uint64_t below = ~(lo + 0x60 * ones) & ~w;      /* < 0x20 */
            uint64_t del = (lo + ones) & ~w;                 /* 0x7f */
            uint64_t quote = ~(((z & low7) + low7) | z);     /* 0x22 */
            flags = (w | below | del | quote) & high;
        } else if (k < size) { /* the tail, byte by byte: every byte flagged */
            flags = 0;
            for (Py_ssize_t j = 0; j < size - k; j++) flags |= (uint64_t)0x80 << (8 * j);
        } else {
            break;
        }
        while (flags) {
            Py_ssize_t at = k + (Py_ssize_t)(__builtin_ctzll(flags) >> shift);
            flags &= flags - 1;
            unsigned char c = (unsigned char)p[at];
            if (c == '\n') { end = at; goto found; }
            if (c == '\r' && at > pos && at + 1 < size && p[at + 1] == '\n') { /* CRLF: the \r is no value's */
                end = at + 1;
                cr = 1;
                goto found;
            }
            if (c == '"') {
                if (n == npieces) { good = 0; k = at; goto bad; }
                pe[n - 1] = at;
                ps[n++] = at + 1;
            } else if (c < 0x20 || c > 0x7e) {
                good = 0;
                k = at;
                goto bad;
            }
        }
        k += step;
    }
    goto found;
bad: { /* decided: only the end is still wanted */
        const char *nl = memchr(p + k, '\n', (size_t)(size - k));
        end = nl ? (Py_ssize_t)(nl - p) : size;
    }
found:
    pe[n - 1] = end - cr;
    *ok = good;
    *np = n;
    return end;
}

static PyObject *access_columns(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    PyObject *program, *fields, *fold_arg = Py_None, *att_names = NULL;
    int npieces;
    if (!PyArg_ParseTuple(args, "y*iO!O!|O", &data, &npieces, &PyTuple_Type, &program, &PyTuple_Type, &fields,
                          &fold_arg))
        return NULL;
    FoldSpec spec;
    Fold fold;
    memset(&fold, 0, sizeof fold);
    ColStep steps[COL_MAX_PIECES * 4];
    Col cols[COL_MAX_FIELDS];
    char *names[COL_MAX_FIELDS];
    Buf rows = {0}, rej = {0}, rejrows = {0};
    Py_ssize_t nsteps = PyTuple_GET_SIZE(program), nf = PyTuple_GET_SIZE(fields);
    PyObject *out = NULL;
    Frame fr = {NULL, NULL};
    memset(cols, 0, sizeof cols);
    memset(names, 0, sizeof names);
    if (fold_spec(fold_arg, nf, &spec, &att_names) != 0) goto done;
    if (npieces < 1 || npieces > COL_MAX_PIECES || nsteps > COL_MAX_PIECES * 4 || nf > COL_MAX_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "program too long");
        goto done;
    }
    for (Py_ssize_t k = 0; k < nf; k++) {
        const char *name;
        Py_ssize_t nlen;
        PyObject *t = PyTuple_GET_ITEM(fields, k);
        if (!PyTuple_Check(t) || !PyArg_ParseTuple(t, "y#p", &name, &nlen, &cols[k].is_i16)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a field is (name, is_int16)");
            goto done;
        }
        names[k] = dup_str(name, nlen);
        if (names[k] == NULL) { PyErr_NoMemory(); goto done; }
    }
    for (Py_ssize_t k = 0; k < nsteps; k++) {
        PyObject *t = PyTuple_GET_ITEM(program, k);
        ColStep *s = &steps[k];
        const char *lit;
        if (!PyTuple_Check(t) || !PyArg_ParseTuple(t, "iiiiiiiiy#", &s->piece, &s->op, &s->out, &s->pre, &s->suf,
                                                   &s->width, &s->stop, &s->check, &lit, &s->len)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a step is (piece, op, out, pre, suf, width, stop, check, literal)");
            goto done;
        }
        s->lit = lit;
        if (s->piece < 0 || s->piece >= npieces || s->out >= nf || s->pre < 0 || s->suf < 0 || s->width < 0
            || s->op < COP_SINGLE || s->op > COP_CUT) {
            PyErr_SetString(PyExc_ValueError, "bad step");
            goto done;
        }
    }
    int64_t nrows = 0, taken = 0, failed = 0;
    Py_BEGIN_ALLOW_THREADS
    const char *p = data.buf;
    Py_ssize_t size = data.len, pos = 0;
    Py_ssize_t ps[COL_MAX_PIECES], pe[COL_MAX_PIECES];
    const char *vp[COL_MAX_FIELDS];
    Py_ssize_t vn[COL_MAX_FIELDS];
    int vi[COL_MAX_FIELDS];
    /* the offsets start at 0 */
    for (Py_ssize_t f = 0; f < nf; f++) {
        if (!cols[f].is_i16) {
            int32_t z = 0;
            buf_put(&cols[f].offsets, (const char *)&z, sizeof z);
        }
    }
    while (pos < size) {
        int ok, np;
        Py_ssize_t end = split_quoted(p, pos, size, npieces, ps, pe, &ok, &np);
        Py_ssize_t next = end < size ? end + 1 : size;
        ok = ok && end > pos && end - pos < INT32_MAX / 2;
        if (np != npieces) ok = 0;
        for (Py_ssize_t k = 0; k < nsteps && ok; k++) {
            const ColStep *s = &steps[k];
            const char *a = p + ps[s->piece];
            Py_ssize_t n = pe[s->piece] - ps[s->piece];
            const char *v = a;
            Py_ssize_t vl = n;
            switch (s->op) {
            case COP_SINGLE: break;
            case COP_ANCHOR: ok = n > 0; break;
            case COP_LIT: ok = n == s->len && same_bytes(a, s->lit, n); break;
            case COP_PRE:
                if (n < s->pre + s->width) ok = 0;
                else { v = a + s->pre; vl = s->width; }
                break;
            case COP_SUF:
                if (n < s->suf + s->width) ok = 0;
                else { v = a + n - s->suf - s->width; vl = s->width; }
                break;
            case COP_WHOLE: ok = n > 0; break;
            case COP_CUT:
                if (n == 0 || n < s->pre) ok = 0;
                else {
                    v = a + s->pre;
                    vl = n - s->pre;
                    if (s->stop >= 0) {
                        const char *q = memchr(v, s->stop, (size_t)vl);
                        if (q != NULL) vl = q - v;
                    }
                }
                break;
            }
            if (ok && s->out >= 0) {
                vi[s->out] = 0;
                ok = col_check(s->check, v, vl, &vi[s->out]);
                vp[s->out] = v;
                vn[s->out] = vl;
            }
        }
        if (ok && spec.on && fold_row(&spec, &fold, p, vp, vn, vi, (uint32_t)nrows)) {
            /* counted in the fold's groups (_scan_fold.h) */
        } else if (ok) {
            uint32_t r = (uint32_t)nrows;
            col_put(&rows, &r, sizeof r);
            for (Py_ssize_t f = 0; f < nf; f++) {
                Col *c = &cols[f];
                if (c->is_i16) {
                    int16_t x = (int16_t)vi[f];
                    col_put(&c->data, &x, sizeof x);
                } else {
                    col_put(&c->data, vp[f], (size_t)vn[f]);
                    if (c->data.len > INT32_MAX) c->data.failed = 1;
                    int32_t o = (int32_t)c->data.len;
                    col_put(&c->offsets, &o, sizeof o);
                }
            }
            taken++;
        } else {
            uint32_t r = (uint32_t)nrows;
            buf_put(&rejrows, (const char *)&r, sizeof r);
            buf_put(&rej, p + pos, (size_t)(end - pos));
            buf_put(&rej, "\n", 1);
        }
        nrows++;
        pos = next;
    }
    failed = rows.failed || rej.failed || rejrows.failed;
    for (Py_ssize_t f = 0; f < nf; f++) failed |= cols[f].data.failed || cols[f].offsets.failed;
    failed |= fold_failed(&fold);
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_NoMemory(); goto done; }
    if (nrows > UINT32_MAX) { PyErr_SetString(PyExc_ValueError, "block too long"); goto done; }

    /* the frame: a struct array (_row, fields...) */
    if (frame_new(&fr, taken, nf + 1) != 0
        || frame_add(&fr, "I", "_row", 0, child_array(taken, buf_take(&rows), NULL)) != 0)
        goto done;
    for (Py_ssize_t f = 0; f < nf; f++) {
        Col *c = &cols[f];
        int added = c->is_i16
            ? frame_add(&fr, "s", names[f], 0, child_array(taken, buf_take(&c->data), NULL))
            : frame_add(&fr, "u", names[f], 0, child_array(taken, buf_take(&c->offsets), buf_take(&c->data)));
        if (added != 0) goto done;
    }
    out = frame_result(&fr, nrows, &rejrows, &rej);
    if (out != NULL && spec.on) {
        PyObject *folded = fold_result(&fold, data.buf, att_names);
        PyObject *both = folded == NULL ? NULL : PyTuple_Pack(6, PyTuple_GET_ITEM(out, 0), PyTuple_GET_ITEM(out, 1),
                                                              PyTuple_GET_ITEM(out, 2), PyTuple_GET_ITEM(out, 3),
                                                              PyTuple_GET_ITEM(out, 4), folded);
        Py_XDECREF(folded);
        Py_SETREF(out, both);
    }
done:
    fold_free(&fold);
    frame_free(&fr);
    for (Py_ssize_t f = 0; f < COL_MAX_FIELDS; f++) {
        free(cols[f].data.data);
        free(cols[f].offsets.data);
        free(names[f]);
    }
    free(rows.data);
    free(rej.data);
    free(rejrows.data);
    PyBuffer_Release(&data);
    return out;
}
