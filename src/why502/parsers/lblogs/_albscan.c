/*
 * why502.parsers.lblogs._albscan -- AWS ALB access-log lines cut and decided in one native pass.
 *
 * The optional fast path of the ALB reader (Python side: parsers/lblogs/batch.py, alb_frame and
 * _alb_native).  The reference is the polars reader of the same module: ALB_RX's groups, then the
 * column expressions of alb_frame (who made the status, the code, the timings, the target group,
 * the retries, the request and its host), which tests/stats/test_lb_frames.py holds equal to the
 * per-line parser alb.parse_alb.  This pass computes the same values for the lines whose shape
 * leaves no doubt, and hands every other line back (its row) for the polars reader:
 *
 *   - every byte printable ASCII and no backslash (so a byte is a character, `\S` is "not a
 *     space", and a quoted field is `"[^"]*"` as the regex's `(?:[^"\\]|\\.)*` reads it);
 *   - the whole entry of today's format up to target:port_list, field by field (AWS, "Access log
 *     entries", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html):
 *     type time elb client:port target:port request_processing_time target_processing_time
 *     response_processing_time elb_status_code target_status_code received_bytes sent_bytes
 *     "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
 *     "chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed"
 *     "redirect_url" "error_reason" "target:port_list" ... ; an unquoted field holds no quote, a
 *     quoted one is followed by a space (or, the last read, by anything), so ALB_RX's greedy
 *     groups take exactly these fields (an older entry with fewer fields goes back);
 *   - a status is `-` or 1-9 digits, a time field `-` or -?digits[.digits] (read as integer /
 *     power of ten up to 15 digits, exact; with strtod beyond: polars' float parser rounds
 *     correctly too); the request_creation_time wait is read only when the
 *     code needs it, and only in the form ALB writes (YYYY-MM-DDTHH:MM:SS.ffffffZ, a real date);
 *     a wait within 2 us of the connect-timeout bounds, a target group ARN whose
 *     ":targetgroup/" is not followed by a name, a target list with two spaces in a row (polars'
 *     split(" ") and Python's split() count those apart) go back.
 *
 * The columns come back through the Arrow C data interface (native/arrow_buf.h), with validity
 * bitmaps for the nullable ones; the scan runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answers.h"
#include "arrow_buf.h"
#include "group_table.h"

/* --- output columns ------------------------------------------------------------------------ */

static inline void oc_str(NCol *c, const char *s, Py_ssize_t n) {
    col_put(&c->data, s, (size_t)n);
    ncol_utf8_end(c, 1);
}

static inline void oc_null_str(NCol *c) { ncol_utf8_end(c, 0); }

enum {
    C_IDX, C_TIME, C_STATUS, C_MADE_BY, C_CODE, C_TARGET, C_GROUP, C_UPSTREAM_MS, C_DURATION_MS,
    C_RETRIES, C_CLIENT, C_REQUEST, C_HOST, C_DETAIL, C_BACKEND_STATUS, N_COLS
};

static const ColSpec COLS[N_COLS] = {
    {"idx", "I"}, {"time", "u"}, {"status", "l"}, {"made_by", "u"}, {"code", "u"}, {"target", "u"},
    {"group", "u"}, {"upstream_ms", "g"}, {"duration_ms", "g"}, {"retries", "l"}, {"client", "u"},
    {"request", "u"}, {"host", "u"}, {"detail", "u"}, {"backend_status", "l"},
};

/* --- one line ------------------------------------------------------------------------------ */

#define N_FIELDS 26
/* the quoted fields of the entry (the others are bare) */
static const unsigned char QUOTED[N_FIELDS] = {
    [12] = 1, [13] = 1, [17] = 1, [18] = 1, [19] = 1, [22] = 1, [23] = 1, [24] = 1, [25] = 1,
};

typedef struct {
    const char *p;
    Py_ssize_t n;
} Span;

static inline int is_dash(Span s) { return s.n == 1 && s.p[0] == '-'; }
static inline int is_dig(char c) { return c >= '0' && c <= '9'; }

/* the fields of an entry; 0: not the whole format (the line goes back) */
static int cut_fields(const char *s, Py_ssize_t n, Span *f) {
    Py_ssize_t k = 0;
    for (int i = 0; i < N_FIELDS; i++) {
        if (k >= n) return 0;
        if (QUOTED[i]) {
            if (s[k] != '"') return 0;
            const char *q = memchr(s + k + 1, '"', (size_t)(n - k - 1));
            if (q == NULL) return 0;
            f[i].p = s + k + 1;
            f[i].n = q - (s + k + 1);
            k = (q - s) + 1;
        } else {
            const char *sp = memchr(s + k, ' ', (size_t)(n - k));
            Py_ssize_t end = sp ? sp - s : n;
            if (end == k || memchr(s + k, '"', (size_t)(end - k)) != NULL) return 0;
            f[i].p = s + k;
            f[i].n = end - k;
            k = end;
        }
        if (i < N_FIELDS - 1) {
            if (k >= n || s[k] != ' ') return 0;
            k++;
        }
    }
    return 1;
}

/* `-` (null: *ok 0) or 1-9 digits; 0: neither (the line goes back) */
static int read_status(Span s, int64_t *v, int *ok) {
    if (is_dash(s)) { *ok = 0; return 1; }
    if (s.n < 1 || s.n > 9) return 0;
    int64_t x = 0;
    for (Py_ssize_t k = 0; k < s.n; k++) {
        if (!is_dig(s.p[k])) return 0;
        x = x * 10 + (s.p[k] - '0');
    }
    *v = x;
    *ok = 1;
    return 1;
}

/* `-` (null) or -?digits[.digits] read with strtod; 0: another shape (the line goes back) */
static int read_seconds(Span s, double *v, int *ok) {
    if (is_dash(s)) { *ok = 0; return 1; }
    if (s.n > 40) return 0;
    Py_ssize_t k = s.p[0] == '-' ? 1 : 0, digits = 0, dot = -1;
    for (; k < s.n; k++) {
        if (is_dig(s.p[k])) digits++;
        else if (s.p[k] == '.' && dot < 0 && digits > 0) dot = k;
        else return 0;
    }
    if (digits == 0 || dot == s.n - 1) return 0;
    if (digits <= 15) {
        /* Clinger's fast path: the digits as an integer below 2^53 and a power of ten up to 1e22
         * are both exact doubles, so their quotient is the correctly rounded value -- strtod's */
        static const double p10[16] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
                                       1e14, 1e15};
        uint64_t m = 0;
        for (Py_ssize_t j = s.p[0] == '-' ? 1 : 0; j < s.n; j++)
            if (s.p[j] != '.') m = m * 10 + (uint64_t)(s.p[j] - '0');
        double x = (double)m / p10[dot < 0 ? 0 : s.n - 1 - dot];
        *v = s.p[0] == '-' ? -x : x;
        *ok = 1;
        return 1;
    }
    char tmp[48];
    memcpy(tmp, s.p, (size_t)s.n);
    tmp[s.n] = 0;
    *v = strtod(tmp, NULL);
    *ok = 1;
    return 1;
}

/* days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* YYYY-MM-DDTHH:MM:SS.ffffffZ (as ALB writes its times) -> microseconds since 1970; 0: not that */
static int iso_us(Span s, int64_t *us) {
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    if (s.n != (Py_ssize_t)sizeof shape - 1) return 0;
    for (Py_ssize_t k = 0; k < s.n; k++)
        if (shape[k] == 'd' ? !is_dig(s.p[k]) : s.p[k] != shape[k]) return 0;
    int y = 0, f = 0;
    for (int k = 0; k < 4; k++) y = y * 10 + (s.p[k] - '0');
    int mo = (s.p[5] - '0') * 10 + (s.p[6] - '0'), d = (s.p[8] - '0') * 10 + (s.p[9] - '0');
    int h = (s.p[11] - '0') * 10 + (s.p[12] - '0'), mi = (s.p[14] - '0') * 10 + (s.p[15] - '0');
    int se = (s.p[17] - '0') * 10 + (s.p[18] - '0');
    for (int k = 20; k < 26; k++) f = f * 10 + (s.p[k] - '0');
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1000 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59
        || se > 59)
        return 0;
    *us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * 1000000) + f;
    return 1;
}

typedef struct {
    Span time, made_by, code, target, group, client, method, path, host, detail;
    int has_target, has_group, has_client, has_request, has_host, has_detail, has_code;
    int64_t status, tstatus, retries;
    int has_status, has_tstatus, has_retries;
    int lb; /* the ALB made the status (made_by "lb") */
    double upstream_ms, duration_ms;
    int has_upstream, has_duration;
} Row;

#define SPAN_LIT(lit) ((Span){(lit), (Py_ssize_t)sizeof(lit) - 1})

/* ALB_RX's `(?:http|https|h2|grpcs|ws|wss) ` */
static int alb_type(Span t) {
    static const char *types[] = {"http", "https", "h2", "grpcs", "ws", "wss"};
    for (size_t k = 0; k < sizeof types / sizeof *types; k++)
        if ((size_t)t.n == strlen(types[k]) && memcmp(t.p, types[k], (size_t)t.n) == 0) return 1;
    return 0;
}

/* the connect-timeout window of alb.CONNECT_TIMEOUT_S, in microseconds */
#define WAIT_LO 9000000LL
#define WAIT_HI 11500000LL

/* an entry decided into r (f: its fields, as cut); 0: the line goes back */
static int alb_row(const char *s, Py_ssize_t n, Row *r, Span *f) {
    if (n < 2 || !printable(s, n) || memchr(s, '\\', (size_t)n) != NULL || !cut_fields(s, n, f)) return 0;
    if (!alb_type(f[0])) return 0;
    for (int i = 10; i <= 11; i++) /* received and sent bytes: \d+ */
        for (Py_ssize_t k = 0; k < f[i].n; k++)
            if (!is_dig(f[i].p[k])) return 0;
    memset(r, 0, sizeof *r);
    r->time = f[1];
    if (!read_status(f[8], &r->status, &r->has_status) || !read_status(f[9], &r->tstatus, &r->has_tstatus))
        return 0;
    double rq = 0, tp = 0, rs = 0;
    int has_rq, has_tp, has_rs;
    if (!read_seconds(f[5], &rq, &has_rq) || !read_seconds(f[6], &tp, &has_tp) || !read_seconds(f[7], &rs, &has_rs))
        return 0;
    r->has_target = !is_dash(f[4]);
    r->target = f[4];
    r->has_client = !is_dash(f[3]);
    r->client = f[3];
    r->has_detail = !is_dash(f[24]);
    r->detail = f[24];

    /* who made the status, and the code (alb_frame's `lb` and `code`) */
    int lb = r->has_status && (!r->has_tstatus || r->tstatus != r->status);
    r->lb = lb;
    r->made_by = lb ? SPAN_LIT("lb") : SPAN_LIT("backend");
    if (lb) {
        int64_t st = r->status;
        r->has_code = 1;
        if (r->has_detail && r->detail.n > 0) r->code = r->detail; /* "" decides nothing (parse_alb) */
        else {
            int connect = 0;
            if (st == 504 && has_rq && rq < 0 && !is_dash(f[21])) {
                int64_t a, b;
                if (!iso_us(f[1], &a) || !iso_us(f[21], &b)) return 0;
                int64_t w = a - b;
                if ((w >= WAIT_LO - 2 && w <= WAIT_LO + 2) || (w >= WAIT_HI - 2 && w <= WAIT_HI + 2)) return 0;
                connect = w > WAIT_LO && w < WAIT_HI;
            }
            if (connect) r->code = SPAN_LIT("target-connect-timeout");
            else if (st == 504) r->code = SPAN_LIT("target-timeout");
            else if (st == 503 && !r->has_target) r->code = SPAN_LIT("no-targets");
            else if ((st == 502 || st == 503) && (!has_tp || tp < 0)) r->code = SPAN_LIT("target-unreachable");
            else if (st == 502) r->code = SPAN_LIT("target-closed");
            else if (st >= 400 && st < 500 && !r->has_tstatus) r->code = SPAN_LIT("lb-rejected");
            else r->has_code = 0;
        }
    }

    /* the timings */
    if (has_tp && tp >= 0) { r->has_upstream = 1; r->upstream_ms = tp * 1000.0; }
    if (has_tp) {
        double a = has_rq && rq >= 0 ? rq : 0.0, b = tp >= 0 ? tp : 0.0, c = has_rs && rs >= 0 ? rs : 0.0;
        r->has_duration = 1;
        r->duration_ms = (a + b + c) * 1000.0;
    }

    /* the target group: the name after ":targetgroup/" of its ARN */
    Span tg = f[16];
    if (!is_dash(tg)) {
        r->has_group = 1;
        r->group = tg;
        static const char mark[] = ":targetgroup/";
        const char *m = memmem(tg.p, (size_t)tg.n, mark, sizeof mark - 1);
        if (m != NULL) {
            const char *a = m + sizeof mark - 1, *end = tg.p + tg.n, *b = a;
            while (b < end && *b != '/') b++;
            if (b == a) return 0;
            r->group = (Span){a, b - a};
        }
    }

    /* the retries: the targets tried, less one */
    Span ts = f[25];
    if (!is_dash(ts)) {
        const char *a = ts.p, *b = ts.p + ts.n;
        while (a < b && *a == ' ') a++;
        while (b > a && b[-1] == ' ') b--;
        int64_t spaces = 0;
        for (const char *q = a; q < b; q++) {
            if (*q != ' ') continue;
            if (q[1] == ' ') return 0;
            spaces++;
        }
        if (spaces > 0) { r->has_retries = 1; r->retries = spaces; }
    }

    /* the request: method and path (the scheme and host cut off), and the host */
    Span rq_text = f[12];
    if (!is_dash(rq_text)) {
        const char *a = rq_text.p, *end = rq_text.p + rq_text.n;
        const char *sp = a < end && *a != ' ' ? memchr(a, ' ', (size_t)(end - a)) : NULL;
        if (sp != NULL) { /* ^(\S+) matched */
            const char *q = sp + 1, *path;
            const char *l = q;
            while (l < end && *l >= 'a' && *l <= 'z') l++;
            if (l > q && end - l >= 3 && memcmp(l, "://", 3) == 0) {
                const char *h = l + 3, *he = h;
                while (he < end && *he != '/' && *he != ':' && *he != ' ') he++;
                r->has_host = 1;
                r->host = (Span){h, he - h};
                path = he;
                while (path < end && *path != '/' && *path != ' ') path++;
            } else {
                path = q;
            }
            const char *pe = path;
            while (pe < end && *pe != ' ') pe++;
            if (!(rq_text.n >= 5 && memcmp(rq_text.p, "- - -", 5) == 0)) {
                r->has_request = 1;
                r->method = (Span){a, sp - a};
                r->path = (Span){path, pe - path};
            }
        }
    }
    return 1;
}

/* --- the block ----------------------------------------------------------------------------- */

static inline void put_span(NCol *c, int has, Span s) {
    if (has) oc_str(c, s.p, s.n);
    else oc_null_str(c);
}

static void put_row(NCol *c, uint32_t idx, const Row *r) {
    ncol_fixed(&c[C_IDX], &idx, sizeof idx);
    oc_str(&c[C_TIME], r->time.p, r->time.n);
    ncol_fixed(&c[C_STATUS], r->has_status ? &r->status : NULL, sizeof r->status);
    oc_str(&c[C_MADE_BY], r->made_by.p, r->made_by.n);
    put_span(&c[C_CODE], r->has_code, r->code);
    put_span(&c[C_TARGET], r->has_target, r->target);
    put_span(&c[C_GROUP], r->has_group, r->group);
    ncol_fixed(&c[C_UPSTREAM_MS], r->has_upstream ? &r->upstream_ms : NULL, sizeof r->upstream_ms);
    ncol_fixed(&c[C_DURATION_MS], r->has_duration ? &r->duration_ms : NULL, sizeof r->duration_ms);
    ncol_fixed(&c[C_RETRIES], r->has_retries ? &r->retries : NULL, sizeof r->retries);
    put_span(&c[C_CLIENT], r->has_client, r->client);
    if (r->has_request) {
        NCol *q = &c[C_REQUEST];
        col_put(&q->data, r->method.p, (size_t)r->method.n);
        col_put(&q->data, " ", 1);
        if (r->path.n > 0) col_put(&q->data, r->path.p, (size_t)r->path.n);
        else col_put(&q->data, "/", 1);
        ncol_utf8_end(q, 1);
    } else {
        oc_null_str(&c[C_REQUEST]);
    }
    put_span(&c[C_HOST], r->has_host, r->host);
    put_span(&c[C_DETAIL], r->has_detail, r->detail);
    ncol_fixed(&c[C_BACKEND_STATUS], r->has_tstatus ? &r->tstatus : NULL, sizeof r->tstatus);
}

/* --- the fold: the rows `stats` only counts, counted here ------------------------------------
 *
 * LbStatsAccumulator._reduce (evidence/lbstats.py) reads every row for counts keyed by a few of
 * its values, and the rows the ALB failed itself (made_by "lb" and a symptom) for their codes'
 * counts and first and last times too.  So an entry alb_row decided is counted here instead of
 * written as columns, in four tables whose keys are exactly the values the polars aggregation
 * groups or filters by -- the values put_row would have written, so the Python side
 * (parsers/lblogs/fold.py, LbStatsAccumulator.add_counted) sums them with the same expressions,
 * weighted by the counts:
 *
 *   - timeline: (minute, status, made_by, retries), the minute being the time's first 16 bytes
 *     (lbstats._minute: str.slice(0, 16); alb_row takes printable ASCII only, a byte is a char);
 *   - target:   (target, status, made_by, retries, upstream_ms);
 *   - group:    (group, status, made_by, retries, upstream_ms);
 *   - codes:    (code, status, made_by) of the rows the ALB made the status of, with the least
 *     and the greatest time (polars' min and max of strings: bytewise, a prefix first); the
 *     symptom that makes one a failure is the vocabulary's (batch.finish, in Python, on the
 *     groups);
 *
 * nulls kept as nulls, upstream_ms by its double's bytes (-0.0 apart from 0.0: the Python side
 * makes both 0.0 before it sums, as it does for rows).  A row the ALB made the status of goes out
 * as columns when its time is longer than ALB_TIME_MAX bytes (the times are kept in fixed slots).  The tables live across
 * the blocks of a read (a capsule, alb_fold_new) and are taken (alb_fold_take) when Python wants
 * them; a block and a take never run at once on one fold (`busy`). */

#define ALB_TIME_MAX 40 /* <= GT_TIME_MAX */

typedef struct {
    GroupTable timeline, target, group, codes;
    Buf ranges; /* GtRange of each group of codes */
    int busy;
} AlbFold;

#define ALB_FOLD "why502.alb_fold"

static void alb_fold_clear(AlbFold *f) {
    gt_free(&f->timeline);
    gt_free(&f->target);
    gt_free(&f->group);
    gt_free(&f->codes);
    free(f->ranges.data);
    memset(&f->ranges, 0, sizeof f->ranges);
}

static void alb_fold_capsule_free(PyObject *cap) {
    AlbFold *f = PyCapsule_GetPointer(cap, ALB_FOLD);
    if (f == NULL) { PyErr_Clear(); return; }
    alb_fold_clear(f);
    free(f);
}

/* the row counted in the fold: 1, or 0 when it goes out as columns.  Runs without the GIL. */
static int alb_fold_row(AlbFold *f, const Row *r) {
    if (r->lb && r->time.n > ALB_TIME_MAX) return 0;
    const int64_t *status = r->has_status ? &r->status : NULL, *retries = r->has_retries ? &r->retries : NULL;
    const double *up = r->has_upstream ? &r->upstream_ms : NULL;
    gt_part(&f->timeline, r->time.p, r->time.n < 16 ? r->time.n : 16);
    gt_fixed_part(&f->timeline, status, sizeof *status);
    gt_part(&f->timeline, r->made_by.p, r->made_by.n);
    gt_fixed_part(&f->timeline, retries, sizeof *retries);
    gt_count(&f->timeline, 0, 0, 0);
    GroupTable *per[2] = {&f->target, &f->group};
    const Span *key[2] = {&r->target, &r->group};
    int has[2] = {r->has_target, r->has_group};
    for (int k = 0; k < 2; k++) {
        if (has[k]) gt_part(per[k], key[k]->p, key[k]->n);
        else gt_null(per[k]);
        gt_fixed_part(per[k], status, sizeof *status);
        gt_part(per[k], r->made_by.p, r->made_by.n);
        gt_fixed_part(per[k], retries, sizeof *retries);
        gt_fixed_part(per[k], up, sizeof *up);
        gt_count(per[k], 0, 0, 0);
    }
    if (r->lb) {
        if (r->has_code) gt_part(&f->codes, r->code.p, r->code.n);
        else gt_null(&f->codes);
        gt_fixed_part(&f->codes, status, sizeof *status);
        gt_part(&f->codes, r->made_by.p, r->made_by.n);
        int64_t id = gt_count(&f->codes, 0, 0, 0);
        if (id < 0) return 1; /* out of memory: the table is failed, the block's answer an error */
        gt_range(&f->ranges, id, r->time.p, (size_t)r->time.n);
        if (f->ranges.failed) f->codes.failed = 1;
    }
    return 1;
}

static inline int alb_fold_failed(const AlbFold *f) {
    return f->timeline.failed || f->target.failed || f->group.failed || f->codes.failed;
}

/* --- the answers: the requests `diagnose` only counts (native/answers.h) ----------------------
 *
 * An entry that surely answered is counted in the block's answers instead of written as columns:
 *
 *   - every ALB entry is an access line; no 5xx: no status, or one below 500;
 *   - not failed by the ALB: a status the ALB made (made_by "lb") fails when its code has a
 *     symptom in the vocabulary (batch.finish joins it in Python), so an entry with such a code
 *     goes out as columns, and Python decides; without a code it has no symptom and answered;
 *   - its key: the status (null: "-") and the target (null: "-"); alb_row takes printable ASCII
 *     only, and an ALB time is never empty (answers.h says why both matter). */

/* the row counted as an answer: 1, or 0 when it goes out as columns.  Runs without the GIL. */
static int answers_row(Answers *a, const Row *r, uint32_t row) {
    if ((r->has_status && r->status >= 500) || (r->lb && r->has_code)) return 0;
    return answers_count(a, r->has_status ? &r->status : NULL, r->time.p, r->time.n,
                         r->has_target ? r->target.p : NULL, r->target.n, row);
}

typedef struct {
    NCol *cols;
    int64_t taken;
    AlbFold *fold;   /* NULL: no fold */
    int64_t folded;  /* rows counted in it */
    Answers *answers; /* NULL: none counted */
} Taker;

/* scan_lines' TakeLine: an entry cut and decided into the columns (or the fold, or the answers) */
static int take_entry(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    Taker *t = ctx;
    Row r;
    Span f[N_FIELDS];
    if (!alb_row(s, n, &r, f)) return 0;
    if (t->answers != NULL && answers_row(t->answers, &r, row)) return 1;
    if (t->fold != NULL && alb_fold_row(t->fold, &r)) {
        t->folded++;
        return 1;
    }
    put_row(t->cols, row, &r);
    t->taken++;
    return 1;
}

static AlbFold *alb_fold_of(PyObject *cap) {
    AlbFold *f = PyCapsule_GetPointer(cap, ALB_FOLD);
    if (f != NULL && f->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the fold is in use by another call");
        return NULL;
    }
    return f;
}

static PyObject *alb_columns(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    PyObject *fold_arg = Py_None;
    int answering = 0;
    if (!PyArg_ParseTuple(args, "y*|Op", &data, &fold_arg, &answering)) return NULL;
    AlbFold *fold = NULL;
    if (fold_arg != Py_None && (fold = alb_fold_of(fold_arg)) == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    NCol cols[N_COLS];
    memset(cols, 0, sizeof cols);
    for (int k = 0; k < N_COLS; k++)
        if (COLS[k].format[0] == 'u') ncol_utf8_start(&cols[k]);
    Answers answers;
    answers_start(&answers, &data);
    Taker t = {cols, 0, fold, 0, answering ? &answers : NULL};
    if (fold != NULL) fold->busy = 1;
    PyObject *out = pass_result(&data, take_entry, &t, &t.taken, cols, N_COLS, COLS);
    if (answering) out = answers_result(out, &answers);
    if (fold != NULL) {
        fold->busy = 0;
        if (out != NULL && alb_fold_failed(fold)) {
            Py_CLEAR(out);
            PyErr_NoMemory();
        }
        if (out != NULL) {
            PyObject *more = Py_BuildValue("(OOOOOL)", PyTuple_GET_ITEM(out, 0), PyTuple_GET_ITEM(out, 1),
                                           PyTuple_GET_ITEM(out, 2), PyTuple_GET_ITEM(out, 3),
                                           PyTuple_GET_ITEM(out, 4), (long long)t.folded);
            Py_SETREF(out, more);
        }
    }
    PyBuffer_Release(&data);
    return out;
}

static PyObject *alb_fold_new(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(args)) {
    AlbFold *f = calloc(1, sizeof *f);
    if (f == NULL) return PyErr_NoMemory();
    PyObject *cap = PyCapsule_New(f, ALB_FOLD, alb_fold_capsule_free);
    if (cap == NULL) free(f);
    return cap;
}

/* (groups in the largest table, rows counted) */
static PyObject *alb_fold_size(PyObject *Py_UNUSED(self), PyObject *cap) {
    AlbFold *f = alb_fold_of(cap);
    if (f == NULL) return NULL;
    size_t most = f->target.used > f->group.used ? f->target.used : f->group.used;
    if (f->timeline.used > most) most = f->timeline.used;
    return Py_BuildValue("(nL)", (Py_ssize_t)most, (long long)gt_rows(&f->timeline));
}

/* the codes table as a frame's capsules: (code, status, made_by, first, last, n); 0, or -1 with
 * an error set */
static int codes_frame(const AlbFold *f, PyObject **sc, PyObject **ac) {
    static const char *const names[] = {"code", "status", "made_by"};
    static const char *const formats[] = {"u", "l", "u"};
    const GroupTable *t = &f->codes;
    Frame fr = {NULL, NULL};
    int rc = -1;
    if (frame_new(&fr, (int64_t)t->used, 6) != 0) goto out;
    if (gt_add_parts(&fr, t, 3, formats, names) != 0) goto out;
    for (int hi = 0; hi < 2; hi++)
        if (frame_add(&fr, "u", hi ? "last" : "first", 0, gt_range_column(t, &f->ranges, hi)) != 0) goto out;
    if (frame_add(&fr, "l", "n", 0, gt_counts64(t)) != 0) goto out;
    rc = frame_capsules(&fr, sc, ac);
out:
    frame_free(&fr);
    return rc;
}

static PyObject *alb_fold_take(PyObject *Py_UNUSED(self), PyObject *cap) {
    static const char *const tl_names[] = {"minute", "status", "made_by", "retries"};
    static const char *const tl_formats[] = {"u", "l", "u", "l"};
    static const char *const tg_names[] = {"target", "status", "made_by", "retries", "upstream_ms"};
    static const char *const gr_names[] = {"group", "status", "made_by", "retries", "upstream_ms"};
    static const char *const per_formats[] = {"u", "l", "u", "l", "g"};
    AlbFold *f = alb_fold_of(cap);
    if (f == NULL) return NULL;
    PyObject *caps[8] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    if (gt_frame(&f->timeline, 4, tl_names, tl_formats, &caps[0], &caps[1]) != 0
        || gt_frame(&f->target, 5, tg_names, per_formats, &caps[2], &caps[3]) != 0
        || gt_frame(&f->group, 5, gr_names, per_formats, &caps[4], &caps[5]) != 0
        || codes_frame(f, &caps[6], &caps[7]) != 0) {
        for (int k = 0; k < 8; k++) Py_XDECREF(caps[k]);
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return NULL;
    }
    int64_t rows = gt_rows(&f->timeline);
    alb_fold_clear(f);
    return Py_BuildValue("(NNNNNNNNL)", caps[0], caps[1], caps[2], caps[3], caps[4], caps[5], caps[6], caps[7],
                         (long long)rows);
}

/* --- counting (watch) ------------------------------------------------------------------ */

/* The request counts ``why502 watch`` takes of a block (app/watch/engine.py, Watch._lb), without
 * polars: the entries alb_row decides, counted by status, and the ALB's own failures by (code,
 * target or group) -- what alb.parse_alb's record gives the agent.  alb_row's guards are the
 * column pass's (its reference is the polars reader); the agent's reference is the per-line
 * reader it would use instead (LogFamilies.parse_line(line, "alb") -> parse_alb), so a line goes
 * back too where that reader could read it otherwise:
 *   - a '{' in the line: parse_line tries it as a JSON object of another family first
 *     (family.json_object, whose scan of a broken object takes any `"key": value` in it);
 *   - a time that is not alb._ALB_HEAD's `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z` (is_alb). */

static int alb_head_time(Span t) {
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    Py_ssize_t k = 0, n = (Py_ssize_t)sizeof shape - 1;
    if (t.n < n + 1) return 0;
    for (; k < n; k++)
        if (shape[k] == 'd' ? !is_dig(t.p[k]) : t.p[k] != shape[k]) return 0;
    if (t.p[k] == '.') {
        Py_ssize_t d = ++k;
        while (k < t.n && is_dig(t.p[k])) k++;
        if (k == d) return 0;
    }
    return k == t.n - 1 && t.p[k] == 'Z';
}

#define N_STATUS 1000 /* statuses counted in an array; a longer one in the dict */

typedef struct {
    int64_t status[N_STATUS];
    PyObject *more;     /* {status >= N_STATUS: count} */
    PyObject *failures; /* {(code, target or group): count}, bytes */
    int error;          /* a Python error is set */
} Counts;

static int count_add(PyObject *dict, PyObject *key, Py_ssize_t n) {
    PyObject *old = PyDict_GetItemWithError(dict, key);
    if (old == NULL && PyErr_Occurred()) return -1;
    long long was = old != NULL ? PyLong_AsLongLong(old) : 0;
    PyObject *now = PyLong_FromLongLong(was + n);
    if (now == NULL) return -1;
    int rc = PyDict_SetItem(dict, key, now);
    Py_DECREF(now);
    return rc;
}

/* scan_lines' TakeLine for counting: an entry decided and counted (the GIL held) */
static int count_entry(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    (void)row;
    Counts *c = ctx;
    Row r;
    Span f[N_FIELDS];
    if (c->error || memchr(s, '{', (size_t)n) != NULL || !alb_row(s, n, &r, f)) return 0;
    if (!alb_head_time(f[1])) return 0;
    if (r.has_status) {
        if (r.status < N_STATUS) c->status[r.status]++;
        else {
            PyObject *key = PyLong_FromLongLong(r.status);
            if (key == NULL || count_add(c->more, key, 1) != 0) c->error = 1;
            Py_XDECREF(key);
        }
    }
    if (r.has_code && r.lb) { /* the ALB's own: a failure when the code has a symptom */
        Span label = r.has_target ? r.target : r.has_group ? r.group : SPAN_LIT("");
        PyObject *key = Py_BuildValue("(y#y#)", r.code.p, r.code.n, label.p, label.n);
        if (key == NULL || count_add(c->failures, key, 1) != 0) c->error = 1;
        Py_XDECREF(key);
    }
    return 1;
}

static PyObject *alb_counts(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    Counts *c = calloc(1, sizeof *c);
    Buf back = {0}, back_text = {0};
    PyObject *statuses = NULL, *out = NULL;
    if (c == NULL) { PyErr_NoMemory(); goto done; }
    c->more = PyDict_New();
    c->failures = PyDict_New();
    statuses = c->more;
    if (c->more == NULL || c->failures == NULL) goto done;
    /* whole lines: the empty "line" after the last newline is none */
    Py_ssize_t len = whole_lines_len(&data);
    scan_lines(data.buf, len, count_entry, c, &back, &back_text);
    if (c->error) goto done;
    if (back.failed || back_text.failed) { PyErr_NoMemory(); goto done; }
    if (counts_into(statuses, c->status, N_STATUS) != 0) goto done;
    out = Py_BuildValue("(OOy#)", statuses, c->failures, back_text.data ? back_text.data : "",
                        (Py_ssize_t)back_text.len);
done:
    if (c != NULL) {
        Py_XDECREF(c->more);
        Py_XDECREF(c->failures);
        free(c);
    }
    free(back.data);
    free(back_text.data);
    PyBuffer_Release(&data);
    return out;
}

static PyMethodDef module_methods[] = {
    {"alb_columns", alb_columns, METH_VARARGS,
     "alb_columns(data) -> (arrow schema, arrow array, lines, rows handed back (uint32 bytes), their text): "
     "the record columns "
     "of the ALB entries of a block whose shape leaves no doubt (parsers/lblogs/batch.py: alb_frame); "
     "alb_columns(data, fold) counts in the fold (alb_fold_new) the entries stats only counts instead, "
     "and gives their number sixth; alb_columns(data, None, True) counts the requests that surely "
     "answered by (status, minute, target) instead, and gives their groups' schema and array sixth "
     "and seventh (app/diagnose/lb.py _answer_groups)"},
    {"alb_fold_new", alb_fold_new, METH_NOARGS,
     "alb_fold_new() -> a fold: the tables alb_columns(data, fold) counts rows in, across blocks"},
    {"alb_fold_size", alb_fold_size, METH_O, "alb_fold_size(fold) -> (groups of its largest table, rows counted)"},
    {"alb_fold_take", alb_fold_take, METH_O,
     "alb_fold_take(fold) -> (timeline schema, array, target schema, array, group schema, array, codes schema, "
     "array, rows): "
     "its tables as frames, each with its counts `n`, then emptied (parsers/lblogs/fold.py)"},
    {"alb_counts", alb_counts, METH_VARARGS,
     "alb_counts(data) -> ({status: requests}, {(code, target or group): requests}, the lines handed back): "
     "what watch counts of the ALB entries of a block whose shape leaves no doubt, without polars "
     "(parsers/lblogs/counts.py)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_albscan", "AWS ALB access-log lines cut and decided in one native pass.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__albscan(void) {
    uint64_t seed;
    if (getentropy(&seed, sizeof seed) == 0) fold_seed ^= seed; /* the fold's hash (group_table.h) */
    return PyModule_Create(&module_def);
}
