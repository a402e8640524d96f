/*
 * Groups of rows counted in C: an open-addressing table keyed by the exact bytes of a few
 * values (each part length-prefixed, so ("ab", "c") and ("a", "bc") differ; a null part has its
 * own prefix and no bytes), hashed with a per-process seed (the values are the log writer's
 * to choose: a Host header, a target: no fixed collisions), and the groups handed back as the
 * columns of a small Arrow frame (arrow_buf.h).
 *
 * Used by the folds of the native passes: nginx's access columns (proxies/nginx/_scan_fold.h)
 * and the load-balancer passes (parsers/lblogs/_albscan.c), which count there the rows whose
 * only use in the aggregation is to be counted by those values.  A table's count is uint32:
 * its owner hands the groups over before 2^32 rows.
 */
#ifndef WHY502_GROUP_TABLE_H
#define WHY502_GROUP_TABLE_H

#include "arrow_buf.h"

#define GT_NULL UINT32_MAX /* the length prefix of a null part */

typedef struct {
    uint64_t hash;
    size_t off;          /* the key in the arena */
    uint32_t len, count;
    uint32_t last_row;   /* the last row's number and a value of it (offset and length in data) */
    uint32_t last_len;
    uint32_t id;         /* the group's number: 0, 1, ... in the order groups were made */
    Py_ssize_t last_at;
} FoldGroup;

typedef struct {
    FoldGroup *slots;
    size_t cap, used;
    Buf arena, key;
    int failed;
    FoldGroup *last; /* the group of the last row: a log's next row often has the same key */
} GroupTable;

static uint64_t fold_seed = 0x9e3779b97f4a7c15ULL;

/* the last 0-7 bytes of a key as a word: a key of 8 bytes or more reads its last eight, which
 * overlap bytes already read (the same for the same key, the length in the seed), one load
 * instead of a variable-length copy that compilers turn into a byte loop (the lookups of nginx's
 * fold, _scan_fold.h, are ~18 % of its C pass; this and same_bytes took the pass 3-5 %:
 * BENCHMARKS.md stop 69) */
static inline uint64_t tail_word(const char *p, size_t n, size_t whole) {
    uint64_t w = 0;
    if (n == 0) return 0;
    if (whole >= 8) {
        memcpy(&w, p + n - 8, 8);
        return w;
    }
    memcpy(&w, p, n);
    return w;
}

static inline uint64_t fold_hash(const char *p, size_t n) {
    size_t whole = n;
    uint64_t h = fold_seed ^ (n * 0xff51afd7ed558ccdULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9fb21c651e98df25ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    h = (h ^ tail_word(p, n, whole)) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 32);
}

/* the key being built: parts appended length-prefixed */
static inline void gt_part(GroupTable *t, const char *v, Py_ssize_t n) {
    uint32_t len = (uint32_t)n;
    col_put(&t->key, &len, sizeof len);
    col_put(&t->key, v, (size_t)n);
}

static inline int gt_grow(GroupTable *t) {
    size_t cap = t->cap ? t->cap * 2 : 1024;
    FoldGroup *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) return -1;
    for (size_t k = 0; k < t->cap; k++) {
        FoldGroup *g = &t->slots[k];
        if (g->len == 0) continue;
        size_t i = (size_t)g->hash & (cap - 1);
        while (slots[i].len != 0) i = (i + 1) & (cap - 1);
        slots[i] = *g;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->last = NULL;
    return 0;
}

/* the built key's hash, its slot fetched into the cache ahead of gt_count_hashed: an owner with
 * several tables hashes each row's keys first, so their slots -- of tables far bigger than the
 * cache, the loads most of a lookup's time -- are fetched at once (BENCHMARKS.md stop 60) */
static inline uint64_t gt_prefetch(const GroupTable *t) {
    uint64_t h = fold_hash(t->key.data, t->key.len);
    if (t->cap > 0) __builtin_prefetch(&t->slots[(size_t)h & (t->cap - 1)]);
    return h;
}

static inline int64_t gt_count_hashed(GroupTable *t, uint32_t row, Py_ssize_t at, Py_ssize_t n, int hashed,
                                      uint64_t hash);

/* the built key counted once more, row `row` its last (with a value at data[at, at + n)); the
 * group's number (FoldGroup.id: its owner's side tables are indexed by it), or -1 when out of
 * memory (the table is `failed` from then on) */
static inline int64_t gt_count(GroupTable *t, uint32_t row, Py_ssize_t at, Py_ssize_t n) {
    return gt_count_hashed(t, row, at, n, 0, 0);
}

/* gt_count, the key's hash given when `hashed` (gt_prefetch's) */
static inline int64_t gt_count_hashed(GroupTable *t, uint32_t row, Py_ssize_t at, Py_ssize_t n, int hashed,
                                      uint64_t hash) {
    int64_t id = -1;
    if (t->failed || t->key.failed || t->used >= UINT32_MAX) { t->failed = 1; t->key.len = 0; return -1; }
    if ((t->used + 1) * 2 > t->cap && gt_grow(t) != 0) { t->failed = 1; t->key.len = 0; return -1; }
    const char *k = t->key.data;
    size_t len = t->key.len; /* >= 4: every key has a part */
    FoldGroup *g = t->last;
    if (g != NULL && g->len == len && same_bytes(t->arena.data + g->off, k, (Py_ssize_t)len)) {
        g->count++;
        g->last_row = row;
        g->last_at = at;
        g->last_len = (uint32_t)n;
        t->key.len = 0;
        return g->id;
    }
    uint64_t h = hashed ? hash : fold_hash(k, len);
    size_t i = (size_t)h & (t->cap - 1);
    for (;;) {
        g = &t->slots[i];
        if (g->len == 0) {
            size_t off = t->arena.len;
            buf_put(&t->arena, k, len);
            if (t->arena.failed || len > UINT32_MAX) { t->failed = 1; break; }
            g->hash = h;
            g->off = off;
            g->len = (uint32_t)len;
            g->count = 1;
            g->last_row = row;
            g->last_at = at;
            g->last_len = (uint32_t)n;
            g->id = (uint32_t)t->used;
            id = g->id;
            t->used++;
            break;
        }
        if (g->hash == h && g->len == len && same_bytes(t->arena.data + g->off, k, (Py_ssize_t)len)) {
            g->count++;
            g->last_row = row;
            g->last_at = at;
            g->last_len = (uint32_t)n;
            id = g->id;
            break;
        }
        i = (i + 1) & (t->cap - 1);
    }
    t->last = id >= 0 ? g : NULL;
    t->key.len = 0;
    return id;
}

static inline void gt_free(GroupTable *t) {
    free(t->slots);
    free(t->arena.data);
    free(t->key.data);
    memset(t, 0, sizeof *t);
}

/* the table's groups by their number (FoldGroup.id), i.e. in the order they were first counted
 * (a dict filled line by line had them in that order): a malloc'd array of t->used groups, which
 * the caller frees; NULL when the table is empty or out of memory (t->used says which) */
static inline const FoldGroup **gt_in_order(const GroupTable *t) {
    const FoldGroup **by_id = t->used ? malloc(t->used * sizeof *by_id) : NULL;
    if (by_id == NULL) return NULL;
    for (size_t k = 0; k < t->cap; k++)
        if (t->slots[k].len != 0) by_id[t->slots[k].id] = &t->slots[k];
    return by_id;
}

/* the k-th part of a group's key */
static inline const char *gt_key_part(const GroupTable *t, const FoldGroup *g, int k, uint32_t *n) {
    const char *p = t->arena.data + g->off;
    for (;;) {
        uint32_t len;
        memcpy(&len, p, sizeof len);
        if (k-- == 0) { *n = len; return p + sizeof len; }
        p += sizeof len + (len == GT_NULL ? 0 : len);
    }
}

/* what: 'c' the counts (uint32), 'r' the last rows (uint32), 's' the key part k as an int16 */
static inline struct ArrowArray *gt_fixed(const GroupTable *t, char what, int k) {
    Buf b = {0};
    for (size_t s = 0; s < t->cap; s++) {
        const FoldGroup *g = &t->slots[s];
        if (g->len == 0) continue;
        if (what == 's') {
            uint32_t n;
            const char *v = gt_key_part(t, g, k, &n);
            buf_put(&b, v, sizeof(int16_t));
        } else {
            uint32_t x = what == 'c' ? g->count : g->last_row;
            buf_put(&b, (const char *)&x, sizeof x);
        }
    }
    if (b.failed) { free(b.data); return NULL; }
    return child_array((int64_t)t->used, buf_take(&b), NULL);
}

/* the last rows' values (data[last_at, last_at + last_len)) as utf8 */
static inline struct ArrowArray *gt_last_values(const GroupTable *t, const char *data) {
    Buf off = {0}, text = {0};
    int32_t o = 0;
    buf_put(&off, (const char *)&o, sizeof o);
    for (size_t s = 0; s < t->cap; s++) {
        const FoldGroup *g = &t->slots[s];
        if (g->len == 0) continue;
        buf_put(&text, data + g->last_at, g->last_len);
        if (text.len > INT32_MAX) text.failed = 1;
        o = (int32_t)text.len;
        buf_put(&off, (const char *)&o, sizeof o);
    }
    if (off.failed || text.failed) { free(off.data); free(text.data); return NULL; }
    return child_array((int64_t)t->used, buf_take(&off), buf_take(&text));
}

/* a null key part */
static inline void gt_null(GroupTable *t) {
    uint32_t len = GT_NULL;
    col_put(&t->key, &len, sizeof len);
}

/* a fixed-width key part (an int64 or a double: its bytes), or null */
static inline void gt_fixed_part(GroupTable *t, const void *v, size_t size) {
    if (v == NULL) gt_null(t);
    else gt_part(t, v, (Py_ssize_t)size);
}

/* the number of groups counted (each group's count summed) */
static inline int64_t gt_rows(const GroupTable *t) {
    int64_t n = 0;
    for (size_t s = 0; s < t->cap; s++)
        if (t->slots[s].len != 0) n += t->slots[s].count;
    return n;
}

/* the k-th key part of every group as a nullable column: format "u" (utf8), "l" (int64) or "g"
 * (double); NULL when out of memory */
static inline struct ArrowArray *gt_nullable(const GroupTable *t, int k, char format) {
    NCol c;
    memset(&c, 0, sizeof c);
    if (format == 'u') ncol_utf8_start(&c);
    for (size_t s = 0; s < t->cap; s++) {
        const FoldGroup *g = &t->slots[s];
        if (g->len == 0) continue;
        uint32_t n;
        const char *v = gt_key_part(t, g, k, &n);
        if (format == 'u') {
            if (n != GT_NULL) col_put(&c.data, v, n);
            ncol_utf8_end(&c, n != GT_NULL);
        } else {
            ncol_fixed(&c, n == GT_NULL ? NULL : v, 8);
        }
    }
    if (ncol_failed(&c)) { ncol_free(&c); return NULL; }
    return ncol_array(&c, format == 'u', (int64_t)t->used);
}

/* parts 0 .. nparts-1 of every group as nullable columns added to `fr` (formats[k] "u", "l" or
 * "g", named names[k]), each group's key read once for all of them.  gt_nullable, a column at a
 * time, fetched every group's key from the arena once per column, in the slots' (the hash's)
 * order: for a table bigger than the cache a miss per group and column (Cloudflare's per-target
 * table, ~126k groups of 16 parts a take: most of json_fold_take, BENCHMARKS.md stop 64).  The
 * rows are in the slots' order, as every column of a table here.  0, or -1 with an error set
 * (the columns not added released). */
#define GT_MAX_PARTS 32
static inline int gt_add_parts(Frame *fr, const GroupTable *t, int nparts, const char *const *formats,
                               const char *const *names) {
    NCol c[GT_MAX_PARTS];
    if (nparts > GT_MAX_PARTS) { PyErr_SetString(PyExc_ValueError, "too many key parts"); return -1; }
    memset(c, 0, sizeof c);
    for (int k = 0; k < nparts; k++)
        if (formats[k][0] == 'u') ncol_utf8_start(&c[k]);
    for (size_t s = 0; s < t->cap; s++) {
        const FoldGroup *g = &t->slots[s];
        if (g->len == 0) continue;
        const char *p = t->arena.data + g->off;
        for (int k = 0; k < nparts; k++) {
            uint32_t n;
            memcpy(&n, p, sizeof n);
            p += sizeof n;
            if (formats[k][0] == 'u') {
                if (n != GT_NULL) col_put(&c[k].data, p, n);
                ncol_utf8_end(&c[k], n != GT_NULL);
            } else {
                ncol_fixed(&c[k], n == GT_NULL ? NULL : p, 8);
            }
            if (n != GT_NULL) p += n;
        }
    }
    int failed = 0;
    for (int k = 0; k < nparts; k++) failed |= ncol_failed(&c[k]);
    int k = 0;
    for (; !failed && k < nparts; k++)
        if (frame_add(fr, formats[k], names[k], 1, ncol_array(&c[k], formats[k][0] == 'u', (int64_t)t->used)) != 0) {
            k++;
            failed = 1;
            break;
        }
    for (; k < nparts; k++) ncol_free(&c[k]); /* the columns not added */
    if (failed && !PyErr_Occurred()) PyErr_NoMemory();
    return failed ? -1 : 0;
}

/* the counts of every group as an int64 column */
static inline struct ArrowArray *gt_counts64(const GroupTable *t) {
    Buf b = {0};
    for (size_t s = 0; s < t->cap; s++) {
        const FoldGroup *g = &t->slots[s];
        if (g->len == 0) continue;
        int64_t x = g->count;
        buf_put(&b, (const char *)&x, sizeof x);
    }
    if (b.failed) { free(b.data); return NULL; }
    return child_array((int64_t)t->used, buf_take(&b), NULL);
}

/* one table as a frame's capsules: its key parts (names[k], formats[k] "u", "l" or "g",
 * nullable), then its counts as "n" (int64); 0, or -1 with an error set */
static inline int gt_frame(const GroupTable *t, int nparts, const char *const *names, const char *const *formats,
                    PyObject **sc, PyObject **ac) {
    Frame fr = {NULL, NULL};
    int rc = -1;
    if (frame_new(&fr, (int64_t)t->used, nparts + 1) != 0) goto out;
    if (gt_add_parts(&fr, t, nparts, formats, names) != 0) goto out;
    if (frame_add(&fr, "l", "n", 0, gt_counts64(t)) != 0) goto out;
    rc = frame_capsules(&fr, sc, ac);
out:
    frame_free(&fr);
    return rc;
}

/* --- each group's least and greatest time ---------------------------------------------------
 * A fold that keeps the first and last time of its groups (the failures' codes) keeps them in a
 * side table of fixed slots, by the group's number (FoldGroup.id): a row whose time is longer
 * than GT_TIME_MAX bytes is not counted (its owner hands it over as a row).  Times compare as
 * polars orders strings: bytewise, a prefix first. */

#define GT_TIME_MAX 48

typedef struct {
    uint8_t lo_n, hi_n;
    char lo[GT_TIME_MAX], hi[GT_TIME_MAX];
} GtRange;

static inline int gt_less(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c < 0 || (c == 0 && an < bn);
}

/* group `id`'s range (in `ranges`) widened by the time s[0, n), n <= GT_TIME_MAX: the range of
 * a group just made (id == its number of ranges) starts there; `ranges->failed` when out of
 * memory */
static inline void gt_range(Buf *ranges, int64_t id, const char *s, size_t n) {
    size_t at = (size_t)id * sizeof(GtRange);
    if (at == ranges->len) {
        GtRange r;
        memset(&r, 0, sizeof r);
        r.lo_n = r.hi_n = (uint8_t)n;
        memcpy(r.lo, s, n);
        memcpy(r.hi, s, n);
        buf_put(ranges, (const char *)&r, sizeof r);
    } else if (at < ranges->len) {
        GtRange *r = (GtRange *)ranges->data + id;
        if (gt_less(s, n, r->lo, r->lo_n)) { memcpy(r->lo, s, n); r->lo_n = (uint8_t)n; }
        if (gt_less(r->hi, r->hi_n, s, n)) { memcpy(r->hi, s, n); r->hi_n = (uint8_t)n; }
    }
}

/* the least (hi 0) or greatest (hi 1) time of every group as a utf8 column; NULL when out of
 * memory */
static inline struct ArrowArray *gt_range_column(const GroupTable *t, const Buf *ranges, int hi) {
    const GtRange *rs = (const GtRange *)ranges->data;
    NCol c;
    memset(&c, 0, sizeof c);
    ncol_utf8_start(&c);
    for (size_t s = 0; s < t->cap; s++) {
        const FoldGroup *g = &t->slots[s];
        if (g->len == 0) continue;
        const GtRange *r = &rs[g->id];
        col_put(&c.data, hi ? r->hi : r->lo, hi ? r->hi_n : r->lo_n);
        ncol_utf8_end(&c, 1);
    }
    if (ncol_failed(&c)) { ncol_free(&c); return NULL; }
    return ncol_array(&c, 1, (int64_t)t->used);
}

/* --- a fold's block --------------------------------------------------------------------------
 * A text fold's `*_fold_block(fold, data)`: the lines of data[0, len) offered to `take(ctx)`
 * without the GIL, the fold marked `busy` meanwhile; `failed(ctx)`: its tables ran out of memory.
 * Returns (rows handed back (uint32 bytes), their text (each line and a newline), rows counted:
 * what `*rows` grew by), or NULL with an error set. */
static inline PyObject *fold_scan(const Py_buffer *data, Py_ssize_t len, TakeLine take, void *ctx, int *busy,
                                  const int64_t *rows, int (*failed)(const void *ctx)) {
    Buf back = {0}, back_text = {0};
    PyObject *out = NULL;
    int64_t nrows = 0, before = *rows;
    int bad = 0;
    *busy = 1;
    Py_BEGIN_ALLOW_THREADS
    nrows = scan_lines(data->buf, len, take, ctx, &back, &back_text);
    bad = back.failed || back_text.failed || failed(ctx);
    Py_END_ALLOW_THREADS
    *busy = 0;
    if (bad) PyErr_NoMemory();
    else if (nrows > UINT32_MAX) PyErr_SetString(PyExc_ValueError, "block too long");
    else out = Py_BuildValue("(y#y#L)", back.data ? back.data : "", (Py_ssize_t)back.len,
                             back_text.data ? back_text.data : "", (Py_ssize_t)back_text.len,
                             (long long)(*rows - before));
    free(back.data);
    free(back_text.data);
    return out;
}

#endif /* WHY502_GROUP_TABLE_H */
