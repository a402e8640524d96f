/*
 * why502.proxies.haproxy._hapscan -- HAProxy's httplog lines cut by HTTPLOG and turned into the
 * statistics engine's columns in one native pass.
 *
 * The optional fast path of HAProxy's stats reader (Python side: proxies/haproxy/stats.py,
 * httplog_fields).  The reference is that function's polars path: the regex log.HTTPLOG searched in
 * each line (polars' str.extract_groups, Python's re.search: leftmost-first, the same groups),
 * then its column expressions (the meanings of log.to_fields):
 *
 *   (?P<client>[\w.:\[\]-]+?):\d+ \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d)(?:\.\d+)?\]
 *   (?P<frontend>\S+) (?P<backend>[^/\s]+)/(?P<server>\S+)
 *   (?P<TR>-?\d{1,18})/(?P<Tw>...)/(?P<Tc>...)/(?P<Tr>...)/\+?(?P<Ta>-?\d{1,18})
 *   (?P<status>\d{3}) \+?(?P<bytes>\d+) \S+ \S+ (?P<ts>[-A-Za-z]{4}) \S+ \S+(?: \{[^}]*\})*
 *   (?: "(?P<request>[^"]*)"?)?
 *
 * (HAProxy's httplog format, configuration.txt 8.2.3: client:port [accept_date] frontend
 * backend/server TR/Tw/Tc/Tr/Ta status bytes_read captured_request_cookie
 * captured_response_cookie termination_state actconn/feconn/beconn/srv_conn/retries
 * srv_queue/backend_queue {captured headers} "request".)
 *
 * Only lines of printable ASCII are taken (so \w is [A-Za-z0-9_], \d is [0-9], \s is the space
 * and \S any other byte); every other line is handed back (its row) for the regex.  Why the
 * search is exact: the client class holds no space and `:\d+ \[` ends with one, so a match's
 * client is a run of class bytes ending in ":<digits>" right before " [", and a later start in
 * the same run leaves the rest of the match the same.  The leftmost match therefore starts at
 * the first such run, in line order, whose rest matches; its client is the run less its port.
 * Past the client each group is cut as the regex takes it: a token is the bytes up to the next
 * space, the backend ends at the first '/', the headers are " {...}" groups up to their first
 * '}', the request runs to the next quote or the line's end.
 *
 * The columns come back through the Arrow C data interface (native/arrow_buf.h); the scan runs
 * without the GIL.  `stats` reads raw blocks through httplog_block: the same cut, the columns
 * as the engine takes them, and the rows it only counts folded into groups (the fold, below).
 *
 * `why502 watch` (polars-free) has two entries of its own, below: httplog_counts, the same cutting
 * grouping the lines by what log.HttplogCounter counts of them, and httplog_quiet, log.quiet's
 * _OK.sub (tests/haproxy/test_hapscan_counts.py: the same as the regexes on every input).
 */
#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getentropy */
#endif
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "arrow_buf.h"
#include "group_table.h"
#include "unwrap_ascii.h"
#include "json_text.h"

/* the groups cut from a line */
enum { G_CLIENT, G_TIME, G_BACKEND, G_SERVER, G_TR, G_TW, G_TC, G_TRR, G_TA, G_STATUS, G_BYTES, G_TS,
       G_REQUEST, N_GROUPS };

/* the columns handed back: the row, then the statistics engine's variables with the meanings
 * of stats.py's polars expressions (proxies/haproxy/stats.py: FIELDS; log.to_fields per line);
 * upstream_addr is backend/server (or the backend alone for <NOSRV>), mapped to the config's
 * address by the caller */
enum { C_IDX, C_REMOTE_ADDR, C_TIME_LOCAL, C_REQUEST, C_STATUS, C_BYTES_SENT, C_REQUEST_TIME,
       C_UPSTREAM_ADDR, C_UPSTREAM_STATUS, C_CONNECT_TIME, C_HEADER_TIME, C_RESPONSE_TIME, N_COLS };

static const ColSpec SPEC[N_COLS] = {
    {"idx", "I"}, {"remote_addr", "u"}, {"time_local", "u"}, {"request", "u"}, {"status", "u"},
    {"body_bytes_sent", "u"}, {"request_time", "u"}, {"upstream_addr", "u"}, {"upstream_status", "u"},
    {"upstream_connect_time", "u"}, {"upstream_header_time", "u"}, {"upstream_response_time", "u"},
};

/* the columns as the engine takes them (httplog_block: stats.py's httplog_block, no polars step
 * after): the row numbered in the file, upstream_addr mapped to the config's address, and
 * _text, null (the rows taken pass the engine's checks; the others are handed back) */
enum { C_TEXT = N_COLS, N_FINAL };
static const ColSpec SPEC_FINAL[N_FINAL] = {
    {"_row", "l"}, {"remote_addr", "u"}, {"time_local", "u"}, {"request", "u"}, {"status", "u"},
    {"body_bytes_sent", "u"}, {"request_time", "u"}, {"upstream_addr", "u"}, {"upstream_status", "u"},
    {"upstream_connect_time", "u"}, {"upstream_header_time", "u"}, {"upstream_response_time", "u"},
    {"_text", "u"},
};

typedef struct {
    const char *p;
    Py_ssize_t n;
} Span;

static inline int is_dig(char c) { return c >= '0' && c <= '9'; }
static inline int upper(char c) { return c >= 'A' && c <= 'Z'; }
static inline int lower(char c) { return c >= 'a' && c <= 'z'; }

/* [\w.:\[\]-] on printable ASCII */
static inline int client_byte(char c) {
    return is_dig(c) || upper(c) || lower(c) || c == '_' || c == '.' || c == ':' || c == '[' || c == ']' ||
           c == '-';
}

/* \S+ then the space after it: the token at *p (>= 1 byte), *p moved past the space */
static int token_sp(const char **p, const char *end, Span *out) {
    const char *s = *p, *q = s;
    while (q < end && *q != ' ') q++;
    if (q == s || q == end) return 0;
    out->p = s;
    out->n = q - s;
    *p = q + 1;
    return 1;
}

/* -?\d{1,18} then `stop` */
static int timer(const char **p, const char *end, char stop, Span *out) {
    const char *s = *p, *q = s;
    if (q < end && *q == '-') q++;
    const char *d = q;
    while (q < end && is_dig(*q)) q++;
    if (q == d || q - d > 18 || q == end || *q != stop) return 0;
    out->p = s;
    out->n = q - s;
    *p = q + 1;
    return 1;
}

typedef struct {
    Span g[N_GROUPS];
    int has_request;
    const char *end; /* where the match ends (watch's counting: is there a second one after it) */
} Groups;

/* The regex's rest from the '[' at `b` (the client taken before it); 1 when it matches */
static int rest_at(const char *b, const char *end, Groups *g) {
    const char *p = b + 1;
    /* \d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d */
    if (end - p < 20) return 0;
    if (!(is_dig(p[0]) && is_dig(p[1]) && p[2] == '/' && upper(p[3]) && lower(p[4]) && lower(p[5]) &&
          p[6] == '/' && is_dig(p[7]) && is_dig(p[8]) && is_dig(p[9]) && is_dig(p[10]) && p[11] == ':' &&
          is_dig(p[12]) && is_dig(p[13]) && p[14] == ':' && is_dig(p[15]) && is_dig(p[16]) && p[17] == ':' &&
          is_dig(p[18]) && is_dig(p[19])))
        return 0;
    g->g[G_TIME] = (Span){p, 20};
    p += 20;
    if (p < end && *p == '.') { /* (?:\.\d+)? */
        const char *q = p + 1;
        while (q < end && is_dig(*q)) q++;
        if (q > p + 1) p = q;
    }
    if (end - p < 2 || p[0] != ']' || p[1] != ' ') return 0;
    p += 2;
    Span frontend, bs;
    if (!token_sp(&p, end, &frontend)) return 0;
    if (!token_sp(&p, end, &bs)) return 0;
    const char *slash = memchr(bs.p, '/', (size_t)bs.n);
    if (slash == NULL || slash == bs.p || slash + 1 == bs.p + bs.n) return 0;
    g->g[G_BACKEND] = (Span){bs.p, slash - bs.p};
    g->g[G_SERVER] = (Span){slash + 1, bs.p + bs.n - slash - 1};
    if (!timer(&p, end, '/', &g->g[G_TR]) || !timer(&p, end, '/', &g->g[G_TW]) ||
        !timer(&p, end, '/', &g->g[G_TC]) || !timer(&p, end, '/', &g->g[G_TRR]))
        return 0;
    if (p < end && *p == '+') p++;
    if (!timer(&p, end, ' ', &g->g[G_TA])) return 0;
    if (end - p < 4 || !is_dig(p[0]) || !is_dig(p[1]) || !is_dig(p[2]) || p[3] != ' ') return 0;
    g->g[G_STATUS] = (Span){p, 3};
    p += 4;
    if (p < end && *p == '+') p++;
    const char *d = p;
    while (p < end && is_dig(*p)) p++;
    if (p == d || p == end || *p != ' ') return 0;
    g->g[G_BYTES] = (Span){d, p - d};
    p++;
    Span skip;
    if (!token_sp(&p, end, &skip) || !token_sp(&p, end, &skip)) return 0; /* the cookies */
    if (end - p < 5) return 0;
    for (int k = 0; k < 4; k++)
        if (!(upper(p[k]) || lower(p[k]) || p[k] == '-')) return 0;
    if (p[4] != ' ') return 0;
    g->g[G_TS] = (Span){p, 4};
    p += 5;
    if (!token_sp(&p, end, &skip)) return 0; /* actconn/... */
    const char *queues = p;                 /* \S+ (greedy: the whole token, one byte at least) */
    while (p < end && *p != ' ') p++;
    if (p == queues) return 0;
    /* (?: \{[^}]*\})* */
    while (end - p >= 2 && p[0] == ' ' && p[1] == '{') {
        const char *close = memchr(p + 2, '}', (size_t)(end - p - 2));
        if (close == NULL) break;
        p = close + 1;
    }
    /* (?: "(?P<request>[^"]*)"?)? */
    g->has_request = 0;
    g->end = p;
    if (end - p >= 2 && p[0] == ' ' && p[1] == '"') {
        const char *r = p + 2;
        const char *q = memchr(r, '"', (size_t)(end - r));
        g->g[G_REQUEST] = (Span){r, (q ? q : end) - r};
        g->has_request = 1;
        g->end = q ? q + 1 : end;
    }
    return 1;
}

/* log.HTTPLOG.search in the line [s, end), its "[" at `from` or after (the bytes before `from`
 * read as the regex's look-behind reads them): 1 with the groups when it matches.  `doubt`, when
 * not NULL, is set when the match's port has more than 20 digits: log._FAST's look-behind (one
 * per port length, up to 20) does not take that "[", the search does */
static int httplog_search(const char *s, const char *from, const char *end, Groups *g, int *doubt) {
    const char *p = from;
    while (end - p >= 2 && (p = memchr(p, '[', (size_t)(end - p))) != NULL) {
        const char *b = p++;
        if (b - s < 4 || b[-1] != ' ') continue;
        const char *q = b - 1; /* the space; before it \d+, then ':' */
        const char *d = q;
        while (d > s && is_dig(d[-1])) d--;
        if (d == q || d - s < 2 || d[-1] != ':') continue;
        const char *c = d - 1; /* the colon: the client is the run of class bytes ending there */
        const char *a = c;
        while (a > s && client_byte(a[-1])) a--;
        if (a == c) continue;
        if (rest_at(b, end, g)) {
            g->g[G_CLIENT] = (Span){a, c - a};
            if (doubt != NULL && q - d > 20) *doubt = 1;
            return 1;
        }
    }
    return 0;
}

/* log.HTTPLOG.search on the line: 1 with the groups when it matches */
static int httplog_row(const char *s, Py_ssize_t n, Groups *g) {
    if (!printable(s, n)) return -1;
    return httplog_search(s, s, s + n, g, NULL);
}

/* The fold (issue 28 item 2; nginx's is proxies/nginx/_scan_fold.h, BENCHMARKS.md stop 51): the
 * rows the statistics engine only counts, counted here into groups instead of handed over as
 * columns.  The engine's aggregation (evidence/stats/reduce.py, Reducer._aggregate) reads a row
 * that is no 5xx and made one attempt at most for four things only -- the request count, the
 * timeline (rows per minute key, status, host), the attempts (rows per distinct
 * $upstream_addr/_status/_connect_time/_header_time/_response_time strings) and the last answered
 * row per $upstream_addr -- so such a row is grouped by those same strings, with the meanings of
 * RowPlan.typed and the engine's checks (LineParser.regex_ok):
 *
 *   - an httplog row makes one attempt (upstream_addr is backend/server or the backend: no
 *     ", " or " : " in it; the caller turns the fold off when a config address could hold one);
 *   - five: status >= 500, those rows go out as columns (kept one by one for the error-log join);
 *   - a line whose time the engine's shape check refuses (_shape_ok) is handed back (take_line);
 *   - the minute key: the time's first 17 bytes (minute_expr: str.slice(0, 17) of $time_local,
 *     which is the time, a space and the zone);
 *   - has_up: upstream_addr not "-" (a backend named "-" with <NOSRV>); answered: has_up and
 *     not 444/499, the row number and time (the 20 bytes in the line; the zone added at the end)
 *     of the last such row per upstream_addr.
 *
 * The host is no key part: httplog has none (stats.py gives the engine "-", as for every
 * variable it does not fill).  Groups are keyed by the backend/server read, mapped to the
 * config's addresses when they are handed over (fold_result), as the columns' are when written
 * (AddrMap); the fold runs only in httplog_block, whose frames are the engine's as they are. */
typedef struct {
    GroupTable timeline, attempts, answered;
    int64_t rows;
} Fold;

/* the config's address of each backend/server (stats.py: server_addresses), as polars'
 * replace() maps the upstream_addr column: a value equal to a name becomes its address */
typedef struct {
    GroupTable names; /* a group per name; its id indexes `where` */
    Buf addrs;        /* the addresses' bytes */
    Buf where;        /* per id: (offset, length) in addrs, as two size_t */
    Buf key;          /* a look-up's key */
    int failed;
} AddrMap;

/* the address of the name p[0, n), or the name itself */
static void addr_of(AddrMap *m, const char *p, Py_ssize_t n, const char **out, Py_ssize_t *out_n) {
    *out = p;
    *out_n = n;
    GroupTable *t = &m->names;
    if (t->used == 0 || n > UINT32_MAX - 8) return;
    uint32_t len = (uint32_t)n;
    m->key.len = 0;
    buf_put(&m->key, (const char *)&len, sizeof len); /* the key as gt_part writes it */
    buf_put(&m->key, p, (size_t)n);
    if (m->key.failed) { m->failed = 1; return; }
    uint64_t h = fold_hash(m->key.data, m->key.len);
    for (size_t i = (size_t)h & (t->cap - 1); t->slots[i].len != 0; i = (i + 1) & (t->cap - 1)) {
        const FoldGroup *g = &t->slots[i];
        if (g->hash == h && g->len == m->key.len && memcmp(t->arena.data + g->off, m->key.data, g->len) == 0) {
            size_t at[2];
            memcpy(at, m->where.data + 2 * sizeof(size_t) * g->id, sizeof at);
            *out = m->addrs.data + at[0];
            *out_n = (Py_ssize_t)at[1];
            return;
        }
    }
}

/* the map of a {name: address} dict (str: str); 0, or -1 with an error set */
static int addr_map(PyObject *dict, AddrMap *m) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    if (dict == Py_None) return 0;
    if (!PyDict_Check(dict)) { PyErr_SetString(PyExc_TypeError, "addresses is a dict"); return -1; }
    while (PyDict_Next(dict, &pos, &k, &v)) {
        Py_ssize_t kn, vn;
        const char *kp = PyUnicode_AsUTF8AndSize(k, &kn), *vp = kp ? PyUnicode_AsUTF8AndSize(v, &vn) : NULL;
        if (vp == NULL) return -1;
        size_t at[2] = {m->addrs.len, (size_t)vn};
        buf_put(&m->addrs, vp, (size_t)vn);
        buf_put(&m->where, (const char *)at, sizeof at);
        gt_part(&m->names, kp, kn);
        if (gt_count(&m->names, 0, 0, 0) != (int64_t)m->names.used - 1 || m->addrs.failed || m->where.failed) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

static void addr_free(AddrMap *m) {
    gt_free(&m->names);
    free(m->addrs.data);
    free(m->where.data);
    free(m->key.data);
}

typedef struct {
    NCol *cols;
    int64_t taken;
    const char *zone;
    Py_ssize_t zone_n;
    Fold *fold;        /* NULL: every row as columns */
    const char *data;  /* the block (the answered times are offsets in it) */
    AddrMap *map;      /* NULL: the columns of httplog_columns; else httplog_block's (SPEC_FINAL) */
    int64_t first_row; /* (httplog_block) the block's first row in its file */
} Taker;

/* -?\d{1,18} as a number (fits: below 10**18) */
static int64_t ms_of(Span t) {
    int neg = t.n > 0 && t.p[0] == '-';
    int64_t v = 0;
    for (Py_ssize_t k = neg; k < t.n; k++) v = v * 10 + (t.p[k] - '0');
    return neg ? -v : v;
}

static inline void put_text(NCol *c, const char *p, Py_ssize_t n) {
    col_put(&c->data, p, (size_t)n);
    ncol_utf8_end(c, 1);
}

/* stats.py's _secs: max(ms, 0) / 1000 with three decimals, by integer arithmetic, into
 * out[32]; its length (snprintf's "%lld.%03lld" was ~9 % of the pass) */
static int secs_text(char *out, int64_t ms) {
    char rev[24];
    int n = 0, k = 0;
    if (ms < 0) ms = 0;
    int64_t whole = ms / 1000, frac = ms % 1000;
    do { rev[k++] = (char)('0' + whole % 10); whole /= 10; } while (whole > 0);
    while (k > 0) out[n++] = rev[--k];
    out[n++] = '.';
    out[n++] = (char)('0' + frac / 100);
    out[n++] = (char)('0' + frac / 10 % 10);
    out[n++] = (char)('0' + frac % 10);
    return n;
}

static void put_secs(NCol *c, int64_t ms) {
    char text[32];
    put_text(c, text, secs_text(text, ms));
}

static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* the engine's shape check of $time_local on this time (parser.py _shape_ok: a year in
 * 1970-9998, one of the twelve month names; the '/' and ':' the cut checked already).  A line
 * that fails it is handed back: its row is counted unparsed, with its text as a sample, which
 * the polars path has at hand (the raw-block reader has no text of the rows taken here) */
static int time_plausible(const char *t) {
    int year = (t[7] - '0') * 1000 + (t[8] - '0') * 100 + (t[9] - '0') * 10 + (t[10] - '0');
    if (year < 1970 || year >= 9999) return 0;
    for (int m = 0; m < 12; m++)
        if (memcmp(t + 3, MONTHS + 3 * m, 3) == 0) return 1;
    return 0;
}

/* the row counted in the fold: 1, or 0 when it goes out as columns.  Without the GIL. */
static int fold_row(Taker *t, const Groups *g, int st, uint32_t row, const char *uct, int uct_n, const char *uht,
                    int uht_n, const char *urt, int urt_n) {
    Fold *f = t->fold;
    if (st >= 500) return 0;
    Span backend = g->g[G_BACKEND], srv = g->g[G_SERVER], status = g->g[G_STATUS];
    int16_t s16 = (int16_t)st; /* the engine's status (RowPlan.typed: Int16) */
    gt_part(&f->timeline, g->g[G_TIME].p, 17);
    gt_part(&f->timeline, (const char *)&s16, sizeof s16);
    gt_count(&f->timeline, row, 0, 0);
    int nosrv = srv.n == 7 && memcmp(srv.p, "<NOSRV>", 7) == 0;
    /* upstream_addr: backend/server (contiguous in the line), or the backend alone */
    Py_ssize_t ua_n = nosrv ? backend.n : srv.p + srv.n - backend.p;
    if (!(ua_n == 1 && backend.p[0] == '-')) { /* has_up */
        gt_part(&f->attempts, backend.p, ua_n);
        gt_part(&f->attempts, status.p, status.n);
        gt_part(&f->attempts, uct, uct_n);
        gt_part(&f->attempts, uht, uht_n);
        gt_part(&f->attempts, urt, urt_n);
        gt_count(&f->attempts, row, 0, 0);
        if (st != 444 && st != 499) {
            gt_part(&f->answered, backend.p, ua_n);
            gt_count(&f->answered, row, (Py_ssize_t)(g->g[G_TIME].p - t->data), g->g[G_TIME].n);
        }
    }
    f->rows++;
    return 1;
}

/* scan_lines' TakeLine: a line HTTPLOG reads into the columns; a line it does not read is also
 * taken (no row: the regex would leave it too), one that is not printable ASCII handed back */
static int take_line(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    Taker *t = ctx;
    Groups g;
    int got = httplog_row(s, n, &g);
    if (got < 0) return 0;
    if (got == 0) return 1;
    if (!time_plausible(g.g[G_TIME].p)) return 0;
    NCol *c = t->cols;
    int64_t tr = ms_of(g.g[G_TR]), tw = ms_of(g.g[G_TW]), tc = ms_of(g.g[G_TC]), trr = ms_of(g.g[G_TRR]),
            ta = ms_of(g.g[G_TA]);
    int connected = tc >= 0;
    /* the server's headers reached the client: its status, not one HAProxy made on the way
     * (log.to_fields: the termination state's second letter not one of HAProxy's own phases) */
    char phase = g.g[G_TS].p[1];
    int relayed = connected && trr >= 0 && !memchr("RQCHT", phase, 5);
    if (t->fold != NULL) {
        char uct[32], uht[32], urt[32];
        int uct_n = connected ? secs_text(uct, tc) : (uct[0] = '-', 1);
        int uht_n = relayed ? secs_text(uht, tc + trr) : (uht[0] = '-', 1);
        int urt_n = connected ? secs_text(urt, ta - (tr > 0 ? tr : 0) - (tw > 0 ? tw : 0)) : (urt[0] = '-', 1);
        const char *sp = g.g[G_STATUS].p;
        int st = (sp[0] - '0') * 100 + (sp[1] - '0') * 10 + (sp[2] - '0');
        if (fold_row(t, &g, st, row, uct, uct_n, uht, uht_n, urt, urt_n)) return 1;
    }
    if (t->map != NULL) {
        int64_t at = t->first_row + row;
        ncol_fixed(&c[C_IDX], &at, sizeof at);
        ncol_utf8_end(&c[C_TEXT], 0);
    } else {
        ncol_fixed(&c[C_IDX], &row, sizeof row);
    }
    put_text(&c[C_REMOTE_ADDR], g.g[G_CLIENT].p, g.g[G_CLIENT].n);
    col_put(&c[C_TIME_LOCAL].data, g.g[G_TIME].p, (size_t)g.g[G_TIME].n);
    col_put(&c[C_TIME_LOCAL].data, " ", 1);
    put_text(&c[C_TIME_LOCAL], t->zone, t->zone_n);
    if (g.has_request && g.g[G_REQUEST].n > 0) put_text(&c[C_REQUEST], g.g[G_REQUEST].p, g.g[G_REQUEST].n);
    else put_text(&c[C_REQUEST], "-", 1); /* (the request holds no quote to escape as %22) */
    put_text(&c[C_STATUS], g.g[G_STATUS].p, g.g[G_STATUS].n);
    put_text(&c[C_BYTES_SENT], g.g[G_BYTES].p, g.g[G_BYTES].n);
    put_secs(&c[C_REQUEST_TIME], ta);
    Span srv = g.g[G_SERVER];
    int nosrv = srv.n == 7 && memcmp(srv.p, "<NOSRV>", 7) == 0;
    if (t->map != NULL) { /* backend/server (contiguous in the line) or the backend, mapped */
        const char *ua;
        Py_ssize_t ua_n;
        addr_of(t->map, g.g[G_BACKEND].p, nosrv ? g.g[G_BACKEND].n : srv.p + srv.n - g.g[G_BACKEND].p, &ua, &ua_n);
        put_text(&c[C_UPSTREAM_ADDR], ua, ua_n);
    } else if (nosrv) {
        put_text(&c[C_UPSTREAM_ADDR], g.g[G_BACKEND].p, g.g[G_BACKEND].n);
    } else {
        col_put(&c[C_UPSTREAM_ADDR].data, g.g[G_BACKEND].p, (size_t)g.g[G_BACKEND].n);
        col_put(&c[C_UPSTREAM_ADDR].data, "/", 1);
        put_text(&c[C_UPSTREAM_ADDR], srv.p, srv.n);
    }
    put_text(&c[C_UPSTREAM_STATUS], g.g[G_STATUS].p, g.g[G_STATUS].n);
    if (connected) put_secs(&c[C_CONNECT_TIME], tc);
    else put_text(&c[C_CONNECT_TIME], "-", 1);
    if (relayed) put_secs(&c[C_HEADER_TIME], tc + trr);
    else put_text(&c[C_HEADER_TIME], "-", 1);
    if (connected) put_secs(&c[C_RESPONSE_TIME], ta - (tr > 0 ? tr : 0) - (tw > 0 ? tw : 0));
    else put_text(&c[C_RESPONSE_TIME], "-", 1);
    t->taken++;
    return 1;
}

/* part 0 of every group (a name) as its address, utf8 */
static struct ArrowArray *mapped_names(const GroupTable *t, AddrMap *m) {
    NCol c;
    memset(&c, 0, sizeof c);
    ncol_utf8_start(&c);
    for (size_t s = 0; s < t->cap; s++) {
        const FoldGroup *g = &t->slots[s];
        if (g->len == 0) continue;
        uint32_t n;
        const char *v = gt_key_part(t, g, 0, &n), *ua;
        Py_ssize_t ua_n;
        addr_of(m, v, n, &ua, &ua_n);
        put_text(&c, ua, ua_n);
    }
    if (ncol_failed(&c) || m->failed) { ncol_free(&c); return NULL; }
    return ncol_array(&c, 1, (int64_t)t->used);
}

/* `n` rows of the text s[0, len) */
static struct ArrowArray *same_text(size_t n, const char *v, Py_ssize_t len) {
    NCol c;
    memset(&c, 0, sizeof c);
    ncol_utf8_start(&c);
    for (size_t k = 0; k < n; k++) put_text(&c, v, len);
    if (ncol_failed(&c)) { ncol_free(&c); return NULL; }
    return ncol_array(&c, 1, (int64_t)n);
}

/* the answered groups' last times with the zone ($time_local: the time, a space, the zone),
 * and their last rows numbered in the file (int64) */
static struct ArrowArray *last_times(const GroupTable *t, const char *data, const char *zone, Py_ssize_t zone_n) {
    NCol c;
    memset(&c, 0, sizeof c);
    ncol_utf8_start(&c);
    for (size_t s = 0; s < t->cap; s++) {
        const FoldGroup *g = &t->slots[s];
        if (g->len == 0) continue;
        col_put(&c.data, data + g->last_at, g->last_len);
        col_put(&c.data, " ", 1);
        put_text(&c, zone, zone_n);
    }
    if (ncol_failed(&c)) { ncol_free(&c); return NULL; }
    return ncol_array(&c, 1, (int64_t)t->used);
}

static struct ArrowArray *last_rows(const GroupTable *t, int64_t first_row) {
    Buf b = {0};
    for (size_t s = 0; s < t->cap; s++) {
        const FoldGroup *g = &t->slots[s];
        if (g->len == 0) continue;
        int64_t x = first_row + g->last_row;
        buf_put(&b, (const char *)&x, sizeof x);
    }
    if (b.failed) { free(b.data); return NULL; }
    return child_array((int64_t)t->used, buf_take(&b), NULL);
}

/* the fold's groups as the engine's three frames (evidence/stats/parser.py Folded, as
 * Reducer._aggregate groups its own rows) -- timeline (minute, status int16, host "-": httplog
 * has none and stats.py gives the engine "-" for a variable it does not fill, len uint32: polars'
 * len), attempts (ua mapped, us, uct, uht, urt, len), answered (ua mapped, time with the zone,
 * _ord: the row in the file) -- as capsules, and the rows folded; NULL with an error set */
static PyObject *fold_result(const Fold *f, const Taker *t) {
    PyObject *caps[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    static const char *const att[] = {"us", "uct", "uht", "urt"};
    Frame tl = {NULL, NULL}, at = {NULL, NULL}, an = {NULL, NULL};
    int ok = !f->timeline.failed && !f->attempts.failed && !f->answered.failed
             && frame_new(&tl, (int64_t)f->timeline.used, 4) == 0
             && frame_add(&tl, "u", "minute", 0, gt_nullable(&f->timeline, 0, 'u')) == 0
             && frame_add(&tl, "s", "status", 0, gt_fixed(&f->timeline, 's', 1)) == 0
             && frame_add(&tl, "u", "host", 0, same_text(f->timeline.used, "-", 1)) == 0
             && frame_add(&tl, "I", "len", 0, gt_fixed(&f->timeline, 'c', 0)) == 0
             && frame_capsules(&tl, &caps[0], &caps[1]) == 0
             && frame_new(&at, (int64_t)f->attempts.used, 6) == 0
             && frame_add(&at, "u", "ua", 0, mapped_names(&f->attempts, t->map)) == 0;
    for (int k = 0; ok && k < 4; k++) ok = frame_add(&at, "u", att[k], 0, gt_nullable(&f->attempts, k + 1, 'u')) == 0;
    ok = ok && frame_add(&at, "I", "len", 0, gt_fixed(&f->attempts, 'c', 0)) == 0
         && frame_capsules(&at, &caps[2], &caps[3]) == 0
         && frame_new(&an, (int64_t)f->answered.used, 3) == 0
         && frame_add(&an, "u", "ua", 0, mapped_names(&f->answered, t->map)) == 0
         && frame_add(&an, "u", "time", 0, last_times(&f->answered, t->data, t->zone, t->zone_n)) == 0
         && frame_add(&an, "l", "_ord", 0, last_rows(&f->answered, t->first_row)) == 0
         && frame_capsules(&an, &caps[4], &caps[5]) == 0;
    frame_free(&tl);
    frame_free(&at);
    frame_free(&an);
    if (!ok) {
        for (int k = 0; k < 6; k++) Py_XDECREF(caps[k]);
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return NULL;
    }
    return Py_BuildValue("(NNNNNNL)", caps[0], caps[1], caps[2], caps[3], caps[4], caps[5], (long long)f->rows);
}

static PyObject *httplog_columns(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    const char *zone;
    Py_ssize_t zone_n;
    if (!PyArg_ParseTuple(args, "y*y#", &data, &zone, &zone_n)) return NULL;
    NCol cols[N_COLS];
    memset(cols, 0, sizeof cols);
    for (int k = C_REMOTE_ADDR; k < N_COLS; k++) ncol_utf8_start(&cols[k]);
    Taker t = {cols, 0, zone, zone_n, NULL, data.buf, NULL, 0};
    PyObject *out = pass_result(&data, take_line, &t, &t.taken, cols, N_COLS, SPEC);
    PyBuffer_Release(&data);
    return out;
}

static PyObject *httplog_block(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    const char *zone;
    Py_ssize_t zone_n;
    long long first_row;
    int folding;
    PyObject *addresses;
    if (!PyArg_ParseTuple(args, "y*y#LpO", &data, &zone, &zone_n, &first_row, &folding, &addresses)) return NULL;
    NCol cols[N_FINAL];
    memset(cols, 0, sizeof cols);
    for (int k = C_REMOTE_ADDR; k < N_FINAL; k++) ncol_utf8_start(&cols[k]);
    Fold fold;
    memset(&fold, 0, sizeof fold);
    AddrMap map;
    memset(&map, 0, sizeof map);
    Taker t = {cols, 0, zone, zone_n, folding ? &fold : NULL, data.buf, &map, (int64_t)first_row};
    PyObject *out = NULL;
    if (first_row < 0 || first_row > INT64_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "bad first row");
        for (int k = 0; k < N_FINAL; k++) ncol_free(&cols[k]);
    } else if (addr_map(addresses, &map) != 0) {
        for (int k = 0; k < N_FINAL; k++) ncol_free(&cols[k]);
    } else {
        out = pass_result(&data, take_line, &t, &t.taken, cols, N_FINAL, SPEC_FINAL);
        if (out != NULL && map.failed) { Py_CLEAR(out); PyErr_NoMemory(); }
    }
    if (out != NULL) {
        PyObject *groups = folding ? fold_result(&fold, &t) : Py_None;
        if (groups == Py_None) Py_INCREF(groups);
        PyObject *both = groups != NULL ? Py_BuildValue("(ON)", out, groups) : NULL;
        Py_DECREF(out);
        out = both;
    }
    gt_free(&fold.timeline);
    gt_free(&fold.attempts);
    gt_free(&fold.answered);
    addr_free(&map);
    PyBuffer_Release(&data);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* watch's counting (Python side: log.HttplogCounter.count)                                   */
/* ------------------------------------------------------------------------------------------ */

/* httplog_counts: the lines of a block grouped by what HttplogCounter counts of them -- the raw
 * (backend, server, TR, Tw, Tc, Ta, status) its regex captures (log._COUNTED) -- each group's
 * meaning then read once in Python, as the regex's groups are.  The reference is that regex:
 * log._FAST.findall over the block, log._BLOCK.findall (one match a line, the line's search)
 * when _FAST found more matches than the block has newlines.  A line the pass takes is one of
 * printable ASCII on which both give the same: either no match (the search finds none, so
 * neither does _FAST, whose matches are the search's with a port of at most 20 digits), or
 * exactly one _FAST match, the search's -- so the caller's count of _FAST's matches (the lines
 * taken and those of the lines handed back) decides between the two as the regex path does.
 * Handed back (for the regex) is every other line: not printable ASCII, a match whose port has
 * more than 20 digits (the search takes it, _FAST does not), a "[" after the match at which the
 * search would match again (_FAST's findall goes on after a match: two in one line). */

static const int COUNTED[] = {G_BACKEND, G_SERVER, G_TR, G_TW, G_TC, G_TA, G_STATUS};
#define N_COUNTED ((int)(sizeof COUNTED / sizeof COUNTED[0]))

typedef struct {
    uint64_t hash;
    size_t off;   /* the key's bytes in Tally.keys */
    uint32_t len;
    int64_t n;    /* 0: an empty slot */
} Slot;

/* the groups: an open-addressing table of keys (the counted fields joined by NUL bytes, which a
 * printable line holds none of), filled without the GIL */
typedef struct {
    Buf keys, key;
    Slot *slots;
    size_t cap, used;
    int failed;
} Tally;

static uint64_t key_hash(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t k = 0; k < n; k++) h = (h ^ (unsigned char)p[k]) * 1099511628211ULL;
    return h;
}

/* a table of elements of `size` bytes that each start with a Slot (open addressing, linear
 * probing): twice the room (`first` elements at the start), every group moved over */
static int slots_grow(void **slots, size_t *cap, size_t size, size_t first) {
    size_t room = *cap ? *cap * 2 : first;
    char *to = calloc(room, size), *from = *slots;
    if (to == NULL) return -1;
    for (size_t k = 0; k < *cap; k++) {
        const Slot *sl = (const Slot *)(from + k * size);
        if (sl->n == 0) continue;
        size_t at = (size_t)sl->hash & (room - 1);
        while (((const Slot *)(to + at * size))->n != 0) at = (at + 1) & (room - 1);
        memcpy(to + at * size, sl, size);
    }
    free(from);
    *slots = to;
    *cap = room;
    return 0;
}

/* the element of the key (p, n) hashed h: the group's, or the empty one where it would go */
static Slot *slot_find(void *slots, size_t cap, size_t size, const char *keys, const char *p, size_t n, uint64_t h) {
    for (size_t at = (size_t)h & (cap - 1);; at = (at + 1) & (cap - 1)) {
        Slot *sl = (Slot *)((char *)slots + at * size);
        if (sl->n == 0 || (sl->hash == h && sl->len == n && memcmp(keys + sl->off, p, n) == 0)) return sl;
    }
}

static int tally_grow(Tally *t) {
    return slots_grow((void **)&t->slots, &t->cap, sizeof(Slot), 256);
}

/* one more line of the group t->key */
static int tally_add(Tally *t) {
    if (t->key.failed || ((t->used + 1) * 2 > t->cap && tally_grow(t) != 0)) return -1;
    const char *p = t->key.data;
    size_t n = t->key.len;
    uint64_t h = key_hash(p, n);
    Slot *sl = slot_find(t->slots, t->cap, sizeof(Slot), t->keys.data, p, n, h);
    if (sl->n != 0) {
        sl->n++;
        return 0;
    }
    size_t off = t->keys.len;
    buf_put(&t->keys, p, n);
    if (t->keys.failed || n > UINT32_MAX) return -1;
    *sl = (Slot){h, off, (uint32_t)n, 1};
    t->used++;
    return 0;
}

/* scan_lines' TakeLine for counting (without the GIL): a line whose reading leaves no doubt */
static int count_line(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    (void)row;
    Tally *t = ctx;
    Groups g, again;
    int doubt = 0;
    if (t->failed || !printable(s, n)) return 0;
    if (!httplog_search(s, s, s + n, &g, &doubt)) return 1; /* no match: nothing to count */
    if (doubt) return 0;
    const char *end = s + n;
    if (g.end < end && memchr(g.end, '[', (size_t)(end - g.end)) != NULL &&
        httplog_search(s, g.end, end, &again, &doubt))
        return 0; /* a second match in the line */
    t->key.len = 0;
    for (int k = 0; k < N_COUNTED; k++) {
        if (k) buf_put(&t->key, "", 1); /* the NUL */
        buf_put(&t->key, g.g[COUNTED[k]].p, (size_t)g.g[COUNTED[k]].n);
    }
    if (tally_add(t) != 0) {
        t->failed = 1;
        return 0;
    }
    return 1;
}

/* a key of `fields` values joined by NUL bytes as a tuple of str; NULL with an error set */
static PyObject *key_tuple(const char *p, size_t len, int fields) {
    PyObject *tup = PyTuple_New(fields);
    if (tup == NULL) return NULL;
    const char *end = p + len;
    for (int k = 0; k < fields; k++) {
        const char *q = k + 1 < fields ? memchr(p, '\0', (size_t)(end - p)) : end;
        if (q == NULL) q = end; /* (never: the key holds fields - 1 NULs) */
        PyObject *v = PyUnicode_DecodeASCII(p, q - p, NULL);
        if (v == NULL) { Py_DECREF(tup); return NULL; }
        PyTuple_SET_ITEM(tup, k, v);
        p = q < end ? q + 1 : end;
    }
    return tup;
}

/* the group of slot `sl` as the regex's tuple of str; NULL with an error set */
static PyObject *group_tuple(const Tally *t, const Slot *sl) {
    return key_tuple(t->keys.data + sl->off, sl->len, N_COUNTED);
}

static PyObject *httplog_counts(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    Tally t = {{0}, {0}, NULL, 0, 0, 0};
    Buf back = {0}, back_text = {0};
    PyObject *groups = NULL, *out = NULL;
    int failed = 0;
    int64_t lines = 0;
    Py_ssize_t len = whole_lines_len(&data); /* the empty "line" after the last newline is none */
    int ends = len != data.len;
    Py_BEGIN_ALLOW_THREADS
    if (tally_grow(&t) != 0) t.failed = 1;
    else lines = scan_lines(data.buf, len, count_line, &t, &back, &back_text);
    failed = t.failed || back.failed || back_text.failed;
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_NoMemory(); goto done; }
    if ((groups = PyDict_New()) == NULL) goto done;
    for (size_t k = 0; k < t.cap; k++) {
        if (t.slots[k].n == 0) continue;
        PyObject *key = group_tuple(&t, &t.slots[k]);
        PyObject *v = key != NULL ? PyLong_FromLongLong(t.slots[k].n) : NULL;
        int rc = v != NULL ? PyDict_SetItem(groups, key, v) : -1;
        Py_XDECREF(key);
        Py_XDECREF(v);
        if (rc != 0) goto done;
    }
    /* the block's newlines: its lines less the last one without a newline (none, when it ends in one) */
    out = Py_BuildValue("(Oy#L)", groups, back_text.data ? back_text.data : "", (Py_ssize_t)back_text.len,
                        (long long)(lines - 1 + ends));
done:
    Py_XDECREF(groups);
    free(t.slots);
    free(t.keys.data);
    free(t.key.data);
    free(back.data);
    free(back_text.data);
    PyBuffer_Release(&data);
    return out;
}

/* httplog_quiet: log._OK.sub(b"", block) -- the block without the lines of requests that went
 * well (watch's error-log side: log.quiet).  _OK is a bytes pattern, so \S is any byte but
 * " \t\n\r\f\v" and \d is [0-9]; its greedy prefix ^[^\n]* tries every "] " of the line (the
 * last first), so a line goes when the rest matches after any of them, and only with its
 * newline (a last line without one stays).  Every line is decided here: no line goes back. */

static inline int ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* \S+ then " ": *p moved past the space; the token's length, 0 when there is none */
static Py_ssize_t ok_token(const char **p, const char *end) {
    const char *q = *p;
    while (q < end && !ws(*q)) q++;
    if (q == *p || q == end || *q != ' ') return 0;
    Py_ssize_t n = q - *p;
    *p = q + 1;
    return n;
}

/* \+?\d+ (plus=1) or -?\d+, then `stop` */
static int ok_number(const char **p, const char *end, char sign, char stop) {
    const char *q = *p;
    if (q < end && *q == sign) q++;
    const char *d = q;
    while (q < end && is_dig(*q)) q++;
    if (q == d || q == end || *q != stop) return 0;
    *p = q + 1;
    return 1;
}

/* _OK after "] ": \S+ \S+/\S+ -?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+ [1-4]\d\d \+?\d+ \S+ \S+ ---- */
static int ok_rest(const char *p, const char *end) {
    if (!ok_token(&p, end)) return 0;
    const char *name = p;
    Py_ssize_t n = ok_token(&p, end);
    if (n < 3 || memchr(name + 1, '/', (size_t)(n - 2)) == NULL) return 0; /* \S+/\S+ */
    for (int k = 0; k < 4; k++)
        if (!ok_number(&p, end, '-', '/')) return 0;
    if (p < end && *p == '+') p++;
    if (!ok_number(&p, end, '-', ' ')) return 0;
    if (end - p < 4 || p[0] < '1' || p[0] > '4' || !is_dig(p[1]) || !is_dig(p[2]) || p[3] != ' ') return 0;
    p += 4;
    if (!ok_number(&p, end, '+', ' ')) return 0;
    if (!ok_token(&p, end) || !ok_token(&p, end)) return 0;
    return end - p >= 5 && memcmp(p, "---- ", 5) == 0;
}

static int ok_line(const char *s, const char *end) {
    for (const char *p = s; end - p >= 2 && (p = memchr(p, ']', (size_t)(end - p - 1))) != NULL; p++)
        if (p[1] == ' ' && ok_rest(p + 2, end)) return 1;
    return 0;
}

/* A block without " ---- " holds no such line (_OK needs it): the block itself is handed back,
 * found by glibc's memmem, ~3x the speed of Python's `in` on the 1 MiB blocks watch reads (the
 * check was a tenth of watch's CPU on an Apache error log, where no line has it: BENCHMARKS.md
 * stop 73) */
static PyObject *httplog_quiet(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    PyObject *block;
    if (!PyArg_ParseTuple(args, "O", &block) || PyObject_GetBuffer(block, &data, PyBUF_SIMPLE) != 0) return NULL;
    if (PyBytes_CheckExact(block) && memmem(data.buf, (size_t)data.len, " ---- ", 6) == NULL) {
        PyBuffer_Release(&data);
        return Py_NewRef(block);
    }
    Buf kept = {0};
    PyObject *out = NULL;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    const char *s = data.buf, *end = s + data.len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL) { buf_put(&kept, s, (size_t)(end - s)); break; }
        if (!ok_line(s, nl)) buf_put(&kept, s, (size_t)(nl + 1 - s));
        s = nl + 1;
    }
    failed = kept.failed;
    Py_END_ALLOW_THREADS
    if (failed) PyErr_NoMemory();
    else out = PyBytes_FromStringAndSize(kept.data ? kept.data : "", (Py_ssize_t)kept.len);
    free(kept.data);
    PyBuffer_Release(&data);
    return out;
}

/* ---- session_groups: classify's summary of the log (proxies/haproxy/classifyfold.py) -------
 *
 * `classify` reads a session line with errorlog.classify_line: the first of heads.toml's session
 * tails searched in the line decides the rule by the termination state's first two letters, the
 * server "<NOSRV>" and the status, and the record's time is the accept date (heads._clf_time),
 * its upstream "backend/server".  The summary keeps of a record its symptom, status, source,
 * upstream and time, so lines that agree on (backend, server, state, status) give the same row
 * but for the time: this pass groups them, with each group's least and greatest time as
 * _clf_time writes it (an ISO string, compared as Python compares str) and the text of its first
 * line, which the caller decides with classify_line itself.
 *
 * What makes that exact is that only lines of one strict shape are taken, every other line is
 * handed back for classify_line:
 *   [<PRI>][BSD "Mmm dd HH:MM:SS " or ISO stamp " "][host ]tag[pid]: ] -- or no prefix at all
 *   client:port [dd/Mon/yyyy:HH:MM:SS[.f]] frontend backend/server a/b/c/d/[+]e status [+]bytes
 *   cc cs tsxx [+]n/n/n/n/[+]n n/n [{captures} ...] "METHOD target HTTP/d.d" (or "<BADREQ>")
 * (captures without a space), printable ASCII with none of ( ) # * ` \ and none of "upstream", "[lua]", ", client: ",
 * "unix: ", " while " (in any case).  On such a line: the tail regex's leftmost match starts at
 * backend/server (no earlier token holds "d/d/d/d/d" after an optional "x/y"), the date regex's
 * at the client; no nginx head, stderr head or "pid#tid:" can match; the headless key phrases
 * either cannot be formed from its tokens or find none of the words that would take them
 * ("upstream", " while ", ", client: ", a call's "()", "worker_connections are not enough" needs
 * five words where the request has three); and normalize changes nothing (normalize.may_change:
 * its triggers are excluded, and its one left, a capital first letter, repairs only a line with
 * " while ").  tests/classify/test_classify_sessions.py holds every taken line to classify_line. */

typedef struct {
    Slot slot;         /* the key (backend NUL server NUL state NUL status) in SessTable.keys */
    uint32_t id;       /* the groups in the order they were first seen */
    size_t line_off;   /* the group's first line, in SessTable.lines */
    uint32_t line_len;
    char least[32], most[32];
    uint8_t least_n, most_n;
} SessGroup;

typedef struct {
    Buf keys, key, lines;
    SessGroup *slots;
    size_t cap, used, max_groups;
    const char *since; /* --since's "YYYY-MM-DDTHH:MM:SS" (NULL: none): earlier lines are left out */
    Py_ssize_t since_n;
    int32_t last;      /* the group of the line just read: its id, -1 handed back, -2 before since */
    int failed;
} SessTable;

static int sess_grow(SessTable *t) {
    return slots_grow((void **)&t->slots, &t->cap, sizeof(SessGroup), 64);
}

/* Python's str comparison of two ASCII strings: -1, 0, 1 */
static int iso_cmp(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c < 0 ? -1 : 1;
    return an < bn ? -1 : an > bn;
}

/* "Mmm " -> 1..12 (0: no month of _MONTHS) */
static int month_of(const char *p) {
    for (int k = 0; k < 12; k++)
        if (memcmp(p, MONTHS + 3 * k, 3) == 0) return k + 1;
    return 0;
}

static int digits(const char *p, const char *end, int n) {
    if (end - p < n) return 0;
    for (int k = 0; k < n; k++)
        if (!is_dig(p[k])) return 0;
    return 1;
}

/* the bytes a taken line may not hold, and the words (module comment above): whether the line
 * is still clean at s[k], one of the bytes sess_clean stops at ( ) # * ` \ u [ , w W.  " while "
 * is looked for at its w (after a space), not at every space: a line holds ~15 spaces. */
static int sess_clean_at(const char *s, Py_ssize_t n, Py_ssize_t k) {
    switch (s[k]) {
    case '(': case ')': case '#': case '*': case '`': case '\\':
        return 0;
    case 'u':
        return !((n - k >= 8 && memcmp(s + k, "upstream", 8) == 0) || (n - k >= 6 && memcmp(s + k, "unix: ", 6) == 0));
    case '[':
        return !(n - k >= 5 && memcmp(s + k, "[lua]", 5) == 0);
    case ',':
        return !(n - k >= 10 && memcmp(s + k, ", client: ", 10) == 0);
    case 'w': case 'W': /* " while " in any case: a space, the word, a space */
        return !(k >= 1 && s[k - 1] == ' ' && n - k >= 6 && (s[k + 1] | 0x20) == 'h' && (s[k + 2] | 0x20) == 'i'
                 && (s[k + 3] | 0x20) == 'l' && (s[k + 4] | 0x20) == 'e' && s[k + 5] == ' ');
    default:
        return 1;
    }
}

/* Each line is read to its end for these bytes: a switch on every byte was a quarter of
 * the records' pass over HAProxy's log (diagnose's and --format jsonl's), so sixteen bytes are
 * compared at a time (SSE2, every x86-64) and only the bytes found are looked at. */
static int sess_clean(const char *s, Py_ssize_t n) {
    Py_ssize_t k = 0;
#if defined(__SSE2__)
    const __m128i fe = _mm_set1_epi8((char)0xfe), paren = _mm_set1_epi8('('), sp = _mm_set1_epi8(0x20),
                  w = _mm_set1_epi8('w'), hash = _mm_set1_epi8('#'), star = _mm_set1_epi8('*'),
                  tick = _mm_set1_epi8('`'), bslash = _mm_set1_epi8('\\'), u = _mm_set1_epi8('u'),
                  bracket = _mm_set1_epi8('['), comma = _mm_set1_epi8(',');
    for (; k + 16 <= n; k += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + k));
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(_mm_and_si128(v, fe), paren), /* ( ) */
                         _mm_cmpeq_epi8(_mm_or_si128(v, sp), w)),     /* w W */
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, hash), _mm_cmpeq_epi8(v, star)),
                         _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, tick), _mm_cmpeq_epi8(v, bslash)),
                                      _mm_or_si128(_mm_cmpeq_epi8(v, u),
                                                   _mm_or_si128(_mm_cmpeq_epi8(v, bracket),
                                                                _mm_cmpeq_epi8(v, comma))))));
        for (unsigned bits = (unsigned)_mm_movemask_epi8(hit); bits != 0; bits &= bits - 1)
            if (!sess_clean_at(s, n, k + __builtin_ctz(bits))) return 0;
    }
#endif
    for (; k < n; k++)
        if (!sess_clean_at(s, n, k)) return 0;
    return 1;
}

/* a run of bytes of `ok` (1..max), then `stop`: *p past the stop; the run's length or 0.  Inlined
 * at each call, so `ok` is too: called through the pointer, once a byte, it was a tenth of
 * session_groups (perf, BENCHMARKS.md stop 66) */
static inline __attribute__((always_inline)) Py_ssize_t run_of(const char **p, const char *end, int (*ok)(char),
                                                               Py_ssize_t max, char stop) {
    const char *q = *p;
    while (q < end && q - *p <= max && ok(*q)) q++;
    Py_ssize_t n = q - *p;
    if (n == 0 || n > max || q == end || *q != stop) return 0;
    *p = q + 1;
    return n;
}

/* the byte classes of a session line, one table lookup a byte (each was a chain of compares) */
enum { C_HOST = 1, C_CLIENT = 2, C_STATE = 4 };
static const uint8_t SESS_CLASS[256] = {
    ['-'] = C_HOST | C_CLIENT | C_STATE, ['.'] = C_HOST | C_CLIENT, ['_'] = C_HOST | C_CLIENT, [':'] = C_CLIENT,
    ['0'] = C_HOST | C_CLIENT, ['1'] = C_HOST | C_CLIENT, ['2'] = C_HOST | C_CLIENT, ['3'] = C_HOST | C_CLIENT,
    ['4'] = C_HOST | C_CLIENT, ['5'] = C_HOST | C_CLIENT, ['6'] = C_HOST | C_CLIENT, ['7'] = C_HOST | C_CLIENT,
    ['8'] = C_HOST | C_CLIENT, ['9'] = C_HOST | C_CLIENT,
#define LETTERS(x) [x] = C_HOST | C_CLIENT | C_STATE
    LETTERS('A'), LETTERS('B'), LETTERS('C'), LETTERS('D'), LETTERS('E'), LETTERS('F'), LETTERS('G'), LETTERS('H'),
    LETTERS('I'), LETTERS('J'), LETTERS('K'), LETTERS('L'), LETTERS('M'), LETTERS('N'), LETTERS('O'), LETTERS('P'),
    LETTERS('Q'), LETTERS('R'), LETTERS('S'), LETTERS('T'), LETTERS('U'), LETTERS('V'), LETTERS('W'), LETTERS('X'),
    LETTERS('Y'), LETTERS('Z'), LETTERS('a'), LETTERS('b'), LETTERS('c'), LETTERS('d'), LETTERS('e'), LETTERS('f'),
    LETTERS('g'), LETTERS('h'), LETTERS('i'), LETTERS('j'), LETTERS('k'), LETTERS('l'), LETTERS('m'), LETTERS('n'),
    LETTERS('o'), LETTERS('p'), LETTERS('q'), LETTERS('r'), LETTERS('s'), LETTERS('t'), LETTERS('u'), LETTERS('v'),
    LETTERS('w'), LETTERS('x'), LETTERS('y'), LETTERS('z'),
#undef LETTERS
};
static inline int host_byte(char c) { return SESS_CLASS[(unsigned char)c] & C_HOST; }
static inline int client_char(char c) { return SESS_CLASS[(unsigned char)c] & C_CLIENT; }
static inline int token_byte(char c) { return c != ' '; }
static inline int name_byte(char c) { return c != ' ' && c != '/'; }
static inline int state_byte(char c) { return SESS_CLASS[(unsigned char)c] & C_STATE; }

/* the syslog prefix, if any: *p past it; 0 when the line has one of another shape */
static int sess_prefix(const char **p, const char *end) {
    const char *q = *p;
    if (q < end && *q == '<') { /* <PRI> */
        q++;
        const char *d = q;
        while (q < end && is_dig(*q) && q - d < 3) q++;
        if (q == d || q == end || *q != '>') return 0;
        q++;
    }
    int stamp = 0;
    if (end - q >= 16 && upper(q[0]) && lower(q[1]) && lower(q[2]) && q[3] == ' ' && month_of(q) &&
        (q[4] == ' ' || is_dig(q[4])) && is_dig(q[5]) && q[6] == ' ' && digits(q + 7, end, 2) && q[9] == ':' &&
        digits(q + 10, end, 2) && q[12] == ':' && digits(q + 13, end, 2) && q[15] == ' ') {
        q += 16, stamp = 1; /* BSD: "Nov 21 10:00:00 ", "Nov  1 10:00:00 " */
    } else if (end - q >= 20 && digits(q, end, 4) && q[4] == '-' && digits(q + 5, end, 2) && q[7] == '-' &&
               digits(q + 8, end, 2) && q[10] == 'T' && digits(q + 11, end, 2) && q[13] == ':' &&
               digits(q + 14, end, 2) && q[16] == ':' && digits(q + 17, end, 2)) {
        const char *r = q + 19; /* ISO 8601 / RFC 3339: fraction, then Z or an offset */
        if (r < end && *r == '.') {
            const char *d = ++r;
            while (r < end && is_dig(*r) && r - d < 9) r++;
            if (r == d) return 0;
        }
        if (r < end && *r == 'Z') r++;
        else if (end - r >= 6 && (*r == '+' || *r == '-') && digits(r + 1, end, 2) && r[3] == ':' && digits(r + 4, end, 2))
            r += 6;
        else return 0;
        if (r == end || *r != ' ') return 0;
        q = r + 1, stamp = 1;
    }
    if (!stamp) {
        if (q != *p) return 0; /* a <PRI> with no stamp */
        return 1; /* no prefix: the line starts with the client */
    }
    /* [host ]tag[pid]: */
    for (int k = 0; k < 2; k++) {
        const char *t = q;
        while (q < end && host_byte(*q) && q - t <= 255) q++;
        if (q == t || q == end) return 0;
        if (*q == ' ' && k == 0) { q++; continue; } /* the host */
        if (*q != '[') return 0;
        const char *d = ++q;
        while (q < end && is_dig(*q) && q - d <= 10) q++;
        if (q == d || end - q < 3 || q[0] != ']' || q[1] != ':' || q[2] != ' ') return 0;
        *p = q + 3;
        return 1;
    }
    return 0;
}

/* the httplog fields of a strict line; 0 when it is not one */
typedef struct {
    Span backend, server, state, status, date;
    Span client, frontend, request; /* the records' own (the client null past 64 bytes) */
} SessLine;

static int sess_parse_at(const char *s, Py_ssize_t n, SessLine *out);

/* sess_parse_at on the line as written, else on it without kubectl logs' framing (--timestamps'
 * RFC 3339 time and space, --prefix's [pod/NAME/CONTAINER]: unwrap_ascii.h ua_kubectl_framing),
 * which wrappers.unwrap peels before anything reads the line -- the framing reaches no rule, and
 * a session line's time is its accept date, not kubectl's.  Before, every line of
 * `kubectl logs --timestamps` went back to classify_line (200k lines 13 s against 0.4 s plain,
 * BENCHMARKS.md stop 71).  sess_clean still reads the whole line, the framing with it. */
static int sess_parse(const char *s, Py_ssize_t n, SessLine *out) {
    if (sess_parse_at(s, n, out)) return 1;
    Py_ssize_t at = ua_kubectl_framing(s, n);
    if (at <= 0) return 0;
    /* behind kubectl's time, a second RFC 3339 stamp (HAProxy's `log ... format iso`, no <PRI>)
     * is that line's syslog head: wrappers.unwrap peels kubectl's time (_TS_PREFIX), then the
     * head (_SYSLOG_ISO), as it does here -- RFC 5424's shape takes no stamp for its host */
    return sess_parse_at(s + at, n - at, out);
}

static int sess_parse_at(const char *s, Py_ssize_t n, SessLine *out) {
    const char *p = s, *end = s + n;
    if (!sess_prefix(&p, end)) return 0;
    /* client:port [ */
    const char *c = p;
    while (p < end && client_char(*p) && p - c <= 70) p++;
    if (p == end || *p != ' ' || p - c < 3) return 0;
    { /* the client ends in :port (1-5 digits) */
        const char *d = p;
        while (d > c && is_dig(d[-1])) d--;
        if (p - d < 1 || p - d > 5 || d - 1 <= c || d[-1] != ':') return 0;
        /* heads.toml's date regex: its client is at most 64 characters, else it has none */
        out->client.p = c;
        out->client.n = d - 1 - c <= 64 ? d - 1 - c : -1;
    }
    p++;
    /* [dd/Mon/yyyy:HH:MM:SS[.fraction]] */
    if (end - p < 23 || p[0] != '[' || !digits(p + 1, end, 2) || p[3] != '/' || !month_of(p + 4) || p[7] != '/' ||
        !digits(p + 8, end, 4) || p[12] != ':' || !digits(p + 13, end, 2) || p[15] != ':' ||
        !digits(p + 16, end, 2) || p[18] != ':' || !digits(p + 19, end, 2))
        return 0;
    out->date.p = p + 1;
    const char *r = p + 21;
    if (r < end && *r == '.') {
        const char *d = ++r;
        while (r < end && is_dig(*r) && r - d < 10) r++;
        if (r == d || r - d > 9) return 0;
    }
    if (end - r < 2 || r[0] != ']' || r[1] != ' ') return 0;
    out->date.n = r - (p + 1);
    p = r + 2;
    /* frontend backend/server */
    out->frontend.p = p;
    if (!(out->frontend.n = run_of(&p, end, name_byte, 256, ' '))) return 0;
    out->backend.p = p;
    if (!(out->backend.n = run_of(&p, end, name_byte, 256, '/'))) return 0;
    out->server.p = p;
    if (!(out->server.n = run_of(&p, end, token_byte, 256, ' '))) return 0;
    /* TR/Tw/Tc/Tr/[+]Ta */
    for (int k = 0; k < 5; k++) {
        if (k == 4 && p < end && *p == '+') p++;
        if (p < end && *p == '-') p++;
        const char *d = p;
        while (p < end && is_dig(*p) && p - d <= 20) p++;
        if (p == d || p - d > 20 || p == end || *p != (k < 4 ? '/' : ' ')) return 0;
        p++;
    }
    /* status [+]bytes cc cs */
    if (end - p < 4 || !digits(p, end, 3) || p[3] != ' ') return 0;
    out->status.p = p, out->status.n = 3;
    p += 4;
    if (p < end && *p == '+') p++;
    {
        const char *d = p;
        while (p < end && is_dig(*p) && p - d <= 20) p++;
        if (p == d || p - d > 20 || p == end || *p != ' ') return 0;
        p++;
    }
    if (!run_of(&p, end, token_byte, 256, ' ') || !run_of(&p, end, token_byte, 256, ' ')) return 0;
    /* the termination state */
    if (end - p < 5 || !state_byte(p[0]) || !state_byte(p[1]) || !state_byte(p[2]) || !state_byte(p[3]) || p[4] != ' ')
        return 0;
    out->state.p = p, out->state.n = 2;
    p += 5;
    /* [+]ac/fc/bc/sc/[+]rc sq/bq */
    for (int k = 0; k < 7; k++) {
        if ((k == 0 || k == 4) && p < end && *p == '+') p++;
        const char *d = p;
        while (p < end && is_dig(*p) && p - d <= 20) p++;
        if (p == d || p - d > 20 || p == end || *p != (k == 4 || k == 6 ? ' ' : '/')) return 0;
        p++;
    }
    /* captured headers, " {...}" with no space inside (a capture of words goes back) */
    for (int k = 0; end - p >= 3 && p[0] == '{'; k++) {
        const char *q = p + 1;
        while (q < end && *q != '}' && *q != '{' && *q != ' ' && *q != '"') q++;
        if (k == 8 || q == end || *q != '}' || end - q < 2 || q[1] != ' ') return 0;
        p = q + 2;
    }
    /* "METHOD target HTTP/d.d" or "<BADREQ>", to the line's end */
    if (end - p < 2 || p[0] != '"' || end[-1] != '"') return 0;
    const char *q = p + 1, *qe = end - 1;
    out->request.p = q;
    out->request.n = qe - q;
    if (qe - q == 8 && memcmp(q, "<BADREQ>", 8) == 0) return 1;
    const char *m = q;
    while (q < qe && upper(*q) && q - m <= 20) q++;
    if (q == m || q - m > 20 || q == qe || *q != ' ') return 0;
    const char *t = ++q;
    while (q < qe && *q != ' ' && *q != '"') q++;
    if (q == t || qe - q != 9 || memcmp(q, " HTTP/", 6) != 0 || !is_dig(q[6]) || q[7] != '.' || !is_dig(q[8]))
        return 0;
    return 1;
}

/* _clf_time of the accept date: "yyyy-MM-ddTHH:MM:SS[.f]" into out (>= 30 bytes); its length */
static size_t sess_iso(Span date, char *out) {
    const char *d = date.p;
    int mon = month_of(d + 3);
    memcpy(out, d + 7, 4);
    out[4] = '-';
    out[5] = (char)('0' + mon / 10), out[6] = (char)('0' + mon % 10);
    out[7] = '-';
    memcpy(out + 8, d, 2);
    out[10] = 'T';
    size_t clock = (size_t)date.n - 12;
    memcpy(out + 11, d + 12, clock);
    return 11 + clock;
}

static int sess_take(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    (void)row;
    SessTable *t = ctx;
    SessLine g;
    t->last = -1;
    if (t->failed || n < 40 || !printable(s, n) || !sess_parse(s, n, &g) || !sess_clean(s, n)) return 0;
    char iso[32];
    size_t iso_n = sess_iso(g.date, iso);
    /* app.classify.filter_since on the record: its time, naive, compared as text with the
     * cutoff; a line before it is read (taken) and left out of every group */
    if (t->since != NULL && iso_cmp(iso, iso_n, t->since, (size_t)t->since_n) < 0) {
        t->last = -2;
        return 1;
    }
    t->key.len = 0;
    buf_put(&t->key, g.backend.p, (size_t)g.backend.n);
    buf_put(&t->key, "", 1);
    buf_put(&t->key, g.server.p, (size_t)g.server.n);
    buf_put(&t->key, "", 1);
    buf_put(&t->key, g.state.p, 2);
    buf_put(&t->key, "", 1);
    buf_put(&t->key, g.status.p, 3);
    if (t->key.failed) { t->failed = 1; return 0; }
    const char *k = t->key.data;
    size_t kn = t->key.len;
    uint64_t h = key_hash(k, kn);
    SessGroup *sg = (SessGroup *)slot_find(t->slots, t->cap, sizeof(SessGroup), t->keys.data, k, kn, h);
    if (sg->slot.n != 0) {
        sg->slot.n++;
        t->last = (int32_t)sg->id;
        if (iso_cmp(iso, iso_n, sg->least, sg->least_n) < 0) memcpy(sg->least, iso, iso_n), sg->least_n = (uint8_t)iso_n;
        if (iso_cmp(iso, iso_n, sg->most, sg->most_n) > 0) memcpy(sg->most, iso, iso_n), sg->most_n = (uint8_t)iso_n;
        return 1;
    }
    if (t->used >= t->max_groups) return 0; /* past the bound: the line goes back */
    if ((t->used + 1) * 2 > t->cap) {
        if (sess_grow(t) != 0) { t->failed = 1; return 0; }
        sg = (SessGroup *)slot_find(t->slots, t->cap, sizeof(SessGroup), t->keys.data, k, kn, h);
    }
    sg->slot = (Slot){h, t->keys.len, (uint32_t)kn, 1};
    sg->id = (uint32_t)t->used;
    t->last = (int32_t)sg->id;
    buf_put(&t->keys, k, kn);
    sg->line_off = t->lines.len, sg->line_len = (uint32_t)n;
    buf_put(&t->lines, s, (size_t)n);
    memcpy(sg->least, iso, iso_n), memcpy(sg->most, iso, iso_n);
    sg->least_n = sg->most_n = (uint8_t)iso_n;
    if (t->keys.failed || t->lines.failed) t->failed = 1;
    t->used++;
    return 1;
}

/* sess_take, and (rows not NULL) each line's group (SessTable.last) appended to *rows as an int32 */
typedef struct {
    SessTable *t;
    Buf *rows;
} SessRows;

static int sess_take_row(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    SessRows *r = ctx;
    int took = sess_take(r->t, s, n, row);
    if (r->rows != NULL) buf_put(r->rows, (const char *)&r->t->last, sizeof r->t->last);
    return took;
}

static PyObject *session_groups(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    Py_ssize_t max_groups, since_n = 0;
    const char *since = NULL;
    int want_rows = 0;
    if (!PyArg_ParseTuple(args, "y*n|z#p", &data, &max_groups, &since, &since_n, &want_rows)) return NULL;
    SessTable t = {{0}, {0}, {0}, NULL, 0, 0, (size_t)(max_groups > 0 ? max_groups : 0), since, since_n, -1, 0};
    Buf back = {0}, back_text = {0}, rows = {0};
    SessRows with_rows = {&t, want_rows ? &rows : NULL};
    const SessGroup **by_id = NULL;
    PyObject *groups = NULL, *out = NULL;
    int failed = 0;
    int64_t lines = 0;
    /* the empty "line" after the last newline is none -- but with rows, each row is a line as
     * session_jsonl and session_failed count them (scan_lines over the whole block): the empty
     * last one too, handed back, so that the rows are always the block's newlines plus one */
    Py_ssize_t len = want_rows ? data.len : whole_lines_len(&data);
    int ends = len != data.len;
    Py_BEGIN_ALLOW_THREADS
    if (sess_grow(&t) != 0) t.failed = 1;
    else if (data.len > 0 || want_rows) lines = scan_lines(data.buf, len, sess_take_row, &with_rows, &back, &back_text);
    if (!t.failed && (by_id = calloc(t.used + 1, sizeof *by_id)) == NULL) t.failed = 1;
    for (size_t k = 0; by_id != NULL && k < t.cap; k++)
        if (t.slots[k].slot.n != 0) by_id[t.slots[k].id] = &t.slots[k];
    failed = t.failed || back.failed || back_text.failed || rows.failed;
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_NoMemory(); goto done; }
    if ((groups = PyList_New(0)) == NULL) goto done;
    for (size_t k = 0; k < t.used; k++) {
        const SessGroup *sg = by_id[k];
        PyObject *key = key_tuple(t.keys.data + sg->slot.off, sg->slot.len, 4);
        PyObject *item = key == NULL ? NULL :
            Py_BuildValue("(NLy#s#s#)", key, (long long)sg->slot.n, t.lines.data + sg->line_off, (Py_ssize_t)sg->line_len,
                          sg->least, (Py_ssize_t)sg->least_n, sg->most, (Py_ssize_t)sg->most_n);
        int rc = item != NULL ? PyList_Append(groups, item) : -1;
        Py_XDECREF(item);
        if (rc != 0) goto done;
    }
    /* a last line without a newline, handed back, gets one from scan_lines: not here */
    Py_ssize_t back_n = (Py_ssize_t)back_text.len;
    if (!ends && data.len > 0 && back.len >= sizeof(uint32_t)) {
        uint32_t r;
        memcpy(&r, back.data + back.len - sizeof r, sizeof r);
        if ((int64_t)r == lines - 1) back_n--;
    }
    if (want_rows)
        out = Py_BuildValue("(Oy#y#)", groups, back_text.data ? back_text.data : "", back_n,
                            rows.data ? rows.data : "", (Py_ssize_t)rows.len);
    else
        out = Py_BuildValue("(Oy#)", groups, back_text.data ? back_text.data : "", back_n);
done:
    Py_XDECREF(groups);
    free(by_id);
    free(rows.data);
    free(t.slots);
    free(t.keys.data);
    free(t.key.data);
    free(t.lines.data);
    free(back.data);
    free(back_text.data);
    PyBuffer_Release(&data);
    return out;
}

/* unwrap_offset(line) -> where wrappers.unwrap(line).text starts in it, or -1 (unwrap_ascii.h) */
static PyObject *unwrap_offset(PyObject *Py_UNUSED(self), PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) != 0) return NULL;
    Py_ssize_t at = unwrap_at(b.buf, b.len);
    PyBuffer_Release(&b);
    return PyLong_FromSsize_t(at);
}

/* ---- session_jsonl: --format jsonl's records of the session lines, written here ------------
 *
 * `classify --format jsonl` gave a session line its record through the per-line path: the lines
 * decoded and split into a polars column, known_lines' columns, joins and messages, then polars'
 * ndjson writer -- ~2 CPU-s per 1M lines of a failure-dense log, where the nginx scanner writes
 * its records itself (BENCHMARKS.md, issue 28 item 2).  Here, after session_groups(rows=True) has
 * given each line its group and proxies/haproxy/classifyfold.py (jsonl_block) has decided each
 * group once (known_lines' check of its first line included) and written the fields the group
 * decides as polars writes them, each line of a group with a record gets it: its line number,
 * the file, the group's fields and the line's own -- the accept date as _clf_time writes it, the
 * client (null past 64 characters), the frontend, the request, and its message where
 * unwrap_ascii.h says unwrap's text starts (a line it leaves to Python is handed back, as is
 * every line of a group decided "back").  The records come out in line order, with the runs of
 * them that go in one place among the nginx scanner's records (Scanner_records' marks), so the
 * caller splices runs, not records. */

typedef struct {
    const char *frag[3];   /* the group's fields: source..status, level and upstream, host */
    Py_ssize_t frag_n[3];
    int state;             /* 0: no record (read as nothing), 1: a record, 2: handed back */
    int failure;           /* 1 when its record counts among the failures */
} SessDecided;

typedef struct {
    const int32_t *groups;     /* each line's group (session_groups' rows) */
    int64_t ngroups;
    const SessDecided *decided;
    Py_ssize_t ndecided;
    const int64_t *marks;      /* each line's (index in the batch, offset of its records) */
    long long first_line;
    const char *file_json;
    Py_ssize_t file_n;
    Buf out, runs;             /* runs: (first row, last row, offset, start, end) as int64 */
    int64_t run[4];
    int in_run;
    long long failures;
} SessJsonl;

static void jsonl_close(SessJsonl *j) {
    if (!j->in_run) return;
    int64_t r[5] = {j->run[0], j->run[1], j->run[2], j->run[3], (int64_t)j->out.len};
    buf_put(&j->runs, (const char *)r, sizeof r);
    j->in_run = 0;
}

/* scan_lines' TakeLine (without the GIL): a line of a group with a record gets it; a line before
 * --since or of a group read as nothing is taken with none; any other line goes back */
static int jsonl_take(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    SessJsonl *j = ctx;
    int32_t g = (int64_t)row < j->ngroups ? j->groups[row] : -1;
    if (g == -2) return 1;
    const SessDecided *d = g >= 0 && g < j->ndecided ? &j->decided[g] : NULL;
    if (d != NULL && d->state == 0) return 1;
    SessLine ln;
    Py_ssize_t at = -1;
    if (d == NULL || d->state != 1 || !sess_parse(s, n, &ln) || (at = unwrap_at(s, n)) < 0) {
        jsonl_close(j); /* a line handed back parts the runs: its records go between them */
        return 0;
    }
    int64_t offset = j->marks[2 * (size_t)row + 1];
    if (j->in_run && offset != j->run[2]) jsonl_close(j);
    if (!j->in_run) {
        j->in_run = 1;
        j->run[0] = row, j->run[2] = offset, j->run[3] = (int64_t)j->out.len;
    }
    j->run[1] = row;
    char iso[32];
    size_t iso_n = sess_iso(ln.date, iso);
    Buf *o = &j->out;
    BUF_LIT(o, "{\"line\":");
    buf_int(o, j->first_line + j->marks[2 * (size_t)row]);
    BUF_LIT(o, ",\"file\":");
    buf_put(o, j->file_json, (size_t)j->file_n);
    BUF_LIT(o, ",");
    buf_put(o, d->frag[0], (size_t)d->frag_n[0]);
    BUF_LIT(o, ",\"time\":");
    buf_json_str(o, iso, iso_n);
    BUF_LIT(o, ",");
    buf_put(o, d->frag[1], (size_t)d->frag_n[1]);
    BUF_LIT(o, ",\"client\":");
    buf_json_opt(o, ln.client.p, ln.client.n);
    BUF_LIT(o, ",\"server\":");
    buf_json_str(o, ln.frontend.p, (size_t)ln.frontend.n);
    BUF_LIT(o, ",\"request\":");
    buf_json_str(o, ln.request.p, (size_t)ln.request.n);
    BUF_LIT(o, ",");
    buf_put(o, d->frag[2], (size_t)d->frag_n[2]);
    BUF_LIT(o, ",\"message\":");
    buf_json_str(o, s + at, (size_t)(n - at));
    BUF_LIT(o, "}\n");
    j->failures += d->failure;
    return 1;
}

/* each group's decision: None (no record), False (handed back) or (bytes, bytes, bytes, failure) */
static int jsonl_decided(PyObject *list, SessDecided **out, Py_ssize_t *n) {
    if (!PyList_Check(list)) { PyErr_SetString(PyExc_TypeError, "decided must be a list"); return -1; }
    *n = PyList_GET_SIZE(list);
    *out = calloc((size_t)*n + 1, sizeof **out);
    if (*out == NULL) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t k = 0; k < *n; k++) {
        PyObject *item = PyList_GET_ITEM(list, k);
        SessDecided *d = &(*out)[k];
        if (item == Py_None) { d->state = 0; continue; }
        if (item == Py_False) { d->state = 2; continue; }
        int failure = 0;
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 4 || (failure = PyObject_IsTrue(PyTuple_GET_ITEM(item, 3))) < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a decision is None, False or (bytes, bytes, bytes, bool)");
            return -1;
        }
        for (int f = 0; f < 3; f++) {
            char *p;
            if (PyBytes_AsStringAndSize(PyTuple_GET_ITEM(item, f), &p, &d->frag_n[f]) != 0) return -1;
            d->frag[f] = p;
        }
        d->state = 1, d->failure = failure;
    }
    return 0;
}

/* session_jsonl(data, groups, decided, marks, first_line, file_json)
 *   -> (records, runs (int64 quintuples), rows handed back (uint32 bytes), their text, failures) */
static PyObject *session_jsonl(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data, groups, marks;
    PyObject *decided_list, *out = NULL;
    long long first_line;
    const char *file_json;
    Py_ssize_t file_n;
    if (!PyArg_ParseTuple(args, "y*y*O!y*Ly#", &data, &groups, &PyList_Type, &decided_list, &marks, &first_line,
                          &file_json, &file_n))
        return NULL;
    SessDecided *decided = NULL;
    Py_ssize_t ndecided = 0;
    Buf back = {0}, back_text = {0};
    SessJsonl j = {0};
    /* every line as the nginx scanner's marks and session_groups' rows count them: an empty last
     * one too (handed back: the per-line path gives it no record) */
    Py_ssize_t len = data.len;
    int64_t lines = 1; /* as scan_lines cuts [0, len) */
    for (const char *p = data.buf, *e = p + len; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++) lines++;
    if (groups.len != lines * (Py_ssize_t)sizeof(int32_t) || marks.len != lines * 2 * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "groups and marks must hold one entry per line of data");
        goto done;
    }
    if (jsonl_decided(decided_list, &decided, &ndecided) != 0) goto done;
    j.groups = groups.buf, j.ngroups = lines, j.decided = decided, j.ndecided = ndecided;
    j.marks = marks.buf, j.first_line = first_line, j.file_json = file_json, j.file_n = file_n;
    int failed;
    Py_BEGIN_ALLOW_THREADS
    buf_reserve(&j.out, (size_t)len + (size_t)len / 2);
    scan_lines(data.buf, len, jsonl_take, &j, &back, &back_text);
    jsonl_close(&j);
    failed = j.out.failed || j.runs.failed || back.failed || back_text.failed;
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_NoMemory(); goto done; }
    out = Py_BuildValue("(y#y#y#y#L)", j.out.data ? j.out.data : "", (Py_ssize_t)j.out.len,
                        j.runs.data ? j.runs.data : "", (Py_ssize_t)j.runs.len,
                        back.data ? back.data : "", (Py_ssize_t)back.len,
                        back_text.data ? back_text.data : "", (Py_ssize_t)back_text.len, j.failures);
done:
    free(decided);
    free(j.out.data);
    free(j.runs.data);
    free(back.data);
    free(back_text.data);
    PyBuffer_Release(&data);
    PyBuffer_Release(&groups);
    PyBuffer_Release(&marks);
    return out;
}

/* ---- session_failed: diagnose's records of the failed session lines, their own fields -------
 *
 * known_lines (proxies/haproxy/classifyfold.py) built the records of a batch from the columns of
 * every session line (a session_columns pass, gone) -- eight columns of ~18k rows a batch, most
 * of them requests that went well -- grouped, joined by four text keys, then unwrapped the failed
 * ones: ~1.2 CPU-s per 1M lines, a quarter of diagnose's on a failure-dense log (BENCHMARKS.md
 * stop 66).  After
 * session_groups(rows=True) and the groups' decisions, this pass writes the own fields of the
 * lines of the groups with a record only: idx, group, the accept date as _clf_time writes it,
 * client, frontend, request and message (where unwrap_ascii.h says unwrap's text starts).  A line
 * of such a group whose message Python must say is handed back, as is every line not taken. */

static const ColSpec FAILED_SPEC[] = {{"idx", "I"}, {"group", "I"}, {"time", "u"}, {"client", "u"},
                                      {"server", "u"}, {"request", "u"}, {"message", "u"}};
#define N_FAILED ((int)(sizeof FAILED_SPEC / sizeof FAILED_SPEC[0]))

typedef struct {
    const int32_t *groups;
    int64_t ngroups;
    const char *want;  /* per group: 1 when its lines have records */
    Py_ssize_t nwant;
    NCol *cols;
    int64_t taken;
} FailedTaker;

static int failed_take(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    FailedTaker *t = ctx;
    int32_t g = (int64_t)row < t->ngroups ? t->groups[row] : -1;
    if (g < 0 || g >= t->nwant) return 0;
    if (!t->want[g]) return 1; /* a group read as nothing: no record */
    SessLine ln;
    Py_ssize_t at;
    if (!sess_parse(s, n, &ln) || (at = unwrap_at(s, n)) < 0) return 0;
    char iso[32];
    size_t iso_n = sess_iso(ln.date, iso);
    uint32_t group = (uint32_t)g;
    ncol_fixed(&t->cols[0], &row, sizeof row);
    ncol_fixed(&t->cols[1], &group, sizeof group);
    ncol_utf8(&t->cols[2], iso, (Py_ssize_t)iso_n);
    ncol_utf8(&t->cols[3], ln.client.p, ln.client.n);
    ncol_utf8(&t->cols[4], ln.frontend.p, ln.frontend.n);
    ncol_utf8(&t->cols[5], ln.request.p, ln.request.n);
    ncol_utf8(&t->cols[6], s + at, n - at);
    t->taken++;
    return 1;
}

/* session_failed(data, groups, want) -> (schema, array, lines, rows handed back (uint32 bytes), their text) */
static PyObject *session_failed(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data, groups, want;
    if (!PyArg_ParseTuple(args, "y*y*y*", &data, &groups, &want)) return NULL;
    PyObject *out = NULL;
    NCol cols[N_FAILED];
    memset(cols, 0, sizeof cols);
    for (int k = 2; k < N_FAILED; k++) ncol_utf8_start(&cols[k]);
    FailedTaker t = {groups.buf, groups.len / (Py_ssize_t)sizeof(int32_t), want.buf, want.len, cols, 0};
    out = pass_result(&data, failed_take, &t, &t.taken, cols, N_FAILED, FAILED_SPEC);
    PyBuffer_Release(&data);
    PyBuffer_Release(&groups);
    PyBuffer_Release(&want);
    return out;
}

/* session_own(line) -> (time, client or None, frontend, request) of a line session_groups takes, as
 * session_jsonl writes them; None for any other line (classifyfold.py checks a group's first line) */
static PyObject *session_own(PyObject *Py_UNUSED(self), PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) != 0) return NULL;
    const char *s = b.buf;
    Py_ssize_t n = b.len;
    SessLine ln;
    PyObject *out;
    if (n < 40 || !printable(s, n) || !sess_parse(s, n, &ln) || !sess_clean(s, n)) {
        out = Py_NewRef(Py_None);
    } else {
        char iso[32];
        size_t iso_n = sess_iso(ln.date, iso);
        PyObject *client = ln.client.n < 0 ? Py_NewRef(Py_None) : PyUnicode_FromStringAndSize(ln.client.p, ln.client.n);
        out = client == NULL ? NULL : Py_BuildValue("(s#Ns#s#)", iso, (Py_ssize_t)iso_n, client, ln.frontend.p,
                                                    ln.frontend.n, ln.request.p, ln.request.n);
    }
    PyBuffer_Release(&b);
    return out;
}

static PyMethodDef module_methods[] = {
    {"httplog_columns", httplog_columns, METH_VARARGS,
     "httplog_columns(data, zone) -> (arrow schema, arrow array, lines, rows handed back (uint32 bytes), "
     "their text): the engine's columns of the lines of a block HTTPLOG reads, with their row "
     "(proxies/haproxy/stats.py: httplog_fields)"},
    {"httplog_block", httplog_block, METH_VARARGS,
     "httplog_block(data, zone, first_row, fold, addresses) -> ((schema, array, lines, rows handed back, "
     "their text), groups or None): the columns as the engine takes them (_row in the file, upstream_addr "
     "mapped by the {backend/server: address} dict, _text null) and, with fold, the rows the engine only "
     "counts as its three Folded frames' capsules and the rows folded (timeline, attempts, answered) "
     "(proxies/haproxy/stats.py: httplog_block)"},
    {"httplog_counts", httplog_counts, METH_VARARGS,
     "httplog_counts(data) -> ({(backend, server, TR, Tw, Tc, Ta, status): lines}, the lines handed back, "
     "the block's newlines): "
     "the lines of a block whose reading by log._FAST / log._BLOCK leaves no doubt, grouped by the "
     "fields watch counts (proxies/haproxy/log.py: HttplogCounter)"},
    {"session_groups", session_groups, METH_VARARGS,
     "session_groups(data, max_groups, since=None, rows=False) -> ([((backend, server, state, status), lines, first line, least time, "
     "greatest time)], the lines handed back): the lines of a block of one strict httplog shape grouped by what "
     "classify's summary keeps of them, the times as heads._clf_time writes them, those before since (text "
     "compared) left out, in the order first seen; with rows, a third item: each line's group as int32 bytes "
     "(-1 handed back, -2 before since), one per line as the other session passes count them (the newlines "
     "plus one: an empty last line too) (proxies/haproxy/classifyfold.py)"},
    {"session_jsonl", session_jsonl, METH_VARARGS,
     "session_jsonl(data, groups, decided, marks, first_line, file_json) -> (records, runs, rows handed back "
     "(uint32 bytes), their text, failures): classify --format jsonl's records of the session lines of data "
     "(groups: session_groups' rows; decided: per group None, False or (fields, fields, fields, failure); "
     "marks: each line's (index, offset) as int64 pairs; runs: (first row, last row, offset, start, end) as "
     "int64) (proxies/haproxy/classifyfold.py: jsonl_block)"},
    {"session_failed", session_failed, METH_VARARGS,
     "session_failed(data, groups, want) -> (schema, array, lines, rows handed back (uint32 bytes), their text): "
     "the lines of the groups want marks (a byte per group; groups: session_groups' rows) as columns idx, group, "
     "time, client, server, request, message; a line of a group not marked is taken without a row, any other "
     "line handed back (proxies/haproxy/classifyfold.py: known_lines)"},
    {"session_own", session_own, METH_O,
     "session_own(line) -> (time, client, frontend, request) as session_jsonl writes them, or None when "
     "session_groups would not take the line"},
    {"unwrap_offset", unwrap_offset, METH_O,
     "unwrap_offset(line) -> where wrappers.unwrap(line).text starts in the line (bytes, no newline), or -1 "
     "when Python must say (native/unwrap_ascii.h)"},
    {"httplog_quiet", httplog_quiet, METH_VARARGS,
     "httplog_quiet(data) -> the block without the lines log._OK removes (proxies/haproxy/log.py: quiet)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_hapscan", "HAProxy's httplog lines as the statistics engine's columns, in one native pass.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hapscan(void) {
    uint64_t seed;
    if (getentropy(&seed, sizeof seed) == 0) fold_seed ^= seed; /* the fold's hash (group_table.h) */
    return PyModule_Create(&module_def);
}
