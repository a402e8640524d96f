/*
 * The fold of access_columns() (_scan_columns.h): the rows `why502 stats` and `diagnose` only
 * count, counted here instead of handed over as columns (issue 28 item 4).
 *
 * The aggregation of a chunk (Python: evidence/stats/reduce.py, Reducer._aggregate) reads most
 * rows for four things only: the request count, the timeline (rows per minute key, status and
 * host), the upstream attempts (rows per distinct $upstream_addr/_status/_*_time strings; their
 * views are made from those groups) and the last answered request per upstream.  A row that is
 * no 5xx and made one attempt at most feeds nothing else (the 5xx rows are kept one by one for
 * the error-log join; retried and redirected rows are split per attempt), so such a row is
 * grouped here by those same strings, with the same meanings as the polars expressions of
 * RowPlan.typed and Reducer._aggregate:
 *
 *   - five: status >= 500 (the status cast to Int16: the 1-4 digits the scan checked);
 *   - the minute key: the time value's first `minute` bytes (minute_expr: str.slice(0, 17) of
 *     $time_local; "" for a format without a time);
 *   - has_up: $upstream_addr neither "-" nor "" (nor missing); a row with ", " or " : " in it
 *     (several attempts, `_many`) is never folded;
 *   - answered (`_ok_time`): has_up, below 500, not 444/499, and a time in the format; the
 *     row number and time of the last such row per $upstream_addr.
 *
 * Every other row goes out as columns, as before, and Python concatenates the groups with its
 * own; the totals are the same whichever side counted a row (tests/stats/test_stats_fold.py).
 * Groups live in open-addressing tables keyed by the length-prefixed key bytes, hashed with a
 * per-process seed (a log's Host header is the client's to choose: no fixed collisions).
 */

enum { FOLD_STATUS = 0, FOLD_TIME = 1, FOLD_HOST = 2, FOLD_UA = 3, FOLD_ROLES = 4 };
#define FOLD_MAX_ATT 5

typedef struct {
    int on;
    int role[FOLD_ROLES];       /* output field of each role, or -1 */
    int minute;                 /* bytes of the time that make the minute key */
    int natt;                   /* the attempt key: these output fields, in this order */
    int att[FOLD_MAX_ATT];
} FoldSpec;

typedef struct {
    uint64_t hash;
    size_t off;          /* the key in the arena */
    uint32_t len, count;
    uint32_t last_row;   /* the last row's number and a value of it (offset and length in data) */
    uint32_t last_len;
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

static inline uint64_t fold_hash(const char *p, size_t n) {
    uint64_t h = fold_seed ^ (n * 0xff51afd7ed558ccdULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9fb21c651e98df25ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 32);
}

/* the key being built: parts appended length-prefixed */
static inline void gt_part(GroupTable *t, const char *v, Py_ssize_t n) {
    uint32_t len = (uint32_t)n;
    col_put(&t->key, &len, sizeof len);
    col_put(&t->key, v, (size_t)n);
}

static int gt_grow(GroupTable *t) {
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

/* the built key counted once more, row `row` its last (with a value at data[at, at + n)) */
static void gt_count(GroupTable *t, uint32_t row, Py_ssize_t at, Py_ssize_t n) {
    if (t->failed || t->key.failed) { t->failed = 1; t->key.len = 0; return; }
    if ((t->used + 1) * 2 > t->cap && gt_grow(t) != 0) { t->failed = 1; t->key.len = 0; return; }
    const char *k = t->key.data;
    size_t len = t->key.len; /* >= 4: every key has a part */
    FoldGroup *g = t->last;
    if (g != NULL && g->len == len && memcmp(t->arena.data + g->off, k, len) == 0) {
        g->count++;
        g->last_row = row;
        g->last_at = at;
        g->last_len = (uint32_t)n;
        t->key.len = 0;
        return;
    }
    uint64_t h = fold_hash(k, len);
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
            t->used++;
            break;
        }
        if (g->hash == h && g->len == len && memcmp(t->arena.data + g->off, k, len) == 0) {
            g->count++;
            g->last_row = row;
            g->last_at = at;
            g->last_len = (uint32_t)n;
            break;
        }
        i = (i + 1) & (t->cap - 1);
    }
    t->last = g;
    t->key.len = 0;
}

static void gt_free(GroupTable *t) {
    free(t->slots);
    free(t->arena.data);
    free(t->key.data);
    memset(t, 0, sizeof *t);
}

/* the k-th part of a group's key */
static inline const char *gt_key_part(const GroupTable *t, const FoldGroup *g, int k, uint32_t *n) {
    const char *p = t->arena.data + g->off;
    for (;;) {
        uint32_t len;
        memcpy(&len, p, sizeof len);
        if (k-- == 0) { *n = len; return p + sizeof len; }
        p += sizeof len + len;
    }
}

/* utf8 column of the k-th key part of every group */
static struct ArrowArray *gt_utf8(const GroupTable *t, int k) {
    Buf off = {0}, data = {0};
    int32_t o = 0;
    buf_put(&off, (const char *)&o, sizeof o);
    for (size_t s = 0; s < t->cap; s++) {
        const FoldGroup *g = &t->slots[s];
        if (g->len == 0) continue;
        uint32_t n;
        const char *v = gt_key_part(t, g, k, &n);
        buf_put(&data, v, n);
        if (data.len > INT32_MAX) data.failed = 1;
        o = (int32_t)data.len;
        buf_put(&off, (const char *)&o, sizeof o);
    }
    if (off.failed || data.failed) { free(off.data); free(data.data); return NULL; }
    return child_array((int64_t)t->used, buf_take(&off), buf_take(&data));
}

/* what: 'c' the counts (uint32), 'r' the last rows (uint32), 's' the key part k as an int16 */
static struct ArrowArray *gt_fixed(const GroupTable *t, char what, int k) {
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
static struct ArrowArray *gt_last_values(const GroupTable *t, const char *data) {
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

typedef struct {
    GroupTable timeline, attempts, answered;
    int64_t rows;
} Fold;

static inline int has_pair(const char *v, Py_ssize_t n, char a, char b) {
    for (Py_ssize_t k = 0; k + 1 < n; k++)
        if (v[k] == a && v[k + 1] == b) return 1;
    return 0;
}

/* row `row` (its values vp/vn, its Int16 status in vi) folded: 1, or 0 when it goes out as
 * columns.  Runs without the GIL. */
static int fold_row(const FoldSpec *spec, Fold *f, const char *data, const char *const *vp, const Py_ssize_t *vn,
                    const int *vi, uint32_t row) {
    int st = vi[spec->role[FOLD_STATUS]];
    if (st >= 500) return 0;
    int ua = spec->role[FOLD_UA];
    int up = ua >= 0 && vn[ua] > 0 && !(vn[ua] == 1 && vp[ua][0] == '-');
    if (up && (has_pair(vp[ua], vn[ua], ',', ' ') || has_pair(vp[ua], vn[ua], ' ', ':'))) {
        /* ", " or " : " -- " : " holds ": " too, checked as " :" (a ':' after a ' ') */
        return 0;
    }
    int tf = spec->role[FOLD_TIME], hf = spec->role[FOLD_HOST];
    Py_ssize_t minute = tf >= 0 ? (vn[tf] < spec->minute ? vn[tf] : spec->minute) : 0;
    int16_t s16 = (int16_t)st;
    gt_part(&f->timeline, tf >= 0 ? vp[tf] : "", minute);
    gt_part(&f->timeline, (const char *)&s16, sizeof s16);
    gt_part(&f->timeline, hf >= 0 ? vp[hf] : "", hf >= 0 ? vn[hf] : 0);
    gt_count(&f->timeline, row, 0, 0);
    if (up) {
        for (int k = 0; k < spec->natt; k++) gt_part(&f->attempts, vp[spec->att[k]], vn[spec->att[k]]);
        gt_count(&f->attempts, row, 0, 0);
        if (tf >= 0 && st != 444 && st != 499) {
            gt_part(&f->answered, vp[ua], vn[ua]);
            gt_count(&f->answered, row, (Py_ssize_t)(vp[tf] - data), vn[tf]);
        }
    }
    f->rows++;
    return 1;
}

static inline int fold_failed(const Fold *f) {
    return f->timeline.failed || f->attempts.failed || f->answered.failed;
}

static void fold_free(Fold *f) {
    gt_free(&f->timeline);
    gt_free(&f->attempts);
    gt_free(&f->answered);
}

/* one group table as a frame's capsules: its key parts (names[k], "u" or "s"), then `len` or
 * (for the answered table) the last value and row */
static int fold_frame(const GroupTable *t, const char *data, int nparts, const char *const *names,
                      const char *const *formats, int answered, PyObject **sc, PyObject **ac) {
    Frame fr = {NULL, NULL};
    int rc = -1;
    if (frame_new(&fr, (int64_t)t->used, nparts + 2) != 0) goto out;
    for (int k = 0; k < nparts; k++) {
        struct ArrowArray *a = formats[k][0] == 's' ? gt_fixed(t, 's', k) : gt_utf8(t, k);
        if (frame_add(&fr, formats[k], names[k], 0, a) != 0) goto out;
    }
    if (answered) {
        if (frame_add(&fr, "u", "time", 0, gt_last_values(t, data)) != 0
            || frame_add(&fr, "I", "_ord", 0, gt_fixed(t, 'r', 0)) != 0)
            goto out;
    } else if (frame_add(&fr, "I", "len", 0, gt_fixed(t, 'c', 0)) != 0) {
        goto out;
    }
    rc = frame_capsules(&fr, sc, ac);
out:
    frame_free(&fr);
    return rc;
}

/* (timeline schema, array, attempts schema, array, answered schema, array, folded rows); the
 * attempts' columns are named by `att_names` (the spec's order) */
static PyObject *fold_result(const Fold *f, const char *data, PyObject *att_names) {
    static const char *const tl_names[] = {"minute", "status", "host"};
    static const char *const tl_formats[] = {"u", "s", "u"};
    static const char *const ans_names[] = {"ua"};
    static const char *const ans_formats[] = {"u"};
    const char *names[FOLD_MAX_ATT], *formats[FOLD_MAX_ATT];
    Py_ssize_t natt = PyTuple_GET_SIZE(att_names);
    PyObject *caps[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    for (Py_ssize_t k = 0; k < natt; k++) {
        names[k] = PyBytes_AsString(PyTuple_GET_ITEM(att_names, k));
        formats[k] = "u";
        if (names[k] == NULL) return NULL;
    }
    if (fold_frame(&f->timeline, data, 3, tl_names, tl_formats, 0, &caps[0], &caps[1]) != 0
        || fold_frame(&f->attempts, data, (int)natt, names, formats, 0, &caps[2], &caps[3]) != 0
        || fold_frame(&f->answered, data, 1, ans_names, ans_formats, 1, &caps[4], &caps[5]) != 0) {
        for (int k = 0; k < 6; k++) Py_XDECREF(caps[k]);
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return NULL;
    }
    return Py_BuildValue("(NNNNNNL)", caps[0], caps[1], caps[2], caps[3], caps[4], caps[5], (long long)f->rows);
}

/* the spec from Python: (status, time, host, ua, minute bytes, (attempt fields...), (attempt
 * names...)) as output field numbers (-1: not in the format); 0, or -1 with an error set */
static int fold_spec(PyObject *arg, Py_ssize_t nf, FoldSpec *spec, PyObject **att_names) {
    PyObject *att;
    memset(spec, 0, sizeof *spec);
    if (arg == Py_None) return 0;
    if (!PyTuple_Check(arg)
        || !PyArg_ParseTuple(arg, "iiiiiO!O!", &spec->role[FOLD_STATUS], &spec->role[FOLD_TIME],
                             &spec->role[FOLD_HOST], &spec->role[FOLD_UA], &spec->minute, &PyTuple_Type, &att,
                             &PyTuple_Type, att_names)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a fold is (status, time, host, ua, minute, fields, names)");
        return -1;
    }
    Py_ssize_t natt = PyTuple_GET_SIZE(att);
    if (natt > FOLD_MAX_ATT || natt != PyTuple_GET_SIZE(*att_names) || spec->minute < 0
        || spec->role[FOLD_STATUS] < 0 || (natt > 0) != (spec->role[FOLD_UA] >= 0)) {
        PyErr_SetString(PyExc_ValueError, "bad fold");
        return -1;
    }
    for (int r = 0; r < FOLD_ROLES; r++)
        if (spec->role[r] >= nf) { PyErr_SetString(PyExc_ValueError, "bad fold field"); return -1; }
    for (Py_ssize_t k = 0; k < natt; k++) {
        spec->att[k] = (int)PyLong_AsLong(PyTuple_GET_ITEM(att, k));
        if (PyErr_Occurred()) return -1;
        if (spec->att[k] < 0 || spec->att[k] >= nf) { PyErr_SetString(PyExc_ValueError, "bad fold field"); return -1; }
        if (!PyBytes_Check(PyTuple_GET_ITEM(*att_names, k))) { PyErr_SetString(PyExc_TypeError, "a name is bytes"); return -1; }
    }
    spec->natt = (int)natt;
    spec->on = 1;
    return 0;
}
