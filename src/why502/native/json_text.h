/*
 * JSON strings as polars' ndjson writer escapes them, for the native passes that write
 * `classify --format jsonl` records themselves (nginx's _scan.c Scanner_records, HAProxy's
 * _hapscan.c session_jsonl): their bytes must be the polars engine's, byte for byte
 * (tests/classify/test_classify_native.py, tests/classify/test_classify_sessions.py).
 * Needs arrow_buf.h's Buf.
 */
#ifndef WHY502_JSON_TEXT_H
#define WHY502_JSON_TEXT_H

#include <stdio.h>

#define BUF_LIT(b, lit) buf_put((b), (lit), sizeof(lit) - 1)

static inline void buf_int(Buf *b, long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    if (n > 0) buf_put(b, tmp, (size_t)n);
}

/* JSON string body as polars' ndjson writer escapes it (serde_json's rules): quote, backslash,
 * \b \t \n \f \r by name, other controls below 0x20 as \u00xx (lower-case hex); DEL and the rest
 * as they are.  Only ASCII reaches here (the callers hand non-ASCII lines back to polars). */
static inline void buf_json_str(Buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (buf_reserve(b, n + 2) != 0) return;
    b->data[b->len++] = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        buf_put(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t k = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\t': esc[1] = 't'; break;
        case '\n': esc[1] = 'n'; break;
        case '\f': esc[1] = 'f'; break;
        case '\r': esc[1] = 'r'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            k = 6;
        }
        buf_put(b, esc, k);
    }
    buf_put(b, s + run, n - run);
    buf_put(b, "\"", 1);
}

/* a string, or null when n < 0 */
static inline void buf_json_opt(Buf *b, const char *s, Py_ssize_t n) {
    if (n < 0) BUF_LIT(b, "null");
    else buf_json_str(b, s, (size_t)n);
}

#endif
