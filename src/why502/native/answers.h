/*
 * The answers: the requests `diagnose` only counts, counted by a native pass per block instead
 * of handed over as columns (issue 28 item 2).
 *
 * app/diagnose/lb.py counts a batch's requests that answered -- app/stats/lb.ANSWERED: an access
 * line with no 5xx that the proxy did not fail itself -- by (status, minute, target), with each
 * group's rows, first and last row, last timed row and its time, and least and greatest time
 * (app/diagnose/lb.py _answer_groups, whose polars query is the reference).  A pass that can tell
 * a line is surely such a request (its own rule: parsers/lblogs/_albscan.c, proxies/envoy/
 * _envoyscan.c) counts it here with answers_count, and hands the table over with answers_frame:
 *
 *   - the minute is the time's first 16 bytes when it has 16 and a '-' at byte 4, else null
 *     (_answer_groups: t.str.slice(0, 16) on that condition; the passes take printable ASCII
 *     only, so a byte is a character);
 *   - the target is null when the line names none (a null, "" or "-": the readers make "-" null
 *     and _answer_groups makes "" null);
 *   - the passes count only lines with a time (never empty), so every counted row is "timed":
 *     the last row is the last timed one and its time the group's last time (gt_count keeps the
 *     last row's value); a time longer than GT_TIME_MAX is not counted (the least and greatest
 *     are kept in fixed slots) and the line goes out as columns.
 */
#ifndef WHY502_ANSWERS_H
#define WHY502_ANSWERS_H

#include "group_table.h"

/* Groups a block's table holds: past them a line goes out as columns, as it did before the
 * answers (a log of a target per line made as many groups as lines, each a row of the table
 * and of its frame, and the roll-up's Python objects; a block holds a few hundred of a real
 * log's (statuses x minutes x targets)).  Any split between the table and the columns counts
 * the same: _answered rolls both up together. */
#define ANSWERS_MAX_GROUPS 4096

typedef struct {
    GroupTable t;
    Buf firsts; /* the first row of each group (uint32), by its number */
    Buf ranges; /* GtRange of each group */
    const char *base; /* the block: gt_count keeps the offset of the last row's time in it */
    /* the times the pass wrote itself (answers_count_made: a time the line holds as a number,
     * Caddy's Unix seconds), when it counts with them: the offsets are then in here */
    Buf made;
    int made_times;
} Answers;

static inline void answers_free(Answers *a) {
    gt_free(&a->t);
    free(a->firsts.data);
    free(a->ranges.data);
    free(a->made.data);
    memset(a, 0, sizeof *a);
}

/* answers_count with the time at offset `at` of the times' buffer (the block, or `made`) */
static inline int answers_count_at(Answers *a, const int64_t *status, const char *time, Py_ssize_t tn,
                                   Py_ssize_t at, const char *target, Py_ssize_t gn, uint32_t row) {
    if (tn <= 0 || tn > GT_TIME_MAX || a->t.used >= ANSWERS_MAX_GROUPS) return 0;
    gt_fixed_part(&a->t, status, sizeof *status);
    if (tn >= 16 && time[4] == '-') gt_part(&a->t, time, 16);
    else gt_null(&a->t);
    if (target != NULL && gn > 0 && !(gn == 1 && target[0] == '-')) gt_part(&a->t, target, gn);
    else gt_null(&a->t);
    int64_t id = gt_count(&a->t, row, at, tn);
    if (id < 0) return 1; /* out of memory: the table is failed, the block's answer an error */
    if ((size_t)id * sizeof row == a->firsts.len) buf_put(&a->firsts, (const char *)&row, sizeof row);
    gt_range(&a->ranges, id, time, (size_t)tn);
    if (a->firsts.failed || a->ranges.failed) a->t.failed = 1;
    return 1;
}

/* row `row` of the block counted as an answer: its status (NULL: none), its time time[0, tn)
 * (inside the block: a->base), its target target[0, gn) (NULL, or gn == 0: none).  1 when
 * counted, 0 when the line must go out as columns (no time, a longer one than the slots keep,
 * or the table full).  Runs without the GIL. */
static inline int answers_count(Answers *a, const int64_t *status, const char *time, Py_ssize_t tn,
                                const char *target, Py_ssize_t gn, uint32_t row) {
    return answers_count_at(a, status, time, tn, time - a->base, target, gn, row);
}

/* answers_count of a time the pass wrote (text[0, tn)), kept in `made`: a pass counts all its
 * answers with times of its own or none (the offsets of one table are in one buffer) */
static inline int answers_count_made(Answers *a, const int64_t *status, const char *text, Py_ssize_t tn,
                                     const char *target, Py_ssize_t gn, uint32_t row) {
    if (tn <= 0 || tn > GT_TIME_MAX || a->t.used >= ANSWERS_MAX_GROUPS) return 0;
    Py_ssize_t at = (Py_ssize_t)a->made.len;
    buf_put(&a->made, text, (size_t)tn);
    if (a->made.failed) { a->t.failed = 1; return 1; }
    a->made_times = 1;
    return answers_count_at(a, status, a->made.data + at, tn, at, target, gn, row);
}

/* the first rows of every group, in the table's order, as a uint32 column */
static inline struct ArrowArray *answers_firsts(const Answers *a) {
    const uint32_t *firsts = (const uint32_t *)a->firsts.data;
    Buf b = {0};
    for (size_t s = 0; s < a->t.cap; s++) {
        const FoldGroup *g = &a->t.slots[s];
        if (g->len == 0) continue;
        buf_put(&b, (const char *)&firsts[g->id], sizeof *firsts);
    }
    if (b.failed) { free(b.data); return NULL; }
    return child_array((int64_t)a->t.used, buf_take(&b), NULL);
}

/* the answers as a frame's capsules: (status, _minute, _key, len, _first, _last, _time, _lo,
 * _hi); 0, or -1 with an error set */
static inline int answers_frame(const Answers *a, PyObject **sc, PyObject **ac) {
    const GroupTable *t = &a->t;
    Frame fr = {NULL, NULL};
    int rc = -1;
    if (frame_new(&fr, (int64_t)t->used, 9) != 0) goto out;
    static const char *const names[] = {"status", "_minute", "_key"}, *const formats[] = {"l", "u", "u"};
    if (gt_add_parts(&fr, t, 3, formats, names) != 0
        || frame_add(&fr, "l", "len", 0, gt_counts64(t)) != 0
        || frame_add(&fr, "I", "_first", 0, answers_firsts(a)) != 0
        || frame_add(&fr, "I", "_last", 0, gt_fixed(t, 'r', 0)) != 0
        || frame_add(&fr, "u", "_time", 0, gt_last_values(t, a->made_times ? a->made.data : a->base)) != 0
        || frame_add(&fr, "u", "_lo", 0, gt_range_column(t, &a->ranges, 0)) != 0
        || frame_add(&fr, "u", "_hi", 0, gt_range_column(t, &a->ranges, 1)) != 0)
        goto out;
    rc = frame_capsules(&fr, sc, ac);
out:
    frame_free(&fr);
    return rc;
}

/* an empty table for the block `data` */
static inline void answers_start(Answers *a, const Py_buffer *data) {
    memset(a, 0, sizeof *a);
    a->base = (const char *)data->buf;
}

/* a pass's answer (frame_result's: schema, array, lines, rows handed back, their text) with the
 * answers' schema and array after it, the table freed; NULL with an error set (`out` is taken) */
static inline PyObject *answers_result(PyObject *out, Answers *a) {
    PyObject *sc = NULL, *ac = NULL;
    if (out != NULL && a->t.failed) {
        Py_CLEAR(out);
        PyErr_NoMemory();
    }
    if (out != NULL && answers_frame(a, &sc, &ac) != 0) Py_CLEAR(out);
    if (out != NULL) {
        PyObject *more = Py_BuildValue("(OOOOONN)", PyTuple_GET_ITEM(out, 0), PyTuple_GET_ITEM(out, 1),
                                       PyTuple_GET_ITEM(out, 2), PyTuple_GET_ITEM(out, 3), PyTuple_GET_ITEM(out, 4),
                                       sc, ac);
        Py_SETREF(out, more);
    } else {
        Py_XDECREF(sc);
        Py_XDECREF(ac);
    }
    answers_free(a);
    return out;
}

/* A text pass's answering entry: `(data) -> capture_columns' five and the answers' schema and
 * array`, the lines `counted` counts (its ctx: the block's Answers) left out of the captures
 * (Envoy's text_answers, Traefik's clf_answers); NULL with an error set. */
static inline PyObject *capture_answers(PyObject *args, CaptureLine read, const char *const *names, int ncaps,
                                        CaptureCounted counted) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    Answers answers;
    answers_start(&answers, &data);
    PyObject *out = answers_result(capture_pass(&data, read, names, ncaps, counted, &answers), &answers);
    PyBuffer_Release(&data);
    return out;
}

#endif /* WHY502_ANSWERS_H */
