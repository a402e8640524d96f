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
 * Groups live in the open-addressing tables of native/group_table.h (keyed by the length-prefixed
 * key bytes, hashed with a per-process seed).
 */

#include "group_table.h"

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
        struct ArrowArray *a = formats[k][0] == 's' ? gt_fixed(t, 's', k) : gt_nullable(t, k, 'u'); /* no null part */
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
