/*
 * why502.proxies.nginx._scan -- one native pass per nginx error-log line.
 *
 * The optional fast path of `why502 classify` (Python side: why502/parsers/errorlog_native.py, which
 * the registry hands it to: nginx's Hooks.native_scanner, why502/parsers/native.py).
 * It cuts each line the way nginx writes it (src/core/ngx_log.c ngx_log_error_core(),
 * src/http/ngx_http_request.c ngx_http_log_error_handler()):
 *
 *     YYYY/MM/DD HH:MM:SS [level] pid#tid: [*conn ]message[ (errno: text)][ while action],
 *     client: ..., server: ...[, request: "..."][, upstream: "..."][, host: "..."]
 *
 * and knows nothing of the catalog: the key phrases and detail literals come from Python
 * (errorlog.engine_keys(), errorlog.detail_regexes()), and the rule for each distinct
 * (key, errno, action, level, detail) is asked of a Python callable (errorlog.resolve) once and
 * cached.  Every cut follows the regexes of errorlog.py exactly (ENGINE_HEAD_PREFIX, ERRNO,
 * ACTION, FIELDS, UPSTREAM_ONLY, upstream_peer()); a line it cannot decide with certainty --
 * not ASCII (the regexes' \d is Unicode-aware), an escaped quote (the engines unescape first),
 * no nginx head, a time nginx cannot have written, a combination whose rule also needs an `also`
 * literal (the resolver answers False) -- is handed back untouched as an "exact" line
 * for the reference engine.  Tests compare both engines on every fixture line.
 *
 * Scanners are not shared between threads: each worker thread makes its own.
 */
#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
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

#include "json_text.h"

/* ------------------------------------------------------------------------------------------ */
/* key phrases: a byte trie, first list index wins (the alternation's leftmost-first order)    */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    int32_t first_child, next_sibling, key;
    int32_t chain_end, chain_at, chain_len; /* trie_chains(): the run of single children below */
    unsigned char byte;
} Node;

typedef struct {
    Node *nodes;
    int32_t count, cap;
    int32_t root[256];
    unsigned char *chains; /* the bytes of every node's chain (trie_chains) */
} Trie;

static void trie_init(Trie *t) {
    t->nodes = NULL;
    t->chains = NULL;
    t->count = t->cap = 0;
    for (int i = 0; i < 256; i++) t->root[i] = -1;
}

static int32_t trie_node(Trie *t, unsigned char byte) {
    if (t->count == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 256;
        Node *p = realloc(t->nodes, (size_t)cap * sizeof(Node));
        if (p == NULL) return -1;
        t->nodes = p;
        t->cap = cap;
    }
    Node *n = &t->nodes[t->count];
    n->first_child = n->next_sibling = n->key = -1;
    n->chain_end = -1;
    n->chain_at = n->chain_len = 0;
    n->byte = byte;
    return t->count++;
}

static int trie_add(Trie *t, const unsigned char *s, Py_ssize_t len, int32_t key) {
    if (len <= 0) return 0;
    int32_t cur = t->root[s[0]];
    if (cur < 0) {
        if ((cur = trie_node(t, s[0])) < 0) return -1;
        t->root[s[0]] = cur;
    }
    for (Py_ssize_t i = 1; i < len; i++) {
        int32_t child = t->nodes[cur].first_child;
        while (child >= 0 && t->nodes[child].byte != s[i]) child = t->nodes[child].next_sibling;
        if (child < 0) {
            if ((child = trie_node(t, s[i])) < 0) return -1;
            t->nodes[child].next_sibling = t->nodes[cur].first_child;
            t->nodes[cur].first_child = child;
        }
        cur = child;
    }
    if (t->nodes[cur].key < 0 || key < t->nodes[cur].key) t->nodes[cur].key = key;
    return 0;
}

/* Once every key is in: each node with one child gets the chain below it -- the bytes of the
 * children down to the first one that ends a key or branches -- so trie_match compares such a run
 * with one memcmp instead of a node per byte (the key phrases are long runs after a few
 * branches: "upstream prematurely closed connection"; the per-byte walk was ~12 % of the
 * scanner's CPU, BENCHMARKS.md stop 48).  No key ends inside a chain, so a mismatch in it
 * ends the match with the keys found before it, as the per-byte walk would. */
/* the chain below node x: its length (0: none, or one byte only) and its last node in *end */
static int32_t trie_chain(const Trie *t, int32_t x, int32_t *end) {
    int32_t c = t->nodes[x].first_child, len = 0;
    if (c < 0 || t->nodes[c].next_sibling >= 0) return 0; /* a leaf or a branch */
    for (;;) {
        len++;
        int32_t next = t->nodes[c].first_child;
        if (t->nodes[c].key >= 0 || next < 0 || t->nodes[next].next_sibling >= 0) break;
        c = next;
    }
    *end = c;
    return len < 2 ? 0 : len; /* one byte: the plain step is as cheap */
}

static int trie_chains(Trie *t) {
    size_t total = 0;
    for (int32_t x = 0; x < t->count; x++) {
        int32_t end;
        total += (size_t)trie_chain(t, x, &end);
    }
    if (total > INT32_MAX || (t->chains = malloc(total ? total : 1)) == NULL) return -1;
    size_t at = 0;
    for (int32_t x = 0; x < t->count; x++) {
        int32_t end = -1, len = trie_chain(t, x, &end);
        if (len == 0) continue;
        int32_t c = t->nodes[x].first_child;
        for (int32_t i = 0; i < len; i++, c = t->nodes[c].first_child) t->chains[at + (size_t)i] = t->nodes[c].byte;
        t->nodes[x].chain_end = end;
        t->nodes[x].chain_at = (int32_t)at;
        t->nodes[x].chain_len = len;
        at += (size_t)len;
    }
    return 0;
}

/* the lowest key index among the keys that are a prefix of s, or -1 */
static int32_t trie_match(const Trie *t, const unsigned char *s, Py_ssize_t len) {
    if (len <= 0) return -1;
    int32_t cur = t->root[s[0]], best = -1;
    Py_ssize_t i = 1;
    while (cur >= 0) {
        const Node *node = &t->nodes[cur];
        int32_t k = node->key;
        if (k >= 0 && (best < 0 || k < best)) best = k;
        if (node->chain_len) {
            Py_ssize_t n = node->chain_len;
            if (len - i < n || memcmp(s + i, t->chains + node->chain_at, (size_t)n) != 0) break;
            i += n;
            cur = node->chain_end;
            continue;
        }
        if (i >= len) break;
        int32_t child = node->first_child;
        while (child >= 0 && t->nodes[child].byte != s[i]) child = t->nodes[child].next_sibling;
        cur = child;
        i++;
    }
    return best;
}

/* ------------------------------------------------------------------------------------------ */
/* the scanner                                                                                */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    const char *p;
    Py_ssize_t n;
    size_t rare; /* the index of its least common byte (lit_rare): what find_lit looks for */
} Lit;

typedef struct { /* one cached rule decision */
    uint64_t hash;
    int32_t key, errnum, detail, rule, used;
    char *level, *action;
    Py_ssize_t level_len, action_len; /* action_len -1: no action */
} Combo;

typedef struct { /* one resolved rule: its JSON fragment and whether it is a failure */
    char *frag;
    Py_ssize_t frag_len;
    int failure, known;
} Rule;

/* summary group: (rule, upstream peer), one 64-byte cache line.  A probe reads a slot's hash,
 * rule and peer, and a hit its count and times: with the peer in a separate allocation and the
 * times as 19-byte strings (80 bytes a group) each hit missed the cache twice -- the peer's
 * memcmp was the scanner's costliest call (perf, BENCHMARKS.md stop 48).  Peers up to
 * PEER_INLINE bytes (http://255.255.255.255:65535 is 28) are kept in the slot. */
#define PEER_INLINE 24
typedef struct {
    uint64_t hash;
    long long n;                   /* 0: a free slot */
    uint64_t first_key, last_key; /* time_key() of the first and last time */
    int32_t rule;
    int32_t peer_len;              /* -1: no upstream field, -2: "(other)" */
    union {
        char bytes[PEER_INLINE];   /* peer_len <= PEER_INLINE */
        char *heap;                /* longer peers */
    } peer;
} Group;
_Static_assert(sizeof(Group) == 64, "a group is one cache line");

static inline const char *group_peer(const Group *g) {
    return g->peer_len > PEER_INLINE ? g->peer.heap : g->peer.bytes;
}

typedef struct {
    PyObject_HEAD
    Trie plain, prefixed;
    int32_t nplain, nkeys;
    Lit **details; /* per key id: literals, NULL-terminated count in ndetails */
    int32_t *ndetails;
    PyObject *resolver;
    Combo *combos;
    size_t ncombos, combo_cap;
    Rule *rules;
    size_t nrules;
    Group *groups;
    size_t ngroups, group_cap, max_groups;
    int busy;
} Scanner;

#define MAX_COMBOS 65536 /* a cache: cleared beyond this (hostile input has endless actions) */

/* The hash of the combination cache and of the summary groups, asked once or twice per line:
 * eight bytes per multiply where FNV-1a took one (its byte-serial multiply chain was ~6 % of the
 * scanner's CPU on the outage log, perf: BENCHMARKS.md stop 48).  The tables only need the low
 * bits spread (their index is h & (cap - 1)): the xor-shift folds the product's high half in.
 * Collisions cost a compare, never a wrong answer (every slot is compared in full). */
#define HASH0 0x243f6a8885a308d3ULL
static inline uint64_t mix(uint64_t h, uint64_t w) {
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 32);
}

static uint64_t hash_bytes(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix(h, w);
    }
    uint64_t w = (uint64_t)n << 56; /* the tail's length: "ab" and "ab\0" differ */
    for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
    return mix(h, w);
}

/* ---- one parsed line ---- */

typedef struct {
    const char *time, *level, *msg, *action;
    Py_ssize_t level_len, msg_len, action_len;
    int32_t key, errnum, detail;
    int conn;              /* the head had a connection number (*N) */
    int wrapped;           /* the nginx line was found inside a wrapper (_scan_wrappers.h) */
    const char *raw;       /* the line as read */
    Py_ssize_t raw_len;
} Line;

enum { LINE_EXACT = 0, LINE_SKIP = 1, LINE_KEYED = 2 };

/* How common a byte is in log text (higher: more common), for find_lit's choice of the byte to
 * look for: a space, a comma or a common lower-case letter would stop memchr at every word. */
static int byte_rank(unsigned char c) {
    static const char common[] = " etaoinsrhldcu,:.-/\"0123456789";
    const char *at = memchr(common, c, sizeof(common) - 1);
    if (at != NULL) return 100 - (int)(at - common);
    return c >= 'a' && c <= 'z' ? 50 : 10;
}

/* the index of the least common byte of lit (the first of equals) */
static size_t lit_rare(const char *lit, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (byte_rank((unsigned char)lit[i]) < byte_rank((unsigned char)lit[best])) best = i;
    return best;
}

/* memmem(h, n, lit, k) -- the leftmost occurrence -- for the short literals and lines here:
 * glibc's generic memmem sets up a shift table on every call (~20-25 % of classify's CPU on
 * a 1M-line outage log, perf); memchr (vectorised) for the literal's rare byte `r`, then memcmp, is
 * several times cheaper on lines of a few hundred bytes.  Candidates come in increasing
 * position, so the first full match is the leftmost, as memmem's. */
static const char *find_lit(const char *h, size_t n, const char *lit, size_t k, size_t r) {
    if (k == 0) return h;
    if (k > n) return NULL;
    const char *p = h + r, *last = h + (n - k) + r; /* the rare byte of the last possible start */
    const unsigned char c = (unsigned char)lit[r];
    while (p <= last && (p = memchr(p, c, (size_t)(last - p) + 1)) != NULL) {
        const char *start = p - r;
        if (memcmp(start, lit, k) == 0) return start;
        p++;
    }
    return NULL;
}

static inline int dig(char c) { return c >= '0' && c <= '9'; }
static inline int two(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static int time_ok(const char *t) {
    /* YYYY/MM/DD HH:MM:SS that nginx could have written (errorlog.engine_time: 1970 <= year < 9999) */
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = two(t) * 100 + two(t + 2), month = two(t + 5), day = two(t + 8);
    if (year < 1970 || year >= 9999 || month < 1 || month > 12 || day < 1) return 0;
    int dim = days[month - 1];
    if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) dim = 29;
    return day <= dim && two(t + 11) <= 23 && two(t + 14) <= 59 && two(t + 17) <= 59;
}

/* ENGINE_HEAD_PREFIX: ^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[[a-z]+\] \d+#\d+: (?:\*\d+ )?
 * returns the message offset, or -1 */
/* Whether the 8 bytes at s fit a shape of digits and separators: `want` holds the separators and
 * '0' at each digit, `digit` 0xff at each digit (little-endian).  The bytes xor'ed with `want`
 * leave 0 at a separator and 0..9 at a digit; a digit's x is below 10 when neither x nor x + 0x76
 * has its high bit set (no carry crosses bytes then).  A word at a time, where a loop over the
 * 21 bytes was ~10 % of the scanner's CPU (perf, BENCHMARKS.md stop 48). */
static inline int shape8(const char *s, uint64_t want, uint64_t digit) {
    uint64_t w;
    memcpy(&w, s, 8);
    uint64_t x = w ^ want, xd = x & digit;
    return (x & ~digit) == 0 && ((xd | (xd + (0x7676767676767676ULL & digit))) & 0x8080808080808080ULL & digit) == 0;
}

static Py_ssize_t nginx_head(const char *s, Py_ssize_t n, Line *out) {
    if (n < 21) return -1;
    /* "dddd/dd/dd dd:dd:dd [" in three overlapping words */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (!shape8(s, 0x2f30302f30303030ULL, 0x00ffff00ffffffffULL) ||       /* "dddd/dd/" */
        !shape8(s + 8, 0x30303a3030203030ULL, 0xffff00ffff00ffffULL) ||   /* "dd dd:dd" */
        !shape8(s + 13, 0x5b2030303a30303aULL, 0x0000ffff00ffff00ULL))    /* ":dd:dd [" */
        return -1;
#else /* the words above are little-endian */
    static const char shape[] = "dddd/dd/dd dd:dd:dd [";
    for (int i = 0; i < 21; i++) {
        if (shape[i] == 'd' ? !dig(s[i]) : s[i] != shape[i]) return -1;
    }
#endif
    Py_ssize_t i = 21;
    while (i < n && s[i] >= 'a' && s[i] <= 'z') i++;
    if (i == 21 || i + 1 >= n || s[i] != ']' || s[i + 1] != ' ') return -1;
    out->level = s + 21;
    out->level_len = i - 21;
    i += 2;
    Py_ssize_t d = i;
    while (i < n && dig(s[i])) i++;
    if (i == d || i >= n || s[i] != '#') return -1;
    d = ++i;
    while (i < n && dig(s[i])) i++;
    if (i == d || i + 1 >= n || s[i] != ':' || s[i + 1] != ' ') return -1;
    i += 2;
    out->conn = 0;
    if (i < n && s[i] == '*') {
        Py_ssize_t j = i + 1;
        while (j < n && dig(s[j])) j++;
        if (j > i + 1 && j < n && s[j] == ' ') { i = j + 1; out->conn = 1; }
    }
    out->time = s;
    return i;
}

/* ERRNO: \((\d{1,9}): -- the first match */
static int32_t find_errno(const char *m, Py_ssize_t n) {
    const char *end = m + n, *p = m;
    while ((p = memchr(p, '(', (size_t)(end - p))) != NULL) {
        const char *q = p + 1;
        int32_t v = 0;
        int k = 0;
        while (q < end && dig(*q) && k < 10) { v = k < 9 ? v * 10 + (*q - '0') : v; q++; k++; }
        if (k >= 1 && k <= 9 && end - q >= 2 && q[0] == ':' && q[1] == ' ') return v;
        p++;
    }
    return -1;
}

/* ACTION: " while ([^,()]*(?:,|$))" -- the first match; sets the group (with its comma) */
static void find_action(const char *m, Py_ssize_t n, Line *out) {
    const char *end = m + n, *p = m;
    out->action = NULL;
    out->action_len = -1;
    while (end - p >= 7 && (p = find_lit(p, (size_t)(end - p), " while ", 7, 1)) != NULL) {
        const char *q = p + 7;
        while (q < end && *q != ',' && *q != '(' && *q != ')') q++;
        if (q == end || *q == ',') {
            out->action = p + 7;
            out->action_len = (q - (p + 7)) + (q < end);
            return;
        }
        p++;
    }
}

/* detail_regexes()[key]: "(lit1|lit2|...)" searched -- leftmost position, then list order */
static int32_t find_detail(const Scanner *sc, int32_t key, const char *m, Py_ssize_t n) {
    int32_t best = -1;
    const char *best_at = NULL;
    for (int32_t j = 0; j < sc->ndetails[key]; j++) {
        const Lit *d = &sc->details[key][j];
        if (d->n > n) continue;
        const char *at = find_lit(m, (size_t)n, d->p, (size_t)d->n, d->rare);
        if (at != NULL && (best_at == NULL || at < best_at)) { best_at = at; best = j; }
    }
    return best;
}

/* the first byte of [p, end) that is not ASCII, or NULL */
static const char *find_high(const char *p, const char *end) {
    for (; end - p >= 32; p += 32) {
        uint64_t w[4];
        memcpy(w, p, 32);
        if ((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ULL) break;
    }
    for (; p < end; p++)
        if ((unsigned char)*p & 0x80) return p;
    return NULL;
}

/* What each line of a batch holds, found a batch at a time: the next non-ASCII byte and the next
 * backslash at or after the line being read (NULL: none up to the batch's end).  One search runs
 * on from where the last one stopped, so every byte is looked at once, where a search per line
 * (has_high_byte, has_escaped_quote's memchr over the whole of every line) paid a call and a tail
 * loop per line: ~7 % of the scanner's CPU (perf, BENCHMARKS.md stop 48). */
typedef struct {
    const char *high, *bslash, *end;
    int ascii; /* the caller vouched for the batch: no search for non-ASCII bytes */
} Ahead;

static void ahead_init(Ahead *a, const char *p, const char *end, int ascii) {
    a->end = end;
    a->ascii = ascii;
    a->high = ascii ? NULL : find_high(p, end);
    a->bslash = memchr(p, '\\', (size_t)(end - p));
}

/* whether the line [s, s + len) holds a non-ASCII byte (*high) and a backslash (*bslash) */
static inline void ahead_line(Ahead *a, const char *s, Py_ssize_t len, int *high, int *bslash) {
    if (a->high != NULL && a->high < s) a->high = find_high(s, a->end);
    if (a->bslash != NULL && a->bslash < s) a->bslash = memchr(s, '\\', (size_t)(a->end - s));
    *high = a->high != NULL && a->high < s + len;
    *bslash = a->bslash != NULL && a->bslash < s + len;
}

static int has_escaped_quote(const char *s, Py_ssize_t n) {
    const char *end = s + n, *p = s;
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (p + 1 < end && p[1] == '"') return 1;
        p++;
    }
    return 0;
}

static int starts(const char *p, const char *end, const char *lit, size_t n) {
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

#include "_scan_wrappers.h"

/* high: the line holds a non-ASCII byte; bslash: it holds a backslash (ahead_line) */
static int parse_line(const Scanner *sc, const char *s, Py_ssize_t n, int high, int bslash, Line *out,
                      Buf *scratch) {
    if (n == 0) return LINE_SKIP; /* no engine recognises an empty line */
    if (high) return LINE_EXACT;
    out->raw = s;
    out->raw_len = n;
    out->wrapped = 0;
    Py_ssize_t at = nginx_head(s, n, out);
    if (at < 0) { /* a wrapper around an nginx line? */
        if (clf_request(s, n)) return LINE_SKIP; /* an access log's request line: read as nothing */
        int bare;
        Py_ssize_t inner_len = 0;
        const char *inner = unwrap_once(s, n, scratch, &inner_len, &bare);
        if (inner == NULL || (at = nginx_head(inner, inner_len, out)) < 0 ||
            !inner_kept(inner, inner_len, at, bare, out->conn)) {
            /* the other framings (syslog, journald, compose, kubectl --prefix, their stacks): where
             * unwrap()'s whole loop stops, on a printable ASCII line with no \" and no trailing \n
             * for it to rewrite (unwrap_ascii.h), when an nginx line starts there -- the loop stops
             * at one, and leaves it as it is */
            Py_ssize_t u = unwrap_at(s, n);
            if (u <= 0 || (at = nginx_head(s + u, n - u, out)) < 0 || !inner_kept(s + u, n - u, at, 0, out->conn))
                /* (inner: docker's decoded "log" when s is its object -- unwrap_once's) */
                return framed_request(s, n, u, s[0] == '{' ? inner : NULL, inner_len) && !may_normalize(s, n)
                       ? LINE_SKIP : LINE_EXACT;
            inner = s + u;
            inner_len = n - u;
        }
        s = inner;
        n = inner_len;
        out->wrapped = 1;
    } else if (bslash && has_escaped_quote(s, n)) {
        return LINE_EXACT;
    }
    if (!time_ok(s)) return LINE_EXACT;
    const char *m = s + at;
    Py_ssize_t mn = n - at;
    out->msg = m;
    out->msg_len = mn;
    int32_t key = trie_match(&sc->plain, (const unsigned char *)m, mn);
    if (key < 0 && mn > 0 && m[0] != ' ') { /* [^ ]+ (?:prefixed keys) */
        const char *sp = memchr(m, ' ', (size_t)mn);
        if (sp != NULL) {
            int32_t k = trie_match(&sc->prefixed, (const unsigned char *)sp + 1, mn - (sp + 1 - m));
            if (k >= 0) key = sc->nplain + k;
        }
    }
    /* no key: a line normalize() could repair gets its second chance in the reference engine
     * (a wrapped line, or a plain one whose connection number Markdown mangled: "19162#0: _487") */
    if (key < 0) return may_normalize(out->raw, out->raw_len) ? LINE_EXACT : LINE_SKIP;
    out->key = key;
    out->errnum = find_errno(m, mn);
    find_action(m, mn, out);
    out->detail = sc->ndetails[key] ? find_detail(sc, key, m, mn) : -1;
    return LINE_KEYED;
}

/* UPSTREAM_ONLY: , upstream: "([^"]*)" -- the field's content, or NULL */
static const char *upstream_field(const char *m, Py_ssize_t n, Py_ssize_t *len) {
    static const char open[] = ", upstream: \"";
    const char *end = m + n;
    const char *p = find_lit(m, (size_t)n, open, sizeof(open) - 1, 2);
    if (p == NULL) return NULL;
    p += sizeof(open) - 1;
    const char *q = memchr(p, '"', (size_t)(end - p));
    if (q == NULL) return NULL; /* no later occurrence can have a closing quote either */
    *len = q - p;
    return p;
}

static inline int scheme_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || dig(c) || c == '+' || c == '.' || c == '-';
}

/* errorlog.UPSTREAM_PEER on a field (no quotes in it): the length of the whole match
 * ^(?:[A-Za-z0-9+.-]+://)?(?:unix:[^:]*|\[[^\]]*\](?::\d+)?|[^/]*) */
static Py_ssize_t peer_len(const char *f, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n && scheme_char(f[i])) i++;
    i = (i > 0 && n - i >= 3 && f[i] == ':' && f[i + 1] == '/' && f[i + 2] == '/') ? i + 3 : 0;
    if (n - i >= 5 && memcmp(f + i, "unix:", 5) == 0) {
        Py_ssize_t j = i + 5;
        while (j < n && f[j] != ':') j++;
        return j;
    }
    if (i < n && f[i] == '[') {
        const char *close = memchr(f + i, ']', (size_t)(n - i));
        if (close != NULL) {
            Py_ssize_t j = close - f + 1;
            if (j + 1 < n && f[j] == ':' && dig(f[j + 1])) {
                j += 1;
                while (j < n && dig(f[j])) j++;
            }
            return j;
        }
    }
    const char *slash = memchr(f + i, '/', (size_t)(n - i));
    return slash != NULL ? slash - f : n;
}

/* FIELDS: client, server, request, host as ngx_http_log_error_handler() orders them */
typedef struct {
    const char *client, *server, *request, *host;
    Py_ssize_t client_len, server_len, request_len, host_len;
} Fields;

/* (?:, NAME: "([^"]*)")? at p: advances p and sets the group when it matches */
static const char *quoted(const char *p, const char *end, const char *lit, size_t n,
                          const char **val, Py_ssize_t *val_len) {
    if (!starts(p, end, lit, n)) return p;
    const char *q = memchr(p + n, '"', (size_t)(end - (p + n)));
    if (q == NULL) return p;
    if (val != NULL) { *val = p + n; *val_len = q - (p + n); }
    return q + 1;
}

static void find_fields(const char *m, Py_ssize_t n, Fields *f) {
    const char *end = m + n;
    f->client_len = f->server_len = f->request_len = f->host_len = -1;
    f->client = f->server = f->request = f->host = NULL;
    const char *p = find_lit(m, (size_t)n, ", client: ", 10, 2);
    if (p == NULL) return;
    p += 10;
    const char *c = memchr(p, ',', (size_t)(end - p));
    const char *q = c != NULL ? c : end;
    f->client = p;
    f->client_len = q - p;
    p = q;
    if (starts(p, end, ", server: ", 10)) {
        p += 10;
        c = memchr(p, ',', (size_t)(end - p));
        q = c != NULL ? c : end;
        f->server = p;
        f->server_len = q - p;
        p = q;
    }
    p = quoted(p, end, ", request: \"", 12, &f->request, &f->request_len);
    p = quoted(p, end, ", subrequest: \"", 15, NULL, NULL);
    p = quoted(p, end, ", upstream: \"", 13, NULL, NULL);
    quoted(p, end, ", host: \"", 9, &f->host, &f->host_len);
}

/* ---- rule decisions: cached, asked of the Python resolver with the GIL held ---- */

static uint64_t combo_hash(const Line *ln) {
    uint64_t h = mix(HASH0, (uint64_t)(uint32_t)ln->key << 32 | (uint32_t)ln->errnum);
    h = mix(h, (uint64_t)(uint32_t)ln->detail << 32 | (uint32_t)(ln->action_len >= 0));
    h = hash_bytes(h, ln->level, (size_t)ln->level_len);
    return ln->action_len >= 0 ? hash_bytes(h, ln->action, (size_t)ln->action_len) : h;
}

static int combo_eq(const Combo *c, uint64_t h, const Line *ln) {
    return c->hash == h && c->key == ln->key && c->errnum == ln->errnum && c->detail == ln->detail &&
           c->level_len == ln->level_len && memcmp(c->level, ln->level, (size_t)ln->level_len) == 0 &&
           c->action_len == ln->action_len &&
           (ln->action_len < 0 || memcmp(c->action, ln->action, (size_t)ln->action_len) == 0);
}

static void combos_clear(Scanner *sc) {
    for (size_t i = 0; i < sc->combo_cap; i++) {
        if (sc->combos[i].used) { free(sc->combos[i].level); free(sc->combos[i].action); }
    }
    free(sc->combos);
    sc->combos = NULL;
    sc->ncombos = sc->combo_cap = 0;
}

static Combo *combo_slot(Combo *table, size_t cap, uint64_t h, const Line *ln) {
    size_t i = (size_t)h & (cap - 1);
    while (table[i].used && !(ln != NULL && combo_eq(&table[i], h, ln))) i = (i + 1) & (cap - 1);
    return &table[i];
}

static int combos_grow(Scanner *sc) {
    size_t cap = sc->combo_cap ? sc->combo_cap * 2 : 256;
    Combo *table = calloc(cap, sizeof(Combo));
    if (table == NULL) return -1;
    for (size_t i = 0; i < sc->combo_cap; i++) {
        if (sc->combos[i].used) *combo_slot(table, cap, sc->combos[i].hash, NULL) = sc->combos[i];
    }
    free(sc->combos);
    sc->combos = table;
    sc->combo_cap = cap;
    return 0;
}

/* the cached rule of ln, or -2 when it must be asked (no entry yet) */
static int32_t combo_lookup(const Scanner *sc, const Line *ln, uint64_t h) {
    if (sc->combo_cap == 0) return -2;
    const Combo *c = combo_slot(sc->combos, sc->combo_cap, h, ln);
    return c->used ? c->rule : -2;
}

/* with the GIL: ask the resolver, remember the answer; -1 no rule, -3 error (exception set) */
static int32_t combo_resolve(Scanner *sc, const Line *ln, uint64_t h) {
    PyObject *action = ln->action_len >= 0
        ? PyUnicode_DecodeASCII(ln->action, ln->action_len, "strict") : Py_NewRef(Py_None);
    PyObject *level = PyUnicode_DecodeASCII(ln->level, ln->level_len, "strict");
    if (action == NULL || level == NULL) { Py_XDECREF(action); Py_XDECREF(level); return -3; }
    PyObject *res = PyObject_CallFunction(sc->resolver, "iiOOi", (int)ln->key, (int)ln->errnum, action, level,
                                          (int)ln->detail);
    Py_DECREF(action);
    Py_DECREF(level);
    if (res == NULL) return -3;
    int32_t rule = -1;
    if (res == Py_False) {
        rule = -4; /* EXACT_LINE: the rule also needs an `also` literal, which only the reference engine reads */
    } else if (res != Py_None) {
        long idx;
        const char *frag;
        Py_ssize_t frag_len;
        int failure;
        if (!PyArg_ParseTuple(res, "ly#p", &idx, &frag, &frag_len, &failure)) { Py_DECREF(res); return -3; }
        if (idx < 0 || idx > 1000000) {
            Py_DECREF(res);
            PyErr_SetString(PyExc_ValueError, "rule index out of range");
            return -3;
        }
        if ((size_t)idx >= sc->nrules) {
            size_t n = (size_t)idx + 1;
            Rule *r = realloc(sc->rules, n * sizeof(Rule));
            if (r == NULL) { Py_DECREF(res); PyErr_NoMemory(); return -3; }
            memset(r + sc->nrules, 0, (n - sc->nrules) * sizeof(Rule));
            sc->rules = r;
            sc->nrules = n;
        }
        Rule *r = &sc->rules[idx];
        if (!r->known) {
            r->frag = malloc((size_t)frag_len + 1);
            if (r->frag == NULL) { Py_DECREF(res); PyErr_NoMemory(); return -3; }
            memcpy(r->frag, frag, (size_t)frag_len);
            r->frag_len = frag_len;
            r->failure = failure;
            r->known = 1;
        }
        rule = (int32_t)idx;
    }
    Py_DECREF(res);
    if (sc->ncombos >= MAX_COMBOS) combos_clear(sc);
    if ((sc->ncombos + 1) * 2 > sc->combo_cap && combos_grow(sc) != 0) { PyErr_NoMemory(); return -3; }
    Combo *c = combo_slot(sc->combos, sc->combo_cap, h, ln);
    c->hash = h;
    c->key = ln->key;
    c->errnum = ln->errnum;
    c->detail = ln->detail;
    c->rule = rule;
    c->level = malloc((size_t)ln->level_len + 1);
    c->action = ln->action_len >= 0 ? malloc((size_t)ln->action_len + 1) : NULL;
    if (c->level == NULL || (ln->action_len >= 0 && c->action == NULL)) {
        free(c->level);
        free(c->action);
        c->level = c->action = NULL;
        PyErr_NoMemory();
        return -3;
    }
    memcpy(c->level, ln->level, (size_t)ln->level_len);
    c->level_len = ln->level_len;
    if (ln->action_len >= 0) memcpy(c->action, ln->action, (size_t)ln->action_len);
    c->action_len = ln->action_len;
    c->used = 1;
    sc->ncombos++;
    return rule;
}

/* ---- summary groups ---- */

static Group *group_slot(Group *table, size_t cap, uint64_t h, int32_t rule, const char *peer, Py_ssize_t len,
                         int match) {
    size_t i = (size_t)h & (cap - 1);
    while (table[i].n) {
        const Group *g = &table[i];
        if (match && g->hash == h && g->rule == rule && g->peer_len == len &&
            (len <= 0 || memcmp(group_peer(g), peer, (size_t)len) == 0))
            break;
        i = (i + 1) & (cap - 1);
    }
    return &table[i];
}

static Group *groups_alloc(size_t cap) {
    Group *table = aligned_alloc(64, cap * sizeof(Group)); /* cap: a power of two >= 1024 */
    if (table != NULL) memset(table, 0, cap * sizeof(Group));
    return table;
}

static int groups_grow(Scanner *sc) {
    size_t cap = sc->group_cap ? sc->group_cap * 2 : 1024;
    if (cap > ((size_t)-1) / sizeof(Group)) return -1;
    Group *table = groups_alloc(cap);
    if (table == NULL) return -1;
    for (size_t i = 0; i < sc->group_cap; i++) {
        const Group *g = &sc->groups[i];
        if (g->n) *group_slot(table, cap, g->hash, 0, NULL, 0, 0) = *g;
    }
    free(sc->groups);
    sc->groups = table;
    sc->group_cap = cap;
    return 0;
}

static uint64_t group_hash(int32_t rule, const char *peer, Py_ssize_t len) {
    uint64_t h = mix(HASH0, (uint64_t)(uint32_t)rule << 32 ^ (uint64_t)len);
    return len > 0 ? hash_bytes(h, peer, (size_t)len) : h;
}

/* "YYYY/MM/DD HH:MM:SS" as the number its 14 digits make -- the same order as the text's, since
 * every time kept here has that shape (nginx_head checked each digit and separator) -- and back */
static const unsigned char TIME_DIGITS[14] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};

static inline uint64_t time_key(const char *t) {
    uint64_t k = 0;
    for (int i = 0; i < 14; i++) k = k * 10 + (uint64_t)(t[TIME_DIGITS[i]] - '0');
    return k;
}

static void time_text(uint64_t k, char out[19]) {
    memcpy(out, "0000/00/00 00:00:00", 19);
    for (int i = 13; i >= 0; i--) { out[TIME_DIGITS[i]] = (char)('0' + k % 10); k /= 10; }
}

static int group_add(Scanner *sc, int32_t rule, const char *peer, Py_ssize_t len, const char *time) {
    if (len > INT32_MAX) len = -2; /* a peer of over 2 GiB (one line that long): "(other)" */
    uint64_t h = group_hash(rule, peer, len);
    Group *g = sc->group_cap ? group_slot(sc->groups, sc->group_cap, h, rule, peer, len, 1) : NULL;
    uint64_t key = time_key(time);
    if (g == NULL || !g->n) {
        if (sc->ngroups >= sc->max_groups && len != -2) /* bounded: further peers are "(other)" */
            return group_add(sc, rule, NULL, -2, time);
        if ((sc->ngroups + 1) * 2 > sc->group_cap) {
            if (groups_grow(sc) != 0) return -1;
        }
        g = group_slot(sc->groups, sc->group_cap, h, rule, peer, len, 1);
        g->hash = h;
        g->rule = rule;
        g->peer_len = (int32_t)len;
        if (len > PEER_INLINE) {
            if ((g->peer.heap = malloc((size_t)len)) == NULL) return -1;
            memcpy(g->peer.heap, peer, (size_t)len);
        } else if (len > 0) {
            memcpy(g->peer.bytes, peer, (size_t)len);
        }
        g->first_key = g->last_key = key;
        sc->ngroups++;
    }
    g->n++;
    if (key < g->first_key) g->first_key = key;
    if (key > g->last_key) g->last_key = key;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Python methods                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* copies of the bytes in seq (the scanner owns them: nothing it was given can change under it) */
static int load_lits(PyObject *seq, Lit **out, int32_t *count) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > 100000) { PyErr_SetString(PyExc_ValueError, "too many literals"); return -1; }
    *out = n ? calloc((size_t)n, sizeof(Lit)) : NULL;
    if (n && *out == NULL) { PyErr_NoMemory(); return -1; }
    *count = (int32_t)n; /* set first: free_lits frees what was copied if a later item fails */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyBytes_Check(item)) { PyErr_SetString(PyExc_TypeError, "literals must be bytes"); return -1; }
        Py_ssize_t len = PyBytes_GET_SIZE(item);
        char *copy = malloc((size_t)len + 1);
        if (copy == NULL) { PyErr_NoMemory(); return -1; }
        memcpy(copy, PyBytes_AS_STRING(item), (size_t)len);
        (*out)[i].p = copy;
        (*out)[i].n = len;
        (*out)[i].rare = lit_rare(copy, (size_t)len);
    }
    return 0;
}

static void free_lits(Lit *lits, int32_t count) {
    if (lits == NULL) return;
    for (int32_t i = 0; i < count; i++) free((char *)lits[i].p);
    free(lits);
}

static int Scanner_init(Scanner *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"plain", "prefixed", "details", "resolver", "max_groups", NULL};
    PyObject *plain, *prefixed, *details, *resolver;
    Py_ssize_t max_groups = 50000;
    if (self->resolver != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Scanner is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO|n", kwlist, &plain, &prefixed, &details, &resolver,
                                     &max_groups))
        return -1;
    if (!PyCallable_Check(resolver)) { PyErr_SetString(PyExc_TypeError, "resolver must be callable"); return -1; }
    self->resolver = Py_NewRef(resolver);
    self->max_groups = max_groups > 0 ? (size_t)max_groups : 1;
    PyObject *fp = PySequence_Fast(plain, "plain must be a sequence");
    PyObject *fq = PySequence_Fast(prefixed, "prefixed must be a sequence");
    PyObject *fd = PySequence_Fast(details, "details must be a sequence");
    int rc = -1;
    Lit *lp = NULL, *lq = NULL;
    int32_t np = 0, nq = 0;
    if (fp == NULL || fq == NULL || fd == NULL) goto done;
    if (load_lits(fp, &lp, &np) || load_lits(fq, &lq, &nq)) goto done;
    if (PySequence_Fast_GET_SIZE(fd) != (Py_ssize_t)np + nq) {
        PyErr_SetString(PyExc_ValueError, "details: one sequence per key");
        goto done;
    }
    self->nplain = np;
    self->nkeys = np + nq;
    for (int32_t i = 0; i < np; i++)
        if (trie_add(&self->plain, (const unsigned char *)lp[i].p, lp[i].n, i)) { PyErr_NoMemory(); goto done; }
    for (int32_t i = 0; i < nq; i++)
        if (trie_add(&self->prefixed, (const unsigned char *)lq[i].p, lq[i].n, i)) { PyErr_NoMemory(); goto done; }
    if (trie_chains(&self->plain) || trie_chains(&self->prefixed)) { PyErr_NoMemory(); goto done; }
    self->details = calloc((size_t)self->nkeys + 1, sizeof(Lit *));
    self->ndetails = calloc((size_t)self->nkeys + 1, sizeof(int32_t));
    if (self->details == NULL || self->ndetails == NULL) { PyErr_NoMemory(); goto done; }
    for (int32_t i = 0; i < self->nkeys; i++) {
        PyObject *fi = PySequence_Fast(PySequence_Fast_GET_ITEM(fd, i), "details must hold sequences");
        if (fi == NULL) goto done;
        int bad = load_lits(fi, &self->details[i], &self->ndetails[i]);
        Py_DECREF(fi);
        if (bad) goto done;
    }
    rc = 0;
done:
    free_lits(lp, np);
    free_lits(lq, nq);
    Py_XDECREF(fp);
    Py_XDECREF(fq);
    Py_XDECREF(fd);
    return rc;
}

static PyObject *Scanner_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    (void)args;
    (void)kwds;
    Scanner *self = (Scanner *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    trie_init(&self->plain);
    trie_init(&self->prefixed);
    return (PyObject *)self;
}

static void Scanner_dealloc(Scanner *self) {
    free(self->plain.nodes);
    free(self->prefixed.nodes);
    free(self->plain.chains);
    free(self->prefixed.chains);
    if (self->details != NULL && self->ndetails != NULL) {
        for (int32_t i = 0; i < self->nkeys; i++) free_lits(self->details[i], self->ndetails[i]);
    }
    free(self->details);
    free(self->ndetails);
    combos_clear(self);
    for (size_t i = 0; i < self->nrules; i++) free(self->rules[i].frag);
    free(self->rules);
    for (size_t i = 0; i < self->group_cap; i++) {
        if (self->groups[i].n && self->groups[i].peer_len > PEER_INLINE) free(self->groups[i].peer.heap);
    }
    free(self->groups);
    Py_XDECREF(self->resolver);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int enter(Scanner *self) {
    if (self->resolver == NULL) { PyErr_SetString(PyExc_RuntimeError, "Scanner not initialised"); return -1; }
    if (self->busy) { PyErr_SetString(PyExc_RuntimeError, "a Scanner serves one thread at a time"); return -1; }
    self->busy = 1;
    return 0;
}

/* the next line of [p, end): its length without trailing CRs, and where the one after starts */
static inline const char *next_line(const char *p, const char *end, Py_ssize_t *len) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl != NULL ? nl : end;
    const char *e = stop;
    while (e > p && e[-1] == '\r') e--;
    *len = e - p;
    return nl != NULL ? nl + 1 : NULL;
}

static PyObject *finish_call(Scanner *self, Buf *a, Buf *b, int32_t failed, PyObject *result) {
    self->busy = 0;
    int oom = a->failed || (b != NULL && b->failed);
    free(a->data);
    if (b != NULL) free(b->data);
    if (failed == -3) { Py_XDECREF(result); return NULL; }
    if (oom || failed == -1) { Py_XDECREF(result); return PyErr_NoMemory(); }
    return result;
}

/* `since`: None, or 19 bytes "YYYY/MM/DD HH:MM:SS" */
static int since_arg(PyObject *obj, const char **since) {
    *since = NULL;
    if (obj == Py_None) return 0;
    if (!PyBytes_Check(obj) || PyBytes_GET_SIZE(obj) != 19) {
        PyErr_SetString(PyExc_ValueError, "since must be 19 bytes");
        return -1;
    }
    *since = PyBytes_AS_STRING(obj);
    return 0;
}

enum { NO_RULE = -1, RULE_ERROR = -3, EXACT_LINE = -4 };

/* The rule of one line (>= 0), NO_RULE, EXACT_LINE (the line is appended to `exact`) or
 * RULE_ERROR (an exception is set).  Runs without the GIL; takes it back through *save only to
 * ask the resolver about a combination not seen before. */
static int32_t line_rule(Scanner *self, const char *s, Py_ssize_t len, Ahead *ahead, const char *since, Line *ln,
                         Buf *exact, long long *nexact, Buf *scratch, PyThreadState **save) {
    int high, bslash;
    ahead_line(ahead, s, len, &high, &bslash);
    int kind = parse_line(self, s, len, high, bslash, ln, scratch);
    if (kind == LINE_SKIP) return NO_RULE;
    if (kind == LINE_KEYED) {
        uint64_t h = combo_hash(ln);
        int32_t rule = combo_lookup(self, ln, h);
        if (rule == -2) {
            PyEval_RestoreThread(*save);
            rule = combo_resolve(self, ln, h);
            *save = PyEval_SaveThread();
        }
        if (rule == -3) return RULE_ERROR;
        if (rule >= 0) return since != NULL && memcmp(ln->time, since, 19) < 0 ? NO_RULE : rule;
        /* no rule: a line normalize() could repair gets its second chance in the reference engine;
         * EXACT_LINE: the resolver cannot decide the combination without the line (an `also` rule) */
        if (rule != EXACT_LINE && !may_normalize(ln->raw, ln->raw_len)) return NO_RULE;
    }
    if ((*nexact)++) buf_put(exact, "\n", 1);
    buf_put(exact, s, (size_t)len);
    return EXACT_LINE;
}

/* summarize(data, since=None, ascii=False) -> (lines, exact lines joined by "\n" or None)
 * Counts every keyed line into the groups (rule, upstream peer); `since`: 19 bytes
 * "YYYY/MM/DD HH:MM:SS", earlier lines are dropped. */
static PyObject *Scanner_summarize(Scanner *self, PyObject *args) {
    Py_buffer data;
    PyObject *since_obj = Py_None;
    int ascii = 0;
    const char *since;
    if (!PyArg_ParseTuple(args, "y*|Op", &data, &since_obj, &ascii)) return NULL;
    if (since_arg(since_obj, &since) || enter(self)) { PyBuffer_Release(&data); return NULL; }
    Buf exact = {0}, scratch = {0}; /* scratch: a decoded docker "log" */
    long long lines = 0, nexact = 0;
    int32_t failed = 0;
    const char *p = data.buf, *end = p + data.len;
    PyThreadState *save = PyEval_SaveThread();
    Ahead ahead;
    ahead_init(&ahead, p, end, ascii);
    while (p != NULL) {
        Py_ssize_t len;
        const char *s = p;
        p = next_line(p, end, &len);
        lines++;
        Line ln;
        int32_t rule = line_rule(self, s, len, &ahead, since, &ln, &exact, &nexact, &scratch, &save);
        if (rule == RULE_ERROR) { failed = -3; break; }
        if (rule < 0) continue;
        Py_ssize_t flen = 0, plen = -1;
        const char *field = upstream_field(ln.msg, ln.msg_len, &flen);
        if (field != NULL) plen = peer_len(field, flen);
        if (group_add(self, rule, field, plen, ln.time) != 0) { failed = -1; break; }
    }
    PyEval_RestoreThread(save);
    free(scratch.data);
    PyBuffer_Release(&data);
    PyObject *result = NULL;
    if (!failed && !exact.failed) {
        result = nexact ? Py_BuildValue("(Ly#)", lines, exact.data ? exact.data : "", (Py_ssize_t)exact.len)
                        : Py_BuildValue("(LO)", lines, Py_None);
    }
    return finish_call(self, &exact, NULL, failed, result);
}

/* groups() -> [(rule, peer bytes | None (no field) | True ("(other)"), n, first, last)] */
static PyObject *Scanner_groups(Scanner *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    for (size_t i = 0; i < self->group_cap; i++) {
        const Group *g = &self->groups[i];
        if (!g->n) continue;
        PyObject *peer = g->peer_len == -1 ? Py_NewRef(Py_None)
                         : g->peer_len == -2 ? Py_NewRef(Py_True)
                         : PyBytes_FromStringAndSize(group_peer(g), g->peer_len);
        char first[19], last[19];
        time_text(g->first_key, first);
        time_text(g->last_key, last);
        PyObject *row = peer ? Py_BuildValue("(iNLy#y#)", (int)g->rule, peer, g->n, first, (Py_ssize_t)19,
                                             last, (Py_ssize_t)19) : NULL;
        if (row == NULL || PyList_Append(out, row) != 0) { Py_XDECREF(row); Py_DECREF(out); return NULL; }
        Py_DECREF(row);
    }
    return out;
}

/* records(data, first_line, file_json, since=None, ascii=False)
 *   -> (ndjson bytes, lines, failures, exact lines joined by "\n" or None, marks: (index, offset)
 *      of each exact line as native int64 pairs)
 * One JSON object per recognised line in the columns of `classify --format jsonl`; exact lines
 * are left out and listed with the output offset where their records belong. */
static PyObject *Scanner_records(Scanner *self, PyObject *args) {
    Py_buffer data;
    long long first_line;
    const char *file_json, *since;
    Py_ssize_t file_len;
    PyObject *since_obj = Py_None;
    int ascii = 0;
    if (!PyArg_ParseTuple(args, "y*Ly#|Op", &data, &first_line, &file_json, &file_len, &since_obj, &ascii))
        return NULL;
    if (since_arg(since_obj, &since) || enter(self)) { PyBuffer_Release(&data); return NULL; }
    Buf out = {0}, exact = {0}, marks = {0}; /* marks: (line index, offset) pairs as long long */
    Buf scratch = {0};                      /* a decoded docker "log" */
    long long lines = 0, failures = 0, nexact = 0;
    int32_t failed = 0;
    const char *p = data.buf, *end = p + data.len;
    PyThreadState *save = PyEval_SaveThread();
    buf_reserve(&out, (size_t)data.len + (size_t)data.len / 2);
    Ahead ahead;
    ahead_init(&ahead, p, end, ascii);
    while (p != NULL) {
        Py_ssize_t len;
        const char *s = p;
        p = next_line(p, end, &len);
        long long idx = lines++;
        Line ln;
        int32_t rule = line_rule(self, s, len, &ahead, since, &ln, &exact, &nexact, &scratch, &save);
        if (rule == RULE_ERROR) { failed = -3; break; }
        if (rule == EXACT_LINE) {
            long long mark[2] = {idx, (long long)out.len};
            buf_put(&marks, (const char *)mark, sizeof mark);
            continue;
        }
        if (rule < 0) continue;
        const Rule *r = &self->rules[rule];
        failures += r->failure;
        Py_ssize_t ulen = -1;
        const char *up = upstream_field(ln.msg, ln.msg_len, &ulen);
        if (up == NULL) ulen = -1;
        Fields f;
        find_fields(ln.msg, ln.msg_len, &f);
        char iso[19];
        memcpy(iso, ln.time, 19);
        iso[4] = iso[7] = '-';
        iso[10] = 'T';
        BUF_LIT(&out, "{\"line\":");
        buf_int(&out, first_line + idx);
        BUF_LIT(&out, ",\"file\":");
        buf_put(&out, file_json, (size_t)file_len);
        buf_put(&out, ",", 1);
        buf_put(&out, r->frag, (size_t)r->frag_len);
        BUF_LIT(&out, ",\"time\":\"");
        buf_put(&out, iso, 19);
        BUF_LIT(&out, "\",\"level\":");
        buf_json_str(&out, ln.level, (size_t)ln.level_len);
        BUF_LIT(&out, ",\"upstream\":");
        buf_json_opt(&out, up, ulen);
        BUF_LIT(&out, ",\"client\":");
        buf_json_opt(&out, f.client, f.client_len);
        BUF_LIT(&out, ",\"server\":");
        buf_json_opt(&out, f.server, f.server_len);
        BUF_LIT(&out, ",\"request\":");
        buf_json_opt(&out, f.request, f.request_len);
        BUF_LIT(&out, ",\"host\":");
        buf_json_opt(&out, f.host, f.host_len);
        BUF_LIT(&out, ",\"message\":");
        buf_json_str(&out, ln.msg, (size_t)ln.msg_len);
        BUF_LIT(&out, "}\n");
        if (out.failed) { failed = -1; break; }
    }
    PyEval_RestoreThread(save);
    free(scratch.data);
    PyBuffer_Release(&data);
    PyObject *result = NULL;
    if (!failed && !out.failed && !exact.failed && !marks.failed) {
        /* the marks as int64 pairs (a tuple each was ~0.1 s per 1M HAProxy lines, every one a mark) */
        PyObject *pairs = PyBytes_FromStringAndSize(marks.data ? marks.data : "", (Py_ssize_t)marks.len);
        PyObject *blob = nexact ? PyBytes_FromStringAndSize(exact.data ? exact.data : "", (Py_ssize_t)exact.len)
                                : Py_NewRef(Py_None);
        PyObject *text = PyBytes_FromStringAndSize(out.data ? out.data : "", (Py_ssize_t)out.len);
        if (pairs != NULL && blob != NULL && text != NULL)
            result = Py_BuildValue("(NLLNN)", text, lines, failures, blob, pairs);
        else { Py_XDECREF(pairs); Py_XDECREF(blob); Py_XDECREF(text); }
        if (result == NULL) failed = -3;
    }
    free(marks.data);
    return finish_call(self, &out, &exact, failed, result);
}

static PyMethodDef Scanner_methods[] = {
    {"summarize", (PyCFunction)Scanner_summarize, METH_VARARGS,
     "summarize(data, since=None, ascii=False) -> (lines, exact lines or None): count keyed lines per "
     "(rule, upstream peer)"},
    {"groups", (PyCFunction)Scanner_groups, METH_NOARGS,
     "groups() -> [(rule, peer, n, first, last)]: the summary so far"},
    {"records", (PyCFunction)Scanner_records, METH_VARARGS,
     "records(data, first_line, file_json, since=None, ascii=False) -> (ndjson, lines, failures, exact lines "
     "or None, (index, offset) of each exact line as native int64 pairs)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "why502.proxies.nginx._scan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Scanner(plain, prefixed, details, resolver, max_groups=50000): nginx error lines, one pass each",
    .tp_new = Scanner_new,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
};

#include "_scan_access.h"
#include "_scan_fold.h"
#include "_scan_columns.h"

static PyMethodDef module_methods[] = {
    {"access_counts", access_counts, METH_VARARGS,
     "access_counts(data, program, buckets) -> ({status+host: n}, {status+upstream: n}, "
     "{last upstream: (cumulative counts, n, sum)}, [undecided lines]): an access-log block counted"},
    {"access_columns", access_columns, METH_VARARGS,
     "access_columns(data, pieces, program, fields[, fold]) -> (arrow schema capsule, arrow array capsule, rows, "
     "handed-back rows as uint32 bytes, handed-back lines[, folded groups]): an access-log block split and parsed"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan",
    "One native pass per nginx error-log line (why502 classify), per access-log line (why502 watch, stats).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__scan(void) {
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    uint64_t seed;
    if (getentropy(&seed, sizeof seed) == 0) fold_seed ^= seed; /* the fold's hash (native/group_table.h) */
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Scanner", (PyObject *)&ScannerType) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
