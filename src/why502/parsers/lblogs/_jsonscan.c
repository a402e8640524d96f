/*
 * why502.parsers.lblogs._jsonscan -- the fields a JSON log family reads, pulled out of each line
 * in one native pass.
 *
 * The optional fast path of the JSON readers (Python side: parsers/lblogs/batch.py, json_rows and
 * JsonPass).  The reference is polars' NDJSON reader with the family's schema behind its guards
 * (json_rows' take/skip regexes and its duplicate-key check), which tests/stats/test_lb_frames.py
 * holds equal to the per-line parser (json.loads).  This pass reads a line only when every value
 * it hands over is one that json.loads and polars read alike, and hands every other line back
 * (its row and its bytes) for the polars reader:
 *
 *   - the line is one bare object, `{` first and `}` last, no control byte, valid JSON (RFC 8259
 *     grammar; whitespace is the space only); a value the family does not read is skipped
 *     whatever it holds (escapes, UTF-8, nesting -- unless the family refuses nested values);
 *   - a key the family reads appears once (json.loads keeps the last of a key written twice,
 *     the NDJSON reader the first); a key holding a backslash goes back (it could decode to one);
 *   - a read value is null, or of the kind its column takes: a string without escape, in
 *     well-formed UTF-8 ('u'), an integer of at most 15 digits without fraction or exponent
 *     ('l'), a plain number of at most 17 significant digits (zeros before the first other digit not counted:
 *     a shortest round-trip repr, Go's 0.0011790000000000001 or Python's) with an exponent of at
 *     most two ('g': strtod and polars both round correctly), or, for a text column that also takes numbers ('s'), a string or an
 *     integer of at most 18 digits written as it is;
 *   - every key of `required` holds an integer, one key of `any_of` at least is there (when
 *     given), and no key (at any depth) nor string value equals one of `forbidden` (another
 *     family's keys: the polars guards refuse those texts anywhere in the line);
 *   - a key `parent.name` (one dot) is the key `name` of the object the top-level key `parent`
 *     holds, read by the same rules (written once in that object, no escape in the object's
 *     keys -- one could decode to a read one); `parent` holds an object or null (null or absent:
 *     its keys are null), anything else sends the line back; a top-level key written `parent.name`
 *     is a key of its own, not read;
 *   - a key of kind 'c' holds an object (or null) whose keys the column counts: how many of them
 *     are not among the key's `names` (ASCII lower case; a key compares in ASCII lower case too),
 *     each occurrence of a key written twice counted; a key of that object holding an escape or a
 *     byte >= 0x80 (which Python's str.lower() could fold otherwise) sends the line back, its
 *     values are skipped as above.
 *
 * The columns come back through the Arrow C data interface (native/arrow_buf.h), nullable, in
 * the order of the keys, then `idx`; the scan runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "answers.h"
#include "arrow_buf.h"
#include "group_table.h"
#include "unwrap_ascii.h"

#define MAX_KEYS 64
#define MAX_FORBIDDEN 64
#define TABLE 256 /* open-addressing slots of the name table (>= 2 x (keys + forbidden)) */

#define MAX_NAMES 16 /* names a 'c' key compares its object's keys with */
#define MAX_NAME_LEN 255

typedef struct {
    const char *name;
    Py_ssize_t len;
    char kind;      /* 'u', 'l', 'g', 's'; 'c': a count of an object's keys; 'o': a parent (no column) */
    int required;   /* must hold an integer */
    int any_of;     /* one of these must be there */
    int parent;     /* the key of its parent object, or -1 at the top level */
    int nnames;     /* 'c': the names not counted (lower case) */
    const char *names[MAX_NAMES];
    Py_ssize_t names_len[MAX_NAMES];
} Key;

typedef struct {
    Key keys[MAX_KEYS];
    int nkeys, nforbidden, has_any_of, nested_ok;
    const char *forbidden[MAX_FORBIDDEN];
    Py_ssize_t forbidden_len[MAX_FORBIDDEN];
    int16_t slot[TABLE]; /* -1 empty; k < MAX_KEYS: a key; MAX_KEYS + f: a forbidden name */
    /* bit min(len, 63) of names[first byte]: the lengths of the names starting with each byte,
     * so that most keys and string values of a line, which are no name of the spec, are told so
     * without hashing (spec_find was ~15 % of a Caddy line's scan, BENCHMARKS.md stop 52) */
    uint64_t lengths[256];
    /* the same of the forbidden names alone: a string value skipped is compared with those only
     * (forbidden_text), and most values share a first byte and a length with some key */
    uint64_t forbidden_lengths[256];
} Spec;

/* a name's slot: its length and three of its bytes (every key of a line is looked up, most
 * are not read: a hash of every byte cost more than the rest of the scan) */
static inline uint32_t name_hash(const char *s, Py_ssize_t n) {
    if (n == 0) return 0;
    return (uint32_t)n * 131u + (unsigned char)s[0] * 31u + (unsigned char)s[n - 1] * 7u
           + (unsigned char)s[n / 2] * 3u;
}

static inline uint64_t length_bit(Py_ssize_t n) { return 1ULL << (n < 63 ? n : 63); }

static int spec_put(Spec *sp, const char *s, Py_ssize_t n, int16_t v) {
    uint32_t h = name_hash(s, n);
    if (n > 0) sp->lengths[(unsigned char)s[0]] |= length_bit(n);
    if (n > 0 && v >= MAX_KEYS) sp->forbidden_lengths[(unsigned char)s[0]] |= length_bit(n);
    for (int probe = 0; probe < TABLE; probe++) {
        int16_t *at = &sp->slot[(h + (uint32_t)probe) & (TABLE - 1)];
        if (*at < 0) { *at = v; return 0; }
    }
    return -1;
}

/* the slot value of name s, or -1 */
static int spec_find(const Spec *sp, const char *s, Py_ssize_t n) {
    if (n > 0 && !(sp->lengths[(unsigned char)s[0]] & length_bit(n))) return -1;
    uint32_t h = name_hash(s, n);
    for (int probe = 0; probe < TABLE; probe++) {
        int16_t v = sp->slot[(h + (uint32_t)probe) & (TABLE - 1)];
        if (v < 0) return -1;
        const char *name = v < MAX_KEYS ? sp->keys[v].name : sp->forbidden[v - MAX_KEYS];
        Py_ssize_t len = v < MAX_KEYS ? sp->keys[v].len : sp->forbidden_len[v - MAX_KEYS];
        if (len == n && memcmp(name, s, (size_t)n) == 0) return v;
    }
    return -1;
}

/* --- the scan of one line ------------------------------------------------------------------ */

#define MAX_ONCE 8

/* texts `"name"` whose occurrences in a line are counted while it is scanned (watch's `once`,
 * below): in a valid JSON line such a text is a string whose whole content is `name`, or lies
 * within an escaped string (after an escaped quote, up to the string's closing quote) -- a
 * quote outside strings opens or closes one, and the byte after a closing quote is never a
 * name's first.  Counting them in the scan of each string replaced two memmem calls over every
 * line (~9 % of a Caddy line's counting, BENCHMARKS.md stop 52); the same count as memmem's,
 * though an occurrence within an escaped string is never one a status regex reads (a key with
 * an escape sends the line back, and a value is followed by no colon). */
typedef struct {
    int n;
    const char *name[MAX_ONCE]; /* the text without its quotes */
    Py_ssize_t len[MAX_ONCE];
    int count[MAX_ONCE];
    /* length_bit of each name's length: most strings of a line have none of them, and are told
     * so by one test (the loop over the names for every key and value was ~14 % of a Cloudflare
     * block's counting, BENCHMARKS.md stop 63) */
    uint64_t lens;
} Once;

/* The keys of the last line, in the order they were scanned (at every depth), each with the
 * place it was read at (`site`) and what that place made of it (`memo`: a spec lookup, whether
 * it is forbidden...).  A log's lines are written by one encoder and have the same keys in the
 * same order: a key is first compared with the one at its place in the last line -- one compare
 * of its bytes and its closing quote -- before it is scanned for its end and looked up.  Keys
 * are most of a line's bytes; the scan of strings and the key lookups were ~26 % of `stats` on
 * Cloudflare's log, and a block is read 1.2-1.6x as fast since (BENCHMARKS.md stop 60).  A kept
 * key is one scan_string read without an escape, a byte >= 0x80 or a control byte, so a line
 * whose bytes at that place are the key and a quote holds the same string: everything the place
 * decides from the text alone is decided alike. */
#define SHAPE_KEYS 128
#define SHAPE_KEY_MAX 56

typedef struct {
    uint8_t len; /* 0: nothing kept at this place */
    int16_t site, memo;
    char text[SHAPE_KEY_MAX];
} ShapeKey;

typedef struct {
    ShapeKey k[SHAPE_KEYS];
} Shape;

typedef struct {
    const char *p, *end;
    const Spec *sp;
    int bad; /* the line goes back */
    Once *once; /* NULL: nothing counted */
    /* the place of the next key in the line's Shape, and the end of its places (both NULL: keys
     * are not compared with the last line's) */
    ShapeKey *sk, *sk_end;
} Cur;

/* the occurrences of the once texts in a string [start, q) just scanned (q its closing quote) */
static inline void once_count(Once *o, const char *start, const char *q, int escaped) {
    if (!escaped && !(o->lens & length_bit(q - start))) return;
    for (int k = 0; k < o->n; k++) {
        Py_ssize_t len = o->len[k];
        if (!escaped) {
            o->count[k] += q - start == len && memcmp(start, o->name[k], (size_t)len) == 0;
            continue;
        }
        /* within an escaped string: an escaped quote, the name, then the closing quote (a quote
         * right after the name inside the string would be escaped: a backslash after the name) */
        o->count[k] += q - start >= len + 1 && q[-len - 1] == '"' && memcmp(q - len, o->name[k], (size_t)len) == 0;
    }
}

static inline void ws(Cur *c) {
    while (c->p < c->end && *c->p == ' ') c->p++;
}

static inline int is_dig(char ch) { return ch >= '0' && ch <= '9'; }

/* the first quote, backslash or control byte (< 0x20, or 0x7f) in [p, end), or NULL, and
 * (*high) whether a byte before it is >= 0x80; sixteen (SSE2) or eight bytes at a time (the
 * strings of a log line are short: a memchr call per string cost more than the scan).  The high
 * bytes and the control bytes are found in the same pass: a pass over each string for its high
 * bytes and one over the whole line for control bytes were ~15 % and ~10 % of the scan
 * (BENCHMARKS.md stop 52).  A control byte outside a string fails the grammar (whitespace is the
 * space only), inside one it is no JSON: either way the line goes back, as before.  The lowest
 * flagged byte of a word is exact (the borrows of the byte tests only run upwards; the SSE2
 * compares are per byte), so only the bytes below it count for *high. */
static inline __attribute__((always_inline)) const char *quote_or_backslash(const char *p, const char *end, int *high) {
    const uint64_t ones = 0x0101010101010101ULL, hi = 0x8080808080808080ULL;
    uint64_t seen = 0;
#if defined(__SSE2__)
    /* sixteen bytes at a time (every x86-64 has SSE2): a byte is flagged when it is a quote, a
     * backslash, 0x7f, or below 0x20 -- the signed compare also takes the bytes >= 0x80, which
     * are only "high": their sign bits are taken out of the flags and kept for *high.  The value
     * strings of a Cloudflare line are most of its ~1.1 KB, and the eight-byte words' test was
     * ~13 % of watch's catch-up (BENCHMARKS.md stop 60). */
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), del = _mm_set1_epi8(0x7f),
                  space = _mm_set1_epi8(0x20);
    unsigned high16 = 0;
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned signs = (unsigned)_mm_movemask_epi8(v);
        unsigned flags = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
            _mm_or_si128(_mm_cmpeq_epi8(v, del), _mm_cmplt_epi8(v, space)))) & ~signs;
        if (flags) {
            *high = high16 != 0 || (signs & ((flags & -flags) - 1)) != 0;
            return p + __builtin_ctz(flags);
        }
        high16 |= signs;
        p += 16;
    }
    seen = high16 ? hi : 0;
#endif
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t a = w ^ ('"' * ones), b = w ^ ('\\' * ones), d = w ^ (0x7f * ones);
        uint64_t hit = (((a - ones) & ~a) | ((b - ones) & ~b) | ((d - ones) & ~d) | ((w - 0x20 * ones) & ~w)) & hi;
        if (hit) {
            *high = seen != 0 || (w & hi & ((hit & -hit) - 1)) != 0;
            return p + (__builtin_ctzll(hit) >> 3);
        }
        seen |= w & hi;
        p += 8;
    }
    for (; p < end; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\' || ch < 0x20 || ch == 0x7f) {
            *high = seen != 0;
            return p;
        }
        if (ch >= 0x80) seen = 1;
    }
    return NULL;
}

/* a string at c->p (the opening quote): its body [*s, *s + *n), whether it holds a backslash or a
 * byte >= 0x80; 0 when it is not a valid JSON string (no closing quote, or a control byte in it) */
static int scan_escaped(Cur *c, const char **s, Py_ssize_t *n, int *escaped, int *high);

static inline __attribute__((always_inline)) int scan_string(Cur *c, const char **s, Py_ssize_t *n,
                                                            int *escaped, int *high) {
    const char *start = c->p + 1;
    const char *q = quote_or_backslash(start, c->end, high);
    if (q == NULL || (*q != '"' && *q != '\\')) return 0; /* no end, or a control byte */
    if (*q == '"') { /* the common case: no escape (inlined: a call per string was ~8 % of a
                      * Cloudflare line's instructions, BENCHMARKS.md stop 63) */
        if (c->once != NULL) once_count(c->once, start, q, 0);
        *escaped = 0;
        *s = start;
        *n = q - start;
        c->p = q + 1;
        return 1;
    }
    return scan_escaped(c, s, n, escaped, high);
}

/* scan_string's string holding a backslash, read again from its start */
static __attribute__((noinline)) int scan_escaped(Cur *c, const char **s, Py_ssize_t *n, int *escaped,
                                                  int *high) {
    const char *start = c->p + 1;
    const char *q;
    *escaped = 1;
    *high = 0;
    for (q = start;;) {
        if (q >= c->end) return 0;
        unsigned char ch = (unsigned char)*q;
        if (ch == '"') break;
        if (ch < 0x20 || ch == 0x7f) return 0;
        if (ch == '\\') {
            if (q + 1 >= c->end) return 0;
            char e = q[1];
            if (e == 'u') {
                if (q + 6 > c->end) return 0;
                for (int k = 2; k < 6; k++) {
                    char x = q[k];
                    if (!(is_dig(x) || (x >= 'a' && x <= 'f') || (x >= 'A' && x <= 'F'))) return 0;
                }
                q += 6;
                continue;
            }
            if (e == 0 || !strchr("\"\\/bfnrt", e)) return 0;
            q += 2;
            continue;
        }
        if (ch >= 0x80) *high = 1;
        q++;
    }
    if (c->once != NULL) once_count(c->once, start, q, 1);
    *s = start;
    *n = q - start;
    c->p = q + 1;
    return 1;
}

/* sites of a key (ShapeKey.site): where in the scan it is read */
#define SITE_TOP 1
#define SITE_OBJECT 2 /* + the parent key: read_object */
#define SITE_SKIPPED 70
#define SITE_COUNTED 80 /* + the 'c' key: count_keys */

/* the key at c->p when it is the one kept at its place for `site`: its body, and the place's
 * memo, c->p after its closing quote; 0 (nothing moved) when it is not */
static inline __attribute__((always_inline)) int shape_hit(Cur *c, int site, const char **s, Py_ssize_t *n,
                                                          int *memo) {
    if (c->sk == c->sk_end) return 0;
    const ShapeKey *k = c->sk;
    Py_ssize_t len = k->len;
    if (len == 0 || k->site != site || c->end - c->p < len + 2 || c->p[0] != '"' || c->p[len + 1] != '"')
        return 0;
#if defined(__SSE2__)
    /* a key of up to 32 bytes in one or two sixteen-byte compares when the line holds that many
     * bytes after its quote (the kept text is SHAPE_KEY_MAX bytes whatever its length): the
     * loop of eight-byte words was most of this function (BENCHMARKS.md stop 63) */
    if (len <= 32 && c->end - c->p >= 33) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(c->p + 1));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)k->text);
        unsigned eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, b));
        if (len > 16) {
            __m128i a2 = _mm_loadu_si128((const __m128i *)(const void *)(c->p + 17));
            __m128i b2 = _mm_loadu_si128((const __m128i *)(const void *)(k->text + 16));
            eq |= (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a2, b2)) << 16;
        }
        uint64_t want = (1ULL << len) - 1;
        if ((eq & want) != want) return 0;
    } else
#endif
    if (!same_bytes(c->p + 1, k->text, len))
        return 0;
    *s = c->p + 1;
    *n = len;
    *memo = k->memo;
    if (c->once != NULL) once_count(c->once, *s, *s + len, 0);
    c->p += len + 2;
    c->sk++;
    return 1;
}

/* the key just scanned at its place (kept when it can be: no escape, no high byte, short) */
static inline void shape_keep(Cur *c, int site, const char *s, Py_ssize_t n, int esc, int high, int memo) {
    if (c->sk == c->sk_end) return;
    ShapeKey *k = c->sk++;
    if (esc || high || n <= 0 || n > SHAPE_KEY_MAX) { k->len = 0; return; }
    memcpy(k->text, s, (size_t)n);
    k->len = (uint8_t)n;
    k->site = (int16_t)site;
    k->memo = (int16_t)memo;
}

/* a number at c->p (RFC 8259): its text, digits of its integer and fraction parts (all, and
 * from the first that is not 0), whether it has a fraction and an exponent, and the exponent's
 * digits; 0 when it is no number */
typedef struct {
    const char *s;
    Py_ssize_t n;
    int digits, sig, frac, exp, exp_digits;
} Num;

static int scan_number(Cur *c, Num *num) {
    const char *q = c->p;
    *num = (Num){0}; /* (no call to memset for a few words) */
    if (q < c->end && *q == '-') q++;
    if (q >= c->end || !is_dig(*q)) return 0;
    if (*q == '0') { q++; num->digits = 1; }
    else while (q < c->end && is_dig(*q)) { q++; num->digits++; num->sig++; }
    if (q < c->end && *q == '.') {
        q++;
        num->frac = 1;
        if (q >= c->end || !is_dig(*q)) return 0;
        while (q < c->end && is_dig(*q)) {
            num->sig += num->sig > 0 || *q != '0';
            q++;
            num->digits++;
        }
    }
    if (q < c->end && (*q == 'e' || *q == 'E')) {
        q++;
        num->exp = 1;
        if (q < c->end && (*q == '+' || *q == '-')) q++;
        if (q >= c->end || !is_dig(*q)) return 0;
        while (q < c->end && is_dig(*q)) { q++; num->exp_digits++; }
    }
    num->s = c->p;
    num->n = q - c->p;
    c->p = q;
    return 1;
}

/* a number at c->p skipped: scan_number's grammar, nothing counted (most of a line's numbers
 * are skipped) */
static inline int skip_number(Cur *c) {
    const char *q = c->p;
    if (q < c->end && *q == '-') q++;
    if (q >= c->end || !is_dig(*q)) return 0;
    if (*q == '0') q++;
    else while (q < c->end && is_dig(*q)) q++;
    if (q < c->end && *q == '.') {
        q++;
        if (q >= c->end || !is_dig(*q)) return 0;
        while (q < c->end && is_dig(*q)) q++;
    }
    if (q < c->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < c->end && (*q == '+' || *q == '-')) q++;
        if (q >= c->end || !is_dig(*q)) return 0;
        while (q < c->end && is_dig(*q)) q++;
    }
    c->p = q;
    return 1;
}

static int lit(Cur *c, const char *word, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

static inline int forbidden_text(const Spec *sp, const char *s, Py_ssize_t n) {
    if (n > 0 && !(sp->forbidden_lengths[(unsigned char)s[0]] & length_bit(n))) return 0;
    int v = spec_find(sp, s, n);
    return v >= MAX_KEYS;
}

/* a string value at c->p skipped (one holding a forbidden name refuses the line: c->bad) */
static inline __attribute__((always_inline)) int skip_string(Cur *c) {
    const char *s;
    Py_ssize_t n;
    int esc, high;
    if (!scan_string(c, &s, &n, &esc, &high)) return 0;
    if (!esc && forbidden_text(c->sp, s, n)) c->bad = 1;
    return 1;
}

/* skip any value (depth: nesting so far); 0 when malformed or refused */
static int skip_value(Cur *c, int depth) {
    if (c->p >= c->end || depth > 64) return 0;
    const char *s;
    Py_ssize_t n;
    int esc, high;
    switch (*c->p) {
    case '"':
        return skip_string(c);
    case '{':
    case '[': {
        if (!c->sp->nested_ok) c->bad = 1; /* a nested value, which the family's guards refuse */
        int obj = *c->p == '{';
        c->p++;
        ws(c);
        if (c->p < c->end && *c->p == (obj ? '}' : ']')) { c->p++; return 1; }
        for (;;) {
            if (obj) {
                int memo;
                if (!shape_hit(c, SITE_SKIPPED, &s, &n, &memo)) {
                    if (c->p >= c->end || *c->p != '"' || !scan_string(c, &s, &n, &esc, &high)) return 0;
                    memo = esc || forbidden_text(c->sp, s, n);
                    shape_keep(c, SITE_SKIPPED, s, n, esc, high, memo);
                }
                if (memo) c->bad = 1;
                ws(c);
                if (c->p >= c->end || *c->p != ':') return 0;
                c->p++;
                ws(c);
            }
            if (!skip_value(c, depth + 1)) return 0;
            ws(c);
            if (c->p >= c->end) return 0;
            if (*c->p == ',') { c->p++; ws(c); continue; }
            if (*c->p == (obj ? '}' : ']')) { c->p++; return 1; }
            return 0;
        }
    }
    case 't': return lit(c, "true", 4);
    case 'f': return lit(c, "false", 5);
    case 'n': return lit(c, "null", 4);
    default: return skip_number(c);
    }
}

/* skip_value of a member's value, its strings and numbers here (most of a line's values: a
 * call per value was ~5 % of a Cloudflare line's instructions, BENCHMARKS.md stop 63) */
static inline __attribute__((always_inline)) int skip_member(Cur *c, int depth) {
    if (c->p < c->end) {
        char ch = *c->p;
        if (ch == '"') return skip_string(c);
        if (ch == '-' || is_dig(ch)) return skip_number(c);
    }
    return skip_value(c, depth);
}

/* what one read key holds: null (n < 0), or the value's text and number */
typedef struct {
    const char *s;
    Py_ssize_t n; /* -1: null or absent */
    int64_t i;
    double g;
} Val;

/* [s, s + n) is well-formed UTF-8 as Python's strict decoder reads it (no overlong form, no
 * surrogate, nothing past U+10FFFF): the readers decode a line with errors="replace", so such a
 * string is the same characters there, and any other has U+FFFD in it (the line goes back) */
static int utf8_ok(const char *s, Py_ssize_t n) {
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        unsigned char b = *p;
        if (b < 0x80) { p++; continue; }
        int len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
        if (len == 0 || e - p < len) return 0;
        for (int k = 1; k < len; k++)
            if ((p[k] & 0xc0) != 0x80) return 0;
        if ((b == 0xe0 && p[1] < 0xa0) || (b == 0xed && p[1] > 0x9f)     /* overlong; a surrogate */
            || (b == 0xf0 && p[1] < 0x90) || (b == 0xf4 && p[1] > 0x8f)) /* overlong; past U+10FFFF */
            return 0;
        p += len;
    }
    return 1;
}

/* the value of read key k at c->p into v; 0 when the line goes back (or is malformed).  A string
 * with bytes past ASCII is read when they are well-formed UTF-8 (utf8_ok): a Caddy or Traefik log
 * whose user agents or hosts held some went back to the polars reader line by line, 2-3x slower
 * (BENCHMARKS.md stop 69) */
static int read_value(Cur *c, const Key *k, Val *v) {
    const char *s;
    Py_ssize_t n;
    int esc, high;
    Num num;
    if (c->p < c->end && *c->p == 'n') {
        if (!lit(c, "null", 4)) return 0;
        if (k->required) return 0;
        v->n = -1;
        return 1;
    }
    if (c->p < c->end && *c->p == '"') {
        if (k->kind != 'u' && k->kind != 's') return 0;
        if (!scan_string(c, &s, &n, &esc, &high) || esc || k->required) return 0;
        if ((high && !utf8_ok(s, n)) || forbidden_text(c->sp, s, n)) return 0;
        v->s = s;
        v->n = n;
        return 1;
    }
    if (c->p >= c->end || !(*c->p == '-' || is_dig(*c->p)) || !scan_number(c, &num)) return 0;
    v->s = num.s;
    v->n = num.n;
    if (k->required && num.s[0] == '-') return 0; /* the guards take a status of digits */
    switch (k->kind) {
    case 'l':
        if (num.frac || num.exp || num.digits > 15) return 0;
        { /* strtoll's value of at most 15 digits, an optional minus before them */
            int64_t x = 0;
            for (Py_ssize_t j = num.s[0] == '-'; j < num.n; j++) x = x * 10 + (num.s[j] - '0');
            v->i = num.s[0] == '-' ? -x : x;
        }
        return 1;
    case 's':
        if (num.frac || num.exp || num.digits > 18 || k->required) return 0;
        if (num.n == 2 && num.s[0] == '-' && num.s[1] == '0') return 0; /* "-0": texts may differ */
        return 1;
    case 'g': {
        if (num.sig > 17 || num.exp_digits > 2 || k->required) return 0;
        if (!num.exp && num.digits <= 15) {
            /* Clinger's fast path (as _albscan.c's read_seconds): the digits as an integer below
             * 2^53 and a power of ten up to 1e15 are exact doubles, so their quotient is the
             * correctly rounded value -- strtod's (strtod was ~6 % of a Caddy line's scan) */
            static const double p10[16] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                           1e12, 1e13, 1e14, 1e15};
            uint64_t m = 0;
            int after = -1;
            for (Py_ssize_t j = num.s[0] == '-' ? 1 : 0; j < num.n; j++) {
                if (num.s[j] == '.') after = 0;
                else {
                    m = m * 10 + (uint64_t)(num.s[j] - '0');
                    after += after >= 0;
                }
            }
            double x = (double)m / p10[after < 0 ? 0 : after];
            v->g = num.s[0] == '-' ? -x : x;
            return 1;
        }
        char tmp[48];
        if (num.n >= (Py_ssize_t)sizeof tmp) return 0;
        memcpy(tmp, num.s, (size_t)num.n);
        tmp[num.n] = 0;
        v->g = strtod(tmp, NULL);
        return 1;
    }
    default:
        return 0;
    }
}

/* the colon after a member's key, and the spaces around it: 0 when malformed */
static inline int member_colon(Cur *c) {
    if (c->p < c->end && *c->p == ':') { /* the common case: no space before it */
        c->p++;
        ws(c);
        return 1;
    }
    ws(c);
    if (c->p >= c->end || *c->p != ':') return 0;
    c->p++;
    ws(c);
    return 1;
}

/* after a member's value: 1 at the next member, 2 at the object's end, 0 when malformed */
static int member_next(Cur *c) {
    ws(c);
    if (c->p >= c->end) return 0;
    if (*c->p == ',') { c->p++; ws(c); return 1; }
    if (*c->p == '}') { c->p++; return 2; }
    return 0;
}

static inline int lower_is(const char *s, Py_ssize_t n, const char *low, Py_ssize_t low_n) {
    if (n != low_n) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        if (ch != low[i]) return 0;
    }
    return 1;
}

/* a 'c' key's value: how many of the object's keys are not among the key's names (v->i), or
 * null; 0 when the line goes back */
static int count_keys(Cur *c, const Key *k, Val *v) {
    if (c->p < c->end && *c->p == 'n') {
        if (!lit(c, "null", 4)) return 0;
        v->n = -1;
        return 1;
    }
    if (c->p >= c->end || *c->p != '{') return 0;
    c->p++;
    ws(c);
    int64_t others = 0;
    if (c->p < c->end && *c->p == '}') c->p++;
    else for (;;) {
        const char *key;
        Py_ssize_t klen;
        int high, esc, own, site = SITE_COUNTED + (int)(k - c->sp->keys);
        if (!shape_hit(c, site, &key, &klen, &own)) {
            if (c->p >= c->end || *c->p != '"' || !scan_string(c, &key, &klen, &esc, &high) || esc || high
                || forbidden_text(c->sp, key, klen))
                return 0;
            own = 0;
            for (int i = 0; i < k->nnames && !own; i++) own = lower_is(key, klen, k->names[i], k->names_len[i]);
            shape_keep(c, site, key, klen, 0, 0, own);
        }
        if (!member_colon(c)) return 0;
        others += !own;
        if (!skip_member(c, 1) || c->bad) return 0;
        int next = member_next(c);
        if (next == 0) return 0;
        if (next == 2) break;
    }
    v->s = NULL;
    v->n = 0;
    v->i = others;
    return 1;
}

static int read_member(Cur *c, const Key *k, Val *v);

/* a parent key's value (an object, or null: its keys stay null): its read keys into vals, the
 * others skipped; 0 when the line goes back */
static int read_object(Cur *c, int parent, Val *vals, uint64_t *seen) {
    const Spec *sp = c->sp;
    if (c->p < c->end && *c->p == 'n') return lit(c, "null", 4);
    if (c->p >= c->end || *c->p != '{') return 0;
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == '}') { c->p++; return 1; }
    const Key *pk = &sp->keys[parent];
    char full[2 * MAX_NAME_LEN + 2];
    memcpy(full, pk->name, (size_t)pk->len);
    full[pk->len] = '.';
    for (;;) {
        const char *key;
        Py_ssize_t klen;
        int high, esc, v; /* v: the key read, -1 none, -2 forbidden */
        if (!shape_hit(c, SITE_OBJECT + parent, &key, &klen, &v)) {
            if (c->p >= c->end || *c->p != '"' || !scan_string(c, &key, &klen, &esc, &high) || esc) return 0;
            v = -1;
            if (forbidden_text(sp, key, klen)) v = -2;
            else if (klen <= MAX_NAME_LEN) {
                memcpy(full + pk->len + 1, key, (size_t)klen);
                v = spec_find(sp, full, pk->len + 1 + klen);
                if (v >= MAX_KEYS || (v >= 0 && sp->keys[v].parent != parent)) v = -1;
            }
            shape_keep(c, SITE_OBJECT + parent, key, klen, 0, high, v);
        }
        if (v == -2 || !member_colon(c)) return 0;
        if (v >= 0) {
            if (*seen & (1ULL << v)) return 0; /* written twice */
            *seen |= 1ULL << v;
            if (!read_member(c, &sp->keys[v], &vals[v])) return 0;
        } else if (!skip_member(c, 1)) {
            return 0;
        }
        if (c->bad) return 0;
        int next = member_next(c);
        if (next == 0) return 0;
        if (next == 2) return 1;
    }
}

/* the value of a read key that is no parent */
static int read_member(Cur *c, const Key *k, Val *v) {
    return k->kind == 'c' ? count_keys(c, k, v) : read_value(c, k, v);
}

/* one line: the values of the keys read (vals[k].n < 0 when null or absent; bit k of *seen_out,
 * when given, set when key k is in the line); 0 when it goes back */
static int json_line(const Spec *sp, const char *s, Py_ssize_t n, Val *vals, uint64_t *seen_out, Once *once,
                     Shape *shape) {
    /* (a control byte anywhere sends the line back: quote_or_backslash, the grammar) */
    if (n > 0 && s[0] != '{') {
        /* kubectl logs' framing before the object (--timestamps' RFC 3339 time and space,
         * --prefix's [pod/NAME/CONTAINER]: unwrap_ascii.h ua_kubectl_framing), which holds no
         * `{`: family.json_object reads a line from its first `{`, so the object after the
         * framing is the line's.  Before, every such line went back and was read line by line
         * (200k Caddy, Cloudflare, Envoy or Traefik JSON lines 5.5-7.8 s, plain 0.4-0.6 s) */
        Py_ssize_t at = ua_kubectl_framing(s, n);
        if (at <= 0 || at >= n || s[at] != '{') return 0;
        s += at;
        n -= at;
    }
    if (n < 2 || s[0] != '{' || s[n - 1] != '}') return 0;
    if (once != NULL)
        for (int k = 0; k < once->n; k++) once->count[k] = 0;
    Cur c = {s + 1, s + n, sp, 0, once, shape ? shape->k : NULL, shape ? shape->k + SHAPE_KEYS : NULL};
    uint64_t seen = 0;
    for (int k = 0; k < sp->nkeys; k++) vals[k].n = -1;
    ws(&c);
    if (c.p < c.end && *c.p == '}') return 0; /* {}: no key the family needs */
    for (;;) {
        const char *key;
        Py_ssize_t klen;
        int esc, high, v;
        if (!shape_hit(&c, SITE_TOP, &key, &klen, &v)) {
            if (c.p >= c.end || *c.p != '"' || !scan_string(&c, &key, &klen, &esc, &high) || esc) return 0;
            v = spec_find(sp, key, klen);
            if (v >= 0 && v < MAX_KEYS && sp->keys[v].parent >= 0) v = -1; /* "parent.name" at the top level */
            shape_keep(&c, SITE_TOP, key, klen, 0, high, v);
        }
        if (!member_colon(&c)) return 0;
        if (v >= MAX_KEYS) return 0; /* another family's key */
        if (v >= 0) {
            if (seen & (1ULL << v)) return 0; /* written twice */
            seen |= 1ULL << v;
            int ok = sp->keys[v].kind == 'o' ? read_object(&c, v, vals, &seen)
                                             : read_member(&c, &sp->keys[v], &vals[v]);
            if (!ok) return 0;
        } else if (!skip_member(&c, 0)) {
            return 0;
        }
        if (c.bad) return 0;
        ws(&c);
        if (c.p >= c.end) return 0;
        if (*c.p == ',') { c.p++; ws(&c); continue; }
        if (*c.p == '}' && c.p + 1 == c.end) break;
        return 0;
    }
    int any = !sp->has_any_of;
    for (int k = 0; k < sp->nkeys; k++) {
        if (sp->keys[k].required && !(seen & (1ULL << k))) return 0;
        if (sp->keys[k].any_of && (seen & (1ULL << k))) any = 1;
    }
    if (seen_out != NULL) *seen_out = seen;
    return any;
}

/* --- the block ----------------------------------------------------------------------------- */

static void put_value(NCol *c, char kind, const Val *v) {
    int ok = v->n >= 0;
    if (kind == 'u' || kind == 's') {
        if (ok) col_put(&c->data, v->s, (size_t)v->n);
        ncol_utf8_end(c, ok);
    } else if (kind == 'l' || kind == 'c') {
        ncol_fixed(c, ok ? (const void *)&v->i : NULL, sizeof v->i);
    } else {
        ncol_fixed(c, ok ? (const void *)&v->g : NULL, sizeof v->g);
    }
}

/* key as the next of the spec */
static int spec_add(Spec *sp, Key key) {
    if (sp->nkeys >= MAX_KEYS) {
        PyErr_SetString(PyExc_ValueError, "too many keys");
        return -1;
    }
    if (spec_find(sp, key.name, key.len) >= 0 || spec_put(sp, key.name, key.len, (int16_t)sp->nkeys) != 0) {
        PyErr_SetString(PyExc_ValueError, "a key twice");
        return -1;
    }
    sp->keys[sp->nkeys++] = key;
    sp->has_any_of |= key.any_of;
    return 0;
}

static int load_spec(Spec *sp, PyObject *keys, PyObject *forbidden, int nested_ok) {
    memset(sp, 0, sizeof *sp);
    memset(sp->slot, 0xff, sizeof sp->slot);
    sp->nested_ok = nested_ok;
    Py_ssize_t nk = PyTuple_GET_SIZE(keys), nf = PyTuple_GET_SIZE(forbidden);
    if (nf > MAX_FORBIDDEN) {
        PyErr_SetString(PyExc_ValueError, "too many keys");
        return -1;
    }
    for (Py_ssize_t k = 0; k < nk; k++) {
        Key key = {.parent = -1};
        const char *kind;
        Py_ssize_t kind_len;
        PyObject *names = NULL;
        PyObject *t = PyTuple_GET_ITEM(keys, k);
        if (!PyTuple_Check(t) || !PyArg_ParseTuple(t, "y#s#pp|O!", &key.name, &key.len, &kind, &kind_len,
                                                   &key.required, &key.any_of, &PyTuple_Type, &names)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "a key is (name, kind, required, any_of[, names])");
            return -1;
        }
        if (kind_len != 1 || !strchr("ulgsc", kind[0]) || key.len > MAX_NAME_LEN
            || (names != NULL && PyTuple_GET_SIZE(names) > MAX_NAMES)
            || (kind[0] == 'c' && (key.required || names == NULL))) {
            PyErr_SetString(PyExc_ValueError, "a key's kind is one of u, l, g, s, c (with its names)");
            return -1;
        }
        key.kind = kind[0];
        for (Py_ssize_t i = 0; names != NULL && i < PyTuple_GET_SIZE(names); i++) {
            PyObject *b = PyTuple_GET_ITEM(names, i);
            if (!PyBytes_Check(b)) {
                PyErr_SetString(PyExc_TypeError, "a counted name is bytes");
                return -1;
            }
            key.names[i] = PyBytes_AS_STRING(b);
            key.names_len[i] = PyBytes_GET_SIZE(b);
            key.nnames++;
        }
        const char *dot = memchr(key.name, '.', (size_t)key.len);
        if (dot != NULL) { /* parent.name: the parent's entry (kind 'o', no column) first */
            Py_ssize_t plen = dot - key.name;
            if (plen == 0 || plen + 1 == key.len || memchr(dot + 1, '.', (size_t)(key.len - plen - 1))
                || key.required || key.any_of) {
                PyErr_SetString(PyExc_ValueError, "a nested key is parent.name, neither required nor any_of");
                return -1;
            }
            key.parent = spec_find(sp, key.name, plen);
            if (key.parent < 0) {
                key.parent = sp->nkeys;
                if (spec_add(sp, (Key){.name = key.name, .len = plen, .kind = 'o', .parent = -1}) != 0) return -1;
            }
            if (sp->keys[key.parent].kind != 'o') {
                PyErr_SetString(PyExc_ValueError, "a parent key is read as a value");
                return -1;
            }
        }
        if (spec_add(sp, key) != 0) return -1;
    }
    for (Py_ssize_t f = 0; f < nf; f++) {
        PyObject *b = PyTuple_GET_ITEM(forbidden, f);
        if (!PyBytes_Check(b)) {
            PyErr_SetString(PyExc_TypeError, "a forbidden name is bytes");
            return -1;
        }
        sp->forbidden[f] = PyBytes_AS_STRING(b);
        sp->forbidden_len[f] = PyBytes_GET_SIZE(b);
        if (spec_find(sp, sp->forbidden[f], sp->forbidden_len[f]) >= 0) continue; /* a read key: read */
        if (spec_put(sp, sp->forbidden[f], sp->forbidden_len[f], (int16_t)(MAX_KEYS + f)) != 0) {
            PyErr_SetString(PyExc_ValueError, "too many names");
            return -1;
        }
        sp->nforbidden++;
    }
    return 0;
}

static const char *arrow_format(char kind) {
    return kind == 'l' || kind == 'c' ? "l" : kind == 'g' ? "g" : "u";
}

/* --- the answers: the requests `diagnose` only counts (native/answers.h) ----------------------
 *
 * A line json_line reads is counted in the block's answers instead of written as columns when
 * it surely answered (app/stats/lb.ANSWERED: an access line with no 5xx that the edge did not
 * fail itself), by the family's rule, which its Python side gives (parsers/lblogs/json_answers.py
 * AnswerRule; each family's says why its decisions make it sure):
 *   - `status`: its keys in order, the first holding a value (not null, not "") is the status:
 *     an integer, or a text of one to three digits; it is below 500 and not one of `except`
 *     (statuses below 500 the edge may make itself: Cloudflare's own 403 and 429);
 *   - `time`, `target`: the first of their keys holding a value (a string) -- the value the
 *     family's records take (answers.h reads the time's minute as they do); a target may be
 *     none;
 *   - `clean`: each key null, "" or "-" (Envoy's response flags: no flag, no failure below 500);
 *   - `numbers`: each key null, "", "-" or a plain decimal as the family's decisions take it
 *     (-?[0-9]{1,15}(.[0-9]+)?: Envoy's durations as text; any other sends its line to the
 *     per-line parser, whose reading is not vouched for here);
 *   - `named`: one of them at least holds a value (Traefik's router or service URL: without
 *     both, a request below 500 is Traefik's own "no router");
 *   - `prefix`: each (key, text) a string starting with the text (Caddy's logger: its other
 *     lines are no requests);
 *   - `unix_time`: the time is a number of Unix seconds, 0 to 253402300799 (Caddy's `ts`), and
 *     the record's time is the text the family writes of it (unix_text);
 * and a "-" in a key of `status`, `time` or `target` sends the line out as columns: the families
 * read "-" differently (Envoy's as none, Cloudflare's and Traefik's as a value), answers_count
 * reads it as no target, so such a line is left to the family's own decisions. */

#define RULE_KEYS 8

typedef struct {
    int keys[RULE_KEYS];
    int n;
} RuleKeys;

typedef struct {
    RuleKeys status, time, target, clean, numbers, named, prefix;
    const char *prefix_text[RULE_KEYS];
    Py_ssize_t prefix_len[RULE_KEYS];
    int64_t except[RULE_KEYS];
    int nexcept, unix_time;
} AnswerRule;

/* the proleptic Gregorian date (year, month, day) `z` days after 1970-01-01 (Howard Hinnant's
 * civil_from_days, http://howardhinnant.github.io/date_algorithms.html) */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* the text caddy/frame.py _time (log._unix) writes of Unix seconds ts, 0 <= ts < 253402300800:
 * datetime.fromtimestamp(ts, utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), the microseconds of the
 * fraction rounded half to even (as unix_minute reads them); 27 bytes into out */
static Py_ssize_t unix_text(double ts, char *out) {
    double whole;
    double us = nearbyint(modf(ts, &whole) * 1e6);
    int64_t total = (int64_t)whole * 1000000 + (int64_t)us;
    int64_t secs = total / 1000000, frac = total % 1000000;
    int64_t days = secs / 86400, rem = secs % 86400, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y > 9999) return -1; /* (253402300799.9999996 rounds to the year 10000) */
    /* the digits written by hand: snprintf was ~5 % of Caddy's diagnose (BENCHMARKS.md stop 60) */
    const struct { int64_t v; int width; char after; } parts[] = {
        {y, 4, '-'}, {m, 2, '-'}, {d, 2, 'T'}, {rem / 3600, 2, ':'}, {rem / 60 % 60, 2, ':'},
        {rem % 60, 2, '.'}, {frac, 6, 'Z'}};
    char *p = out;
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        int64_t v = parts[k].v;
        for (int w = parts[k].width - 1; w >= 0; w--, v /= 10) p[w] = (char)('0' + v % 10);
        p += parts[k].width;
        *p++ = parts[k].after;
    }
    return p - out; /* 27 */
}

static inline int val_empty(const Val *v) { return v->n < 0 || v->n == 0; }
static inline int val_dash(const Spec *sp, int k, const Val *v) {
    char kind = sp->keys[k].kind;
    return (kind == 'u' || kind == 's') && v->n == 1 && v->s[0] == '-';
}

/* the first key of `r` holding a value (not null, not ""), or -1; -2 when one holds "-" */
static int rule_first(const Spec *sp, const RuleKeys *r, const Val *vals) {
    int first = -1;
    for (int i = 0; i < r->n; i++) {
        int k = r->keys[i];
        if (val_dash(sp, k, &vals[k])) return -2;
        if (first < 0 && !val_empty(&vals[k])) first = k;
    }
    return first;
}

static int plain_decimal(const char *s, Py_ssize_t n) {
    Py_ssize_t i = 0, digits = 0;
    if (i < n && s[i] == '-') i++;
    while (i < n && is_dig(s[i]) && digits <= 15) { i++; digits++; }
    if (digits == 0 || digits > 15) return 0;
    if (i == n) return 1;
    if (s[i++] != '.' || i == n) return 0;
    while (i < n && is_dig(s[i])) i++;
    return i == n;
}

/* whether the line read (vals) surely answered, and its status into *status */
static int rule_answered(const Spec *sp, const AnswerRule *r, const Val *vals, int64_t *status) {
    int k = rule_first(sp, &r->status, vals);
    if (k < 0) return 0;
    const Val *v = &vals[k];
    if (sp->keys[k].kind == 'l') *status = v->i;
    else if (sp->keys[k].kind == 'u' || sp->keys[k].kind == 's') {
        if (v->n > 3) return 0;
        int64_t x = 0;
        for (Py_ssize_t i = 0; i < v->n; i++) {
            if (!is_dig(v->s[i])) return 0;
            x = x * 10 + (v->s[i] - '0');
        }
        *status = x;
    } else return 0;
    if (*status < 0 || *status >= 500) return 0;
    for (int i = 0; i < r->nexcept; i++)
        if (*status == r->except[i]) return 0;
    for (int i = 0; i < r->clean.n; i++) {
        int c = r->clean.keys[i];
        if (!val_empty(&vals[c]) && !val_dash(sp, c, &vals[c])) return 0;
    }
    for (int i = 0; i < r->numbers.n; i++) {
        int c = r->numbers.keys[i];
        const Val *x = &vals[c];
        if (val_empty(x) || val_dash(sp, c, x)) continue;
        char kind = sp->keys[c].kind;
        if ((kind != 'u' && kind != 's') || !plain_decimal(x->s, x->n)) return 0;
    }
    if (r->named.n > 0) {
        int any = 0;
        for (int i = 0; i < r->named.n && !any; i++) any = !val_empty(&vals[r->named.keys[i]]);
        if (!any) return 0;
    }
    for (int i = 0; i < r->prefix.n; i++) {
        const Val *x = &vals[r->prefix.keys[i]];
        if (x->n < r->prefix_len[i] || memcmp(x->s, r->prefix_text[i], (size_t)r->prefix_len[i]) != 0) return 0;
    }
    return 1;
}

/* the line counted in the answers when it surely answered: 1 when counted */
static int rule_count(const Spec *sp, const AnswerRule *r, Answers *a, const Val *vals, uint32_t row) {
    int64_t status;
    if (!rule_answered(sp, r, vals, &status)) return 0;
    int gk = rule_first(sp, &r->target, vals);
    if (gk == -2) return 0;
    const Val *g = gk >= 0 ? &vals[gk] : NULL;
    if (r->unix_time) { /* the first time key holding a number */
        const Val *t = NULL;
        for (int i = 0; i < r->time.n && t == NULL; i++)
            if (vals[r->time.keys[i]].n >= 0) t = &vals[r->time.keys[i]];
        char text[32];
        if (t == NULL || !(t->g >= 0.0 && t->g < 253402300800.0)) return 0;
        Py_ssize_t tn = unix_text(t->g, text);
        return tn > 0 && answers_count_made(a, &status, text, tn, g ? g->s : NULL, g ? g->n : 0, row);
    }
    int tk = rule_first(sp, &r->time, vals);
    if (tk < 0) return 0;
    const Val *t = &vals[tk];
    return answers_count(a, &status, t->s, t->n, g ? g->s : NULL, g ? g->n : 0, row);
}

/* the keys of a rule's role: a tuple of names (bytes), each a read key of a string kind (or, for
 * `status`, of an integer one; for a Unix time, a number) */
static int load_rule_keys(const Spec *sp, PyObject *names, RuleKeys *out, int integers) {
    if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) > RULE_KEYS) {
        PyErr_SetString(PyExc_ValueError, "a rule's keys are a tuple of at most 8 names");
        return -1;
    }
    out->n = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *b = PyTuple_GET_ITEM(names, i);
        int v = PyBytes_Check(b) ? spec_find(sp, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b)) : -1;
        char kind = v >= 0 && v < MAX_KEYS ? sp->keys[v].kind : 0;
        if (integers == 2 ? kind != 'g' : !(kind == 'u' || kind == 's' || (integers && kind == 'l'))) {
            PyErr_SetString(PyExc_ValueError, "a rule's key is a read key of the spec, of a text kind");
            return -1;
        }
        out->keys[out->n++] = v;
    }
    return 0;
}

/* AnswerRule from (status, time, target, clean, numbers, named, except[, unix_time[, prefix]]),
 * prefix a tuple of (name, text) */
static int load_rule(const Spec *sp, PyObject *rule, AnswerRule *r) {
    PyObject *status, *time, *target, *clean, *numbers, *named, *except, *prefix = NULL;
    memset(r, 0, sizeof *r);
    if (!PyTuple_Check(rule) || !PyArg_ParseTuple(rule, "OOOOOOO!|pO!", &status, &time, &target, &clean, &numbers,
                                                  &named, &PyTuple_Type, &except, &r->unix_time, &PyTuple_Type,
                                                  &prefix)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a rule is a tuple of seven tuples and two more");
        return -1;
    }
    if (prefix != NULL) {
        PyObject *names = PyTuple_New(PyTuple_GET_SIZE(prefix));
        if (names == NULL) return -1;
        int bad = PyTuple_GET_SIZE(prefix) > RULE_KEYS;
        for (Py_ssize_t i = 0; !bad && i < PyTuple_GET_SIZE(prefix); i++) {
            PyObject *pair = PyTuple_GET_ITEM(prefix, i);
            bad = !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(pair, 1));
            if (bad) break;
            Py_INCREF(PyTuple_GET_ITEM(pair, 0));
            PyTuple_SET_ITEM(names, i, PyTuple_GET_ITEM(pair, 0));
            /* (the texts live as long as the rule's tuple, which the caller holds for the call) */
            r->prefix_text[i] = PyBytes_AS_STRING(PyTuple_GET_ITEM(pair, 1));
            r->prefix_len[i] = PyBytes_GET_SIZE(PyTuple_GET_ITEM(pair, 1));
        }
        int rc = bad ? -1 : load_rule_keys(sp, names, &r->prefix, 0);
        Py_DECREF(names);
        if (bad) {
            PyErr_SetString(PyExc_ValueError, "a rule's prefix is at most 8 (name, text) of bytes");
            return -1;
        }
        if (rc != 0) return -1;
    }
    if (load_rule_keys(sp, status, &r->status, 1) != 0
        || load_rule_keys(sp, time, &r->time, r->unix_time ? 2 : 0) != 0
        || load_rule_keys(sp, target, &r->target, 0) != 0 || load_rule_keys(sp, clean, &r->clean, 0) != 0
        || load_rule_keys(sp, numbers, &r->numbers, 0) != 0 || load_rule_keys(sp, named, &r->named, 0) != 0)
        return -1;
    if (r->status.n == 0 || r->time.n == 0 || PyTuple_GET_SIZE(except) > RULE_KEYS) {
        PyErr_SetString(PyExc_ValueError, "a rule has a status and a time, and at most 8 statuses excepted");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(except); i++) {
        long long x = PyLong_AsLongLong(PyTuple_GET_ITEM(except, i));
        if (x == -1 && PyErr_Occurred()) return -1;
        r->except[r->nexcept++] = x;
    }
    return 0;
}

typedef struct {
    const Spec *sp;
    NCol *cols;
    int64_t taken;
    int seen; /* a column "_seen" too: bit k set when the line has key k of the spec */
    Shape *shape;
    const AnswerRule *rule; /* NULL: no answers counted */
    Answers *answers;
} Taker;

/* scan_lines' TakeLine: an object's read keys into the columns (or counted in the answers) */
static int take_object(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    Taker *t = ctx;
    Val vals[MAX_KEYS];
    uint64_t seen = 0;
    if (!json_line(t->sp, s, n, vals, t->seen ? &seen : NULL, NULL, t->shape)) return 0;
    if (t->rule != NULL && rule_count(t->sp, t->rule, t->answers, vals, row)) return 1;
    int nk = t->sp->nkeys;
    for (int k = 0; k < nk; k++)
        if (t->sp->keys[k].kind != 'o') put_value(&t->cols[k], t->sp->keys[k].kind, &vals[k]);
    ncol_fixed(&t->cols[nk], &row, sizeof row);
    if (t->seen) {
        int64_t bits = (int64_t)seen;
        ncol_fixed(&t->cols[nk + 1], &bits, sizeof bits);
    }
    t->taken++;
    return 1;
}

static PyObject *json_columns(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    PyObject *keys, *forbidden, *rule_spec = Py_None;
    int nested_ok, seen = 0;
    if (!PyArg_ParseTuple(args, "y*O!O!p|pO", &data, &PyTuple_Type, &keys, &PyTuple_Type, &forbidden, &nested_ok,
                          &seen, &rule_spec))
        return NULL;
    AnswerRule rule;
    Answers answers;
    int answering = rule_spec != Py_None;
    answers_start(&answers, &data);
    Spec *sp = malloc(sizeof *sp);
    NCol *cols = calloc(MAX_KEYS + 2, sizeof *cols);
    Shape *shape = calloc(1, sizeof *shape);
    Buf back = {0}, back_text = {0};
    PyObject *out = NULL;
    Frame fr = {NULL, NULL};
    if (sp == NULL || cols == NULL || shape == NULL) { PyErr_NoMemory(); goto done; }
    if (load_spec(sp, keys, forbidden, nested_ok) != 0) goto done;
    if (answering && load_rule(sp, rule_spec, &rule) != 0) goto done;
    int nk = sp->nkeys;
    for (int k = 0; k < nk; k++)
        if (sp->keys[k].kind == 'u' || sp->keys[k].kind == 's') ncol_utf8_start(&cols[k]);
    int64_t nrows = 0, taken = 0;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    Taker t = {sp, cols, 0, seen, shape, answering ? &rule : NULL, &answers};
    nrows = scan_lines(data.buf, data.len, take_object, &t, &back, &back_text);
    taken = t.taken;
    failed = back.failed || back_text.failed;
    for (int k = 0; k <= nk + 1; k++) failed |= ncol_failed(&cols[k]);
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_NoMemory(); goto done; }
    if (nrows > UINT32_MAX) { PyErr_SetString(PyExc_ValueError, "block too long"); goto done; }
    int ncols = 0;
    for (int k = 0; k < nk; k++) ncols += sp->keys[k].kind != 'o';
    if (frame_new(&fr, taken, ncols + 1 + (seen != 0)) != 0) goto done;
    for (int k = 0; k < nk; k++) {
        char kind = sp->keys[k].kind, name[256];
        if (kind == 'o') continue;
        Py_ssize_t len = sp->keys[k].len < 255 ? sp->keys[k].len : 255;
        memcpy(name, sp->keys[k].name, (size_t)len);
        name[len] = 0;
        int nullable = cols[k].nulls > 0;
        if (frame_add(&fr, arrow_format(kind), name, nullable, ncol_array(&cols[k], kind == 'u' || kind == 's', taken))
            != 0)
            goto done;
    }
    if (frame_add(&fr, "I", "idx", 0, child_array(taken, buf_take(&cols[nk].data), NULL)) != 0) goto done;
    if (seen && frame_add(&fr, "l", "_seen", 0, child_array(taken, buf_take(&cols[nk + 1].data), NULL)) != 0)
        goto done;
    out = frame_result(&fr, nrows, &back, &back_text);
    if (answering) out = answers_result(out, &answers);
done:
    answers_free(&answers);
    frame_free(&fr);
    if (cols != NULL) {
        for (int k = 0; k <= MAX_KEYS + 1; k++) ncol_free(&cols[k]);
        free(cols);
    }
    free(sp);
    free(shape);
    free(back.data);
    free(back_text.data);
    PyBuffer_Release(&data);
    return out;
}

/* --- counting (watch) ------------------------------------------------------------------ */

/* What ``why502 watch`` counts of a JSON family's block (app/watch/engine.py Watch._lb, through
 * parsers/lblogs/counts.py), without polars: the lines json_line reads (the column pass's guards)
 * grouped by the values of a few read keys, each group counted -- the family's parser then
 * decides each group once, not each line.  A line goes back besides json_line's:
 *   - when a key of `prefix` does not hold a string starting with its text (Caddy's logger,
 *     "http.log.access": its other lines are no requests);
 *   - when a text of `once` is in the line more than once (the status key, quoted: the family's
 *     status regex, which watch used before, takes the first occurrence at any depth, the parser
 *     the top-level one -- with one occurrence they agree, with none the regex reads nothing
 *     and the line was the parser's).
 * A group is the values of `group`'s keys, each with its mode: 'v' its value, 'f' its value when
 * the first required key (the status) holds 500 or more, else null (what decides a failure only,
 * e.g. a body size, which would make a group of nearly every line), 'e' whether it is empty
 * (null, "" or "-": Envoy's %RESPONSE_DURATION%, whose value varies but only its emptiness is
 * read).  A group's key is bytes: per value a tag, 'a' the key absent, 'n' null (or not read: 'f'
 * below 500; empty: 'e'), 'x' not empty ('e'), 'i' an int64, 'g' a double (8 bytes, native
 * order), 's' a 4-byte length and the text. */

#define MAX_GROUP 24

typedef struct {
    int key[MAX_GROUP];
    char mode[MAX_GROUP];
    int n;
    int status; /* the first required key, or -1 */
    int prefix_key[MAX_GROUP];
    const char *prefix[MAX_GROUP];
    Py_ssize_t prefix_len[MAX_GROUP];
    int nprefix;
    Once once; /* its texts (counted per line by the scan) */
} Group;

typedef struct {
    const Spec *sp;
    const Group *g;
    /* the groups counted, each line into its group as it is read: a key is '#' and the group
     * key (a table key is never empty), a run of lines of one group found by the table's last
     * group; made a dict of {group key: lines} once the block is read (counts_dict).  A dict
     * updated at each change of group -- a bytes object, a hash, an int -- was ~4 % of a
     * Cloudflare block's instructions in json_counts, its groups changing often (BENCHMARKS.md
     * stop 63) */
    GroupTable table;
    int error;
    Shape *shape;
} Counter;

/* the table's groups as {group key: lines}, in the order they were first seen (the order the
 * dict had when it was filled line by line); NULL with an error set */
static PyObject *counts_dict(const GroupTable *t) {
    PyObject *counts = PyDict_New();
    const FoldGroup **by_id = gt_in_order(t);
    if (counts == NULL || (t->used && by_id == NULL)) {
        Py_XDECREF(counts);
        free(by_id);
        return PyErr_NoMemory();
    }
    for (size_t k = 0; k < t->used; k++) {
        const FoldGroup *g = by_id[k];
        PyObject *key = PyBytes_FromStringAndSize(t->arena.data + g->off + 1, (Py_ssize_t)g->len - 1);
        PyObject *n = key != NULL ? PyLong_FromUnsignedLong(g->count) : NULL;
        int rc = n != NULL ? PyDict_SetItem(counts, key, n) : -1;
        Py_XDECREF(key);
        Py_XDECREF(n);
        if (rc != 0) { Py_DECREF(counts); counts = NULL; break; }
    }
    free(by_id);
    return counts;
}

static void key_value(Buf *b, char kind, const Val *v) {
    if (v->n < 0) { buf_put(b, "n", 1); return; }
    if (kind == 'l' || kind == 'c') { buf_put(b, "i", 1); buf_put(b, (const char *)&v->i, sizeof v->i); }
    else if (kind == 'g') { buf_put(b, "g", 1); buf_put(b, (const char *)&v->g, sizeof v->g); }
    else {
        uint32_t len = (uint32_t)v->n;
        buf_put(b, "s", 1);
        buf_put(b, (const char *)&len, sizeof len);
        buf_put(b, v->s, (size_t)v->n);
    }
}

/* scan_lines' TakeLine for counting (the GIL held) */
static int count_object(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    (void)row;
    Counter *c = ctx;
    const Spec *sp = c->sp;
    const Group *g = c->g;
    Val vals[MAX_KEYS];
    uint64_t seen;
    Once once = g->once;
    if (c->error || !json_line(sp, s, n, vals, &seen, &once, c->shape)) return 0;
    for (int k = 0; k < once.n; k++)
        if (once.count[k] > 1) return 0;
    for (int k = 0; k < g->nprefix; k++) {
        const Val *v = &vals[g->prefix_key[k]];
        char kind = sp->keys[g->prefix_key[k]].kind;
        if ((kind != 'u' && kind != 's') || v->n < g->prefix_len[k] || memcmp(v->s, g->prefix[k], (size_t)g->prefix_len[k]) != 0)
            return 0;
    }
    int failure = g->status >= 0 && vals[g->status].n >= 0 && vals[g->status].i >= 500;
    Buf *key = &c->table.key;
    buf_put(key, "#", 1);
    for (int k = 0; k < g->n; k++) {
        const Val *v = &vals[g->key[k]];
        if (g->mode[k] == 'f' && !failure) buf_put(key, "n", 1);
        else if (!(seen & (1ULL << g->key[k]))) buf_put(key, "a", 1);
        else if (g->mode[k] == 'e') /* empty (null, "", "-") or not */
            buf_put(key, v->n < 0 || v->n == 0 || (v->n == 1 && v->s[0] == '-') ? "n" : "x", 1);
        else key_value(key, sp->keys[g->key[k]].kind, v);
    }
    if (gt_count(&c->table, 0, 0, 0) < 0) { PyErr_NoMemory(); c->error = 1; return 0; } /* (out of memory) */
    return 1;
}

/* a read key of the spec by name, or -1 with an error set */
static int key_named(const Spec *sp, PyObject *name) {
    if (!PyBytes_Check(name)) { PyErr_SetString(PyExc_TypeError, "a key name is bytes"); return -1; }
    int v = spec_find(sp, PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name));
    if (v < 0 || v >= MAX_KEYS || sp->keys[v].kind == 'o') {
        PyErr_SetString(PyExc_ValueError, "a group, prefix or status key is a read key of the spec");
        return -1;
    }
    return v;
}

static int load_group(Group *g, const Spec *sp, PyObject *group, PyObject *prefix, PyObject *once) {
    memset(g, 0, sizeof *g);
    g->status = -1;
    for (int k = 0; k < sp->nkeys && g->status < 0; k++)
        if (sp->keys[k].required && sp->keys[k].kind == 'l') g->status = k;
    if (PyTuple_GET_SIZE(group) > MAX_GROUP || PyTuple_GET_SIZE(prefix) > MAX_GROUP || PyTuple_GET_SIZE(once) > MAX_ONCE) {
        PyErr_SetString(PyExc_ValueError, "too many group, prefix or once entries");
        return -1;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(group); k++) {
        PyObject *name;
        const char *mode;
        Py_ssize_t mode_len;
        PyObject *t = PyTuple_GET_ITEM(group, k);
        if (!PyTuple_Check(t) || !PyArg_ParseTuple(t, "Os#", &name, &mode, &mode_len)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a group entry is (name, mode)");
            return -1;
        }
        if (mode_len != 1 || mode[0] == 0 || !strchr("vfe", mode[0])) {
            PyErr_SetString(PyExc_ValueError, "a group mode is v, f or e");
            return -1;
        }
        if ((g->key[g->n] = key_named(sp, name)) < 0) return -1;
        g->mode[g->n++] = mode[0];
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(prefix); k++) {
        PyObject *name, *text;
        PyObject *t = PyTuple_GET_ITEM(prefix, k);
        if (!PyTuple_Check(t) || !PyArg_ParseTuple(t, "OS", &name, &text)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a prefix entry is (name, text)");
            return -1;
        }
        if ((g->prefix_key[g->nprefix] = key_named(sp, name)) < 0) return -1;
        g->prefix[g->nprefix] = PyBytes_AS_STRING(text);
        g->prefix_len[g->nprefix++] = PyBytes_GET_SIZE(text);
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(once); k++) {
        PyObject *text = PyTuple_GET_ITEM(once, k);
        const char *t = PyBytes_Check(text) ? PyBytes_AS_STRING(text) : NULL;
        Py_ssize_t tn = t != NULL ? PyBytes_GET_SIZE(text) : 0;
        /* `"name"`, a name without quote or backslash (the form Once counts) */
        if (t == NULL || tn < 3 || t[0] != '"' || t[tn - 1] != '"' || memchr(t + 1, '"', (size_t)(tn - 2))
            || memchr(t + 1, '\\', (size_t)(tn - 2))) {
            PyErr_SetString(PyExc_ValueError, "a once entry is a quoted name without quote or backslash");
            return -1;
        }
        g->once.name[g->once.n] = t + 1;
        g->once.lens |= length_bit(tn - 2);
        g->once.len[g->once.n++] = tn - 2;
    }
    return 0;
}

static PyObject *json_counts(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    PyObject *keys, *forbidden, *group, *prefix, *once;
    int nested_ok;
    if (!PyArg_ParseTuple(args, "y*O!O!pO!O!O!", &data, &PyTuple_Type, &keys, &PyTuple_Type, &forbidden,
                          &nested_ok, &PyTuple_Type, &group, &PyTuple_Type, &prefix, &PyTuple_Type, &once))
        return NULL;
    Spec *sp = malloc(sizeof *sp);
    Group *g = malloc(sizeof *g);
    Shape *shape = calloc(1, sizeof *shape);
    Counter c = {sp, g, {0}, 0, shape};
    PyObject *counts = NULL;
    Buf back = {0}, back_text = {0};
    PyObject *out = NULL;
    if (sp == NULL || g == NULL || shape == NULL) { PyErr_NoMemory(); goto done; }
    if (load_spec(sp, keys, forbidden, nested_ok) != 0 || load_group(g, sp, group, prefix, once) != 0) goto done;
    /* whole lines: the empty "line" after the last newline is none */
    Py_ssize_t len = whole_lines_len(&data);
    scan_lines(data.buf, len, count_object, &c, &back, &back_text);
    if (c.error) goto done;
    if (back.failed || back_text.failed || c.table.failed) { PyErr_NoMemory(); goto done; }
    if ((counts = counts_dict(&c.table)) == NULL) goto done;
    out = Py_BuildValue("(Oy#)", counts, back_text.data ? back_text.data : "", (Py_ssize_t)back_text.len);
done:
    Py_XDECREF(counts);
    gt_free(&c.table);
    free(sp);
    free(g);
    free(shape);
    free(back.data);
    free(back_text.data);
    PyBuffer_Release(&data);
    return out;
}


/* --- the fold (stats): the rows `stats` only counts, counted here ---------------------------
 *
 * LbStatsAccumulator (evidence/lbstats.py) reads every row only for counts keyed by a few of its
 * values: the timeline by (minute, status, made_by, retries), the targets and target groups by
 * (key, status, made_by, retries, upstream_ms), the failures the edge made itself by their code
 * with their first and last time.  A JSON family's status, made_by, code, retries, target,
 * group and timing are decided from a few read keys (its parser, parse_json), so a line
 * json_line reads is counted here, in tables keyed by the *raw values* of those keys, and each
 * group is decided once by the family's parser on the Python side (parsers/lblogs/jsonfold.py),
 * the way json_counts serves watch.  A table is a list of (key, mode) parts:
 *   'v' the value; 'f' the value when the status (the first required integer key) is 500 or
 *   more, else null (a value that decides a failure only: a body size); 'e' whether it is empty
 *   (null when absent, "" when null, "" or "-", "x" otherwise: Envoy's %RESPONSE_DURATION%);
 *   'm' a string's first 16 bytes (the minute of an ISO time: lbstats._minute);
 *   'q' a timing in milliseconds, 'n' one in nanoseconds, each a number (kind 'g') read at the
 *   tenth of a millisecond LbStatsAccumulator counts timings at (tenth_ms below);
 * and which of the table's keys the line holds (`present`, bit k for part k: a parser may tell
 * an absent key from a null one).  A table may keep each group's least and greatest time (the
 * `time` key's whole value, polars' order of strings: bytewise, a prefix first).  A line whose
 * time is no string of 16 to FOLD_TIME_MAX bytes starting with a digit goes back (as rows), so
 * the minute and the range are the time's.  A time that is a number (Caddy's `ts`, Unix seconds,
 * kind 'g') must be one of 0 to 253402300799 (a four-digit year): its minute ('m') is the Unix
 * minute of the time as Python's datetime.fromtimestamp reads it (the microseconds rounded half
 * to even: 59.9999996 s is the next minute), its range the least and greatest number (that
 * reading is monotonic, and the text the parser writes of it of fixed width, so the order is the
 * text's).  A line whose `prefix` key does not hold a string starting with its text goes back
 * (Caddy's logger: its error lines are no requests).  The tables live across the blocks of a read (a
 * capsule, json_fold_new) and are taken with json_fold_take; a block and a take never run at
 * once on one fold (`busy`). */

#define FOLD_TABLES 4
#define FOLD_PARTS 24
#define FOLD_TIME_MAX GT_TIME_MAX

typedef struct {
    int key[FOLD_PARTS];
    char mode[FOLD_PARTS];
    int n, ranged;
    GroupTable t;
    Buf ranges; /* GtRange of each group (by FoldGroup.id) when `ranged`; NumRange for a number time */
} FoldTable;

typedef struct {
    Spec sp;
    PyObject *owners; /* the Python objects the spec's names point into */
    int time_key, time_number, status, ntables, busy;
    int prefix_key[FOLD_PARTS];
    const char *prefix[FOLD_PARTS];
    Py_ssize_t prefix_len[FOLD_PARTS];
    int nprefix;
    int64_t rows;
    FoldTable tables[FOLD_TABLES];
    Shape shape; /* the keys of the last line read, across the blocks */
} JsonFold;

typedef struct {
    double lo, hi;
} NumRange;

/* the Unix minute of `ts` as datetime.fromtimestamp(ts, utc) reads it: its microseconds rounded
 * half to even (CPython _PyTime_ObjectToTimeval, _PyTime_ROUND_HALF_EVEN; nearbyint in the
 * default rounding mode), a million of them a second more */
static inline int64_t unix_minute(double ts) {
    double whole;
    double us = nearbyint(modf(ts, &whole) * 1e6);
    int64_t sec = (int64_t)whole + (us >= 1e6 ? 1 : 0);
    return sec / 60;
}

static inline void num_range(Buf *ranges, int64_t id, double v) {
    size_t at = (size_t)id * sizeof(NumRange);
    if (at == ranges->len) {
        NumRange r = {v, v};
        buf_put(ranges, (const char *)&r, sizeof r);
    } else if (at < ranges->len) {
        NumRange *r = (NumRange *)ranges->data + id;
        if (v < r->lo) r->lo = v;
        if (v > r->hi) r->hi = v;
    }
}

#define JSON_FOLD "why502.json_fold"

static void json_fold_clear(JsonFold *f) {
    for (int k = 0; k < f->ntables; k++) {
        gt_free(&f->tables[k].t);
        free(f->tables[k].ranges.data);
        memset(&f->tables[k].ranges, 0, sizeof f->tables[k].ranges);
    }
    f->rows = 0;
}

static int json_fold_failed(const JsonFold *f) {
    for (int k = 0; k < f->ntables; k++)
        if (f->tables[k].t.failed || f->tables[k].ranges.failed) return 1;
    return 0;
}

static void json_fold_capsule_free(PyObject *cap) {
    JsonFold *f = PyCapsule_GetPointer(cap, JSON_FOLD);
    if (f == NULL) { PyErr_Clear(); return; }
    json_fold_clear(f);
    Py_XDECREF(f->owners);
    free(f);
}

static JsonFold *json_fold_of(PyObject *cap) {
    JsonFold *f = PyCapsule_GetPointer(cap, JSON_FOLD);
    if (f != NULL && f->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the fold is in use by another call");
        return NULL;
    }
    return f;
}

/* A timing `g` (mode 'q': milliseconds; 'n': nanoseconds, the family's reader dividing by 1e6)
 * as the number whose reading is that timing at the tenth of a millisecond: LbStatsAccumulator
 * counts each timing as polars' round(1) has it (evidence/lbstats.py _TIMING: rint(x * 10) / 10,
 * half to even, the rounding mode C's nearbyint uses by default), so the groups of timings that
 * round alike are one group here -- Cloudflare's and Traefik's nanosecond timings made a group
 * of nearly every line (BENCHMARKS.md stop 58).  The number handed on is q / 10 ('q') or q * 1e5
 * ('n'; an integer below 2^53, exact, which the reader's division by 1e6 turns into the double
 * nearest q / 10, as q / 10.0 is): the same timing once rounded.  A timing that far (over 2^52
 * tenths, or ~1e10 ms in nanoseconds) or not finite stays as read: the accumulator rounds it. */
static inline double tenth_ms(double g, char mode) {
    double q = nearbyint((mode == 'n' ? g / 1e6 : g) * 10.0);
    if (!(fabs(q) < (mode == 'n' ? 9.0e10 : 4503599627370496.0))) return g;
    return mode == 'n' ? q * 1e5 : q / 10.0;
}

/* part k of a line's key in table t */
static void fold_part(GroupTable *t, const Key *key, char mode, const Val *v, int present, int failure) {
    if (mode == 'e') {
        if (!present) gt_null(t);
        else if (v->n < 0 || v->n == 0 || (v->n == 1 && v->s[0] == '-')) gt_part(t, "", 0);
        else gt_part(t, "x", 1);
        return;
    }
    if (v->n < 0 || (mode == 'f' && !failure)) { gt_null(t); return; }
    if (mode == 'm' && key->kind == 'g') {
        int64_t minute = unix_minute(v->g);
        gt_fixed_part(t, &minute, sizeof minute);
    } else if (key->kind == 'u' || key->kind == 's') gt_part(t, v->s, mode == 'm' && v->n > 16 ? 16 : v->n);
    else if (key->kind == 'g' && (mode == 'q' || mode == 'n')) {
        double g = tenth_ms(v->g, mode);
        gt_fixed_part(t, &g, sizeof g);
    } else if (key->kind == 'g') gt_fixed_part(t, &v->g, sizeof v->g);
    else gt_fixed_part(t, &v->i, sizeof v->i);
}

/* scan_lines' TakeLine of the fold (without the GIL): 1 when the line was counted */
static int fold_object(void *ctx, const char *s, Py_ssize_t n, uint32_t row) {
    (void)row;
    JsonFold *f = ctx;
    Val vals[MAX_KEYS];
    uint64_t seen = 0;
    if (!json_line(&f->sp, s, n, vals, &seen, NULL, &f->shape)) return 0;
    const Val *tv = f->time_key >= 0 ? &vals[f->time_key] : NULL;
    if (tv != NULL && (f->time_number ? tv->n < 0 || !(tv->g >= 0.0 && tv->g < 253402300800.0)
                                      : tv->n < 16 || tv->n > FOLD_TIME_MAX || !is_dig(tv->s[0])))
        return 0;
    for (int k = 0; k < f->nprefix; k++) {
        const Val *v = &vals[f->prefix_key[k]];
        if (v->n < f->prefix_len[k] || memcmp(v->s, f->prefix[k], (size_t)f->prefix_len[k]) != 0) return 0;
    }
    int failure = f->status >= 0 && vals[f->status].n >= 0 && vals[f->status].i >= 500;
    uint64_t hashes[FOLD_TABLES];
    for (int k = 0; k < f->ntables; k++) { /* every table's key, its slot fetched */
        FoldTable *ft = &f->tables[k];
        uint64_t present = 0;
        for (int p = 0; p < ft->n; p++) {
            int key = ft->key[p];
            int has = (seen >> key) & 1;
            present |= (uint64_t)has << p;
            fold_part(&ft->t, &f->sp.keys[key], ft->mode[p], &vals[key], has, failure);
        }
        gt_fixed_part(&ft->t, &present, sizeof present);
        hashes[k] = gt_prefetch(&ft->t);
    }
    for (int k = 0; k < f->ntables; k++) {
        FoldTable *ft = &f->tables[k];
        int64_t id = gt_count_hashed(&ft->t, 0, 0, 0, 1, hashes[k]);
        if (id < 0 || !ft->ranged || tv == NULL) continue; /* out of memory: failed, the block's answer an error */
        if (f->time_number) num_range(&ft->ranges, id, tv->g);
        else gt_range(&ft->ranges, id, tv->s, (size_t)tv->n);
    }
    f->rows++;
    return 1;
}

static int fold_key_named(const Spec *sp, PyObject *name) {
    if (!PyBytes_Check(name)) { PyErr_SetString(PyExc_TypeError, "a key name is bytes"); return -1; }
    int v = spec_find(sp, PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name));
    if (v < 0 || v >= MAX_KEYS || sp->keys[v].kind == 'o') {
        PyErr_SetString(PyExc_ValueError, "a fold's key is a read key of the spec");
        return -1;
    }
    return v;
}

/* json_fold_new(keys, forbidden, nested_ok, tables, time, prefix): a fold; tables: ((parts,
 * ranged), ...) with parts ((name, mode), ...); time: the key of each row's time, or None;
 * prefix: ((name, text), ...) */
static PyObject *json_fold_new(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *keys, *forbidden, *tables, *time, *prefix;
    int nested_ok;
    if (!PyArg_ParseTuple(args, "O!O!pO!OO!", &PyTuple_Type, &keys, &PyTuple_Type, &forbidden, &nested_ok,
                          &PyTuple_Type, &tables, &time, &PyTuple_Type, &prefix))
        return NULL;
    JsonFold *f = calloc(1, sizeof *f);
    if (f == NULL) return PyErr_NoMemory();
    f->owners = Py_BuildValue("(OOOO)", keys, forbidden, tables, prefix);
    if (f->owners == NULL || load_spec(&f->sp, keys, forbidden, nested_ok) != 0) goto fail;
    f->status = -1;
    for (int k = 0; k < f->sp.nkeys && f->status < 0; k++)
        if (f->sp.keys[k].required && f->sp.keys[k].kind == 'l') f->status = k;
    f->time_key = -1;
    if (time != Py_None) {
        if ((f->time_key = fold_key_named(&f->sp, time)) < 0) goto fail;
        char kind = f->sp.keys[f->time_key].kind;
        if (kind != 'u' && kind != 'g') {
            PyErr_SetString(PyExc_ValueError, "the time key is a string ('u') or a number ('g')");
            goto fail;
        }
        f->time_number = kind == 'g';
    }
    if (PyTuple_GET_SIZE(prefix) > FOLD_PARTS) {
        PyErr_SetString(PyExc_ValueError, "too many prefixes");
        goto fail;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(prefix); k++) {
        PyObject *name, *text;
        PyObject *e = PyTuple_GET_ITEM(prefix, k);
        if (!PyTuple_Check(e) || !PyArg_ParseTuple(e, "OS", &name, &text)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a prefix is (name, text)");
            goto fail;
        }
        int key = fold_key_named(&f->sp, name);
        if (key < 0) goto fail;
        if (f->sp.keys[key].kind != 'u') {
            PyErr_SetString(PyExc_ValueError, "a prefix's key is a string key ('u')");
            goto fail;
        }
        f->prefix_key[f->nprefix] = key;
        f->prefix[f->nprefix] = PyBytes_AS_STRING(text);
        f->prefix_len[f->nprefix++] = PyBytes_GET_SIZE(text);
    }
    if (PyTuple_GET_SIZE(tables) < 1 || PyTuple_GET_SIZE(tables) > FOLD_TABLES) {
        PyErr_SetString(PyExc_ValueError, "1 to 4 tables");
        goto fail;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(tables); k++) {
        FoldTable *ft = &f->tables[k];
        PyObject *parts;
        f->ntables++;
        PyObject *t = PyTuple_GET_ITEM(tables, k);
        if (!PyTuple_Check(t) || !PyArg_ParseTuple(t, "O!p", &PyTuple_Type, &parts, &ft->ranged)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a table is (parts, ranged)");
            goto fail;
        }
        if (ft->ranged && f->time_key < 0) {
            PyErr_SetString(PyExc_ValueError, "a ranged table needs the time key");
            goto fail;
        }
        if (PyTuple_GET_SIZE(parts) < 1 || PyTuple_GET_SIZE(parts) > FOLD_PARTS) {
            PyErr_SetString(PyExc_ValueError, "1 to 24 parts a table");
            goto fail;
        }
        for (Py_ssize_t p = 0; p < PyTuple_GET_SIZE(parts); p++) {
            PyObject *name;
            const char *mode;
            Py_ssize_t mode_len;
            PyObject *e = PyTuple_GET_ITEM(parts, p);
            if (!PyTuple_Check(e) || !PyArg_ParseTuple(e, "Os#", &name, &mode, &mode_len)) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a part is (name, mode)");
                goto fail;
            }
            if (mode_len != 1 || mode[0] == 0 || !strchr("vfemqn", mode[0])) {
                PyErr_SetString(PyExc_ValueError, "a part's mode is v, f, e, m, q or n");
                goto fail;
            }
            if ((ft->key[ft->n] = fold_key_named(&f->sp, name)) < 0) goto fail;
            if (mode[0] == 'm' && ft->key[ft->n] != f->time_key) {
                PyErr_SetString(PyExc_ValueError, "the minute is the time key's");
                goto fail;
            }
            if ((mode[0] == 'q' || mode[0] == 'n') && f->sp.keys[ft->key[ft->n]].kind != 'g') {
                PyErr_SetString(PyExc_ValueError, "a timing ('q', 'n') is a number key's (kind g)");
                goto fail;
            }
            ft->mode[ft->n++] = mode[0];
        }
    }
    PyObject *cap = PyCapsule_New(f, JSON_FOLD, json_fold_capsule_free);
    if (cap != NULL) return cap;
fail:
    json_fold_clear(f);
    Py_XDECREF(f->owners);
    free(f);
    return NULL;
}

/* json_fold_block(fold, data) -> (lines, rows handed back (uint32 bytes), their text, rows counted) */
static PyObject *json_fold_block(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *cap;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "Oy*", &cap, &data)) return NULL;
    JsonFold *f = json_fold_of(cap);
    if (f == NULL) { PyBuffer_Release(&data); return NULL; }
    Buf back = {0}, back_text = {0};
    PyObject *out = NULL;
    int64_t nrows = 0, before = f->rows;
    int failed = 0;
    f->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    nrows = scan_lines(data.buf, data.len, fold_object, f, &back, &back_text);
    failed = back.failed || back_text.failed || json_fold_failed(f);
    Py_END_ALLOW_THREADS
    f->busy = 0;
    if (failed) PyErr_NoMemory();
    else if (nrows > UINT32_MAX) PyErr_SetString(PyExc_ValueError, "block too long");
    else out = Py_BuildValue("(Ly#y#L)", (long long)nrows, back.data ? back.data : "", (Py_ssize_t)back.len,
                             back_text.data ? back_text.data : "", (Py_ssize_t)back_text.len,
                             (long long)(f->rows - before));
    free(back.data);
    free(back_text.data);
    PyBuffer_Release(&data);
    return out;
}

/* (the groups of its tables together, rows counted): what its memory holds.  A day's log fills
 * the timeline (each value in many minutes) as the per-target table fills: bounded by the
 * largest table, two folds of two full tables of Traefik's long keys held 364 MB; bounded
 * together, 242 MB (BENCHMARKS.md stop 72) */
static PyObject *json_fold_size(PyObject *Py_UNUSED(self), PyObject *cap) {
    JsonFold *f = json_fold_of(cap);
    if (f == NULL) return NULL;
    size_t groups = 0;
    for (int k = 0; k < f->ntables; k++) groups += f->tables[k].t.used;
    return Py_BuildValue("(nL)", (Py_ssize_t)groups, (long long)f->rows);
}

/* one table as a frame's capsules: its parts (named by their keys), `present`, `n`, and, when
 * ranged, `first` and `last`; 0, or -1 with an error set */
static int fold_table_frame(const JsonFold *f, const FoldTable *ft, PyObject **sc, PyObject **ac) {
    const GroupTable *t = &ft->t;
    Frame fr = {NULL, NULL};
    int rc = -1;
    char names[FOLD_PARTS + 1][MAX_NAME_LEN + 1];
    const char *formats[FOLD_PARTS + 1], *name_of[FOLD_PARTS + 1];
    if (frame_new(&fr, (int64_t)t->used, ft->n + 2 + (ft->ranged ? 2 : 0)) != 0) goto out;
    for (int p = 0; p < ft->n; p++) {
        const Key *key = &f->sp.keys[ft->key[p]];
        char mode = ft->mode[p];
        formats[p] = mode == 'm' && key->kind == 'g' ? "l" /* the Unix minute */
                   : mode == 'e' || mode == 'm' || key->kind == 'u' || key->kind == 's' ? "u"
                   : key->kind == 'g' ? "g" : "l";
        memcpy(names[p], key->name, (size_t)key->len);
        names[p][key->len] = 0;
        name_of[p] = names[p];
    }
    formats[ft->n] = "l";
    name_of[ft->n] = "present";
    if (gt_add_parts(&fr, t, ft->n + 1, formats, name_of) != 0) goto out;
    if (frame_add(&fr, "l", "n", 0, gt_counts64(t)) != 0) goto out;
    for (int hi = 0; ft->ranged && hi < 2; hi++) {
        struct ArrowArray *a;
        if (f->time_number) {
            const NumRange *rs = (const NumRange *)ft->ranges.data;
            Buf b = {0};
            for (size_t s = 0; s < t->cap; s++)
                if (t->slots[s].len != 0) {
                    double v = hi ? rs[t->slots[s].id].hi : rs[t->slots[s].id].lo;
                    buf_put(&b, (const char *)&v, sizeof v);
                }
            a = b.failed ? (free(b.data), NULL) : child_array((int64_t)t->used, buf_take(&b), NULL);
        } else a = gt_range_column(t, &ft->ranges, hi);
        if (frame_add(&fr, f->time_number ? "g" : "u", hi ? "last" : "first", 0, a) != 0) goto out;
    }
    rc = frame_capsules(&fr, sc, ac);
out:
    frame_free(&fr);
    return rc;
}

/* json_fold_take(fold) -> ((schema, array) of each table, rows counted): the groups since the
 * last take, the tables emptied */
static PyObject *json_fold_take(PyObject *Py_UNUSED(self), PyObject *cap) {
    JsonFold *f = json_fold_of(cap);
    if (f == NULL) return NULL;
    PyObject *frames = PyTuple_New(f->ntables);
    if (frames == NULL) return NULL;
    for (int k = 0; k < f->ntables; k++) {
        PyObject *sc, *ac;
        size_t slot = f->time_number ? sizeof(NumRange) : sizeof(GtRange);
        if (f->tables[k].ranged && f->tables[k].ranges.len != f->tables[k].t.used * slot) {
            PyErr_NoMemory();
            Py_DECREF(frames);
            return NULL;
        }
        if (fold_table_frame(f, &f->tables[k], &sc, &ac) != 0) {
            if (!PyErr_Occurred()) PyErr_NoMemory();
            Py_DECREF(frames);
            return NULL;
        }
        PyTuple_SET_ITEM(frames, k, Py_BuildValue("(NN)", sc, ac));
        if (PyTuple_GET_ITEM(frames, k) == NULL) { Py_DECREF(frames); return NULL; }
    }
    int64_t rows = f->rows;
    json_fold_clear(f);
    return Py_BuildValue("(NL)", frames, (long long)rows);
}

static PyMethodDef module_methods[] = {
    {"json_columns", json_columns, METH_VARARGS,
     "json_columns(data, keys, forbidden, nested_ok[, seen[, rule]]) -> (arrow schema, arrow array, lines, rows handed "
     "back (uint32 bytes), their text): the read keys ((name, kind, required, any_of[, names]); 'parent.name' a "
     "key of a nested object) of the JSON lines of a block whose values leave no doubt "
     "(parsers/lblogs/batch.py: json_rows); with seen, a column _seen whose bit k says the line has key k of "
     "the spec (a null value and an absent key read alike otherwise: Envoy's %RESPONSE_DURATION%); with a rule "
     "(status, time, target, clean, numbers, named, except), the lines that surely answered are counted instead "
     "and the answers' (schema, array) follow (native/answers.h)"},
    {"json_counts", json_counts, METH_VARARGS,
     "json_counts(data, keys, forbidden, nested_ok, group, prefix, once) -> ({group key: lines}, the lines "
     "handed back): the lines json_columns would read, grouped by the values of the keys of group ((name, "
     "mode 'v' or 'f')), for watch (parsers/lblogs/counts.py)"},
    {"json_fold_new", json_fold_new, METH_VARARGS,
     "json_fold_new(keys, forbidden, nested_ok, tables, time, prefix) -> a fold: tables ((parts, ranged), ...) "
     "of parts ((name, mode 'v', 'f', 'e', 'm', 'q' or 'n'), ...) the lines json_columns would read are counted in, "
     "across blocks, for stats (parsers/lblogs/jsonfold.py)"},
    {"json_fold_block", json_fold_block, METH_VARARGS,
     "json_fold_block(fold, data) -> (lines, rows handed back (uint32 bytes), their text, rows counted)"},
    {"json_fold_size", json_fold_size, METH_O, "json_fold_size(fold) -> (groups of its tables, rows counted)"},
    {"json_fold_take", json_fold_take, METH_O,
     "json_fold_take(fold) -> (((schema, array) of each table: its parts, present, n[, first, last]), rows): "
     "the groups since the last take, the tables emptied"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_jsonscan",
    "The fields a JSON log family reads, pulled out of each line in one native pass.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__jsonscan(void) {
    uint64_t seed;
    if (getentropy(&seed, sizeof seed) == 0) fold_seed ^= seed; /* the fold's hash (group_table.h) */
    return PyModule_Create(&module_def);
}
