/*
 * The wrappers the native scanner peels, and when it must leave a line to the reference engine.
 *
 * Included by _scan.c only.  Three framings carry most nginx error logs that are not read
 * from nginx's own file, and each wraps exactly one nginx line:
 *
 *   CRI (containerd, CRI-O; /var/log/containers):  <RFC 3339> stdout|stderr F|P <line>
 *   docker/kubectl logs --timestamps:             <RFC 3339> <line>
 *   docker's json-file driver:                    {"log":"<line>\n","stream":"stderr","time":"..."}
 *
 * The reference is wrappers.unwrap() followed by errorlog.classify_line(): a wrapped line whose
 * inner text is a recognised nginx line gets that line's record, and one that is not recognised
 * is tried once more after normalize() (paste repairs).  So a wrapped line is taken here only
 * when the unwrap loop provably gives the same inner text (anything it could read otherwise --
 * another wrapper shape, a \u escape, a JSON field more, an escaped quote left inside -- goes back
 * as an exact line), and a wrapped line that is not recognised is dropped only when
 * may_normalize() proves normalize() leaves it as it is.
 */

#include "unwrap_ascii.h" /* wrappers._ISO and _CRI, followed as unwrap() reads them */

static inline int ws(char c) { return (unsigned char)c <= 0x20; } /* a superset of str.isspace() in ASCII */

static int hex_value(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* the "log" string of docker's json-file line, decoded into `out`; 0 when the line is not exactly
 * {"log":"...","stream":"stdout|stderr","time":"..."} as json.loads would read it.  moby's
 * jsonlog.MarshalJSONBuf writes it so (no spaces; "attrs" between stream and time only with
 * --log-opt labels/env, left to the reference engine) and ffjsonWriteJSONBytesAsString escapes
 * quote, backslash, \n, \r and, as \u00XX, the other controls and <, >, &. */
static int docker_json(const char *s, Py_ssize_t n, Buf *out) {
    static const char open[] = "{\"log\":\"";
    const char *end = s + n, *p = s + sizeof(open) - 1;
    if (n < (Py_ssize_t)sizeof(open) - 1 || memcmp(s, open, sizeof(open) - 1) != 0) return 0;
    out->len = 0;
    while (p < end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) return 0; /* json.loads (strict) refuses raw controls */
        if (c != '\\') {
            const char *run = p;
            while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
            buf_put(out, run, (size_t)(p - run));
            continue;
        }
        if (p + 1 >= end) return 0;
        char e = p[1], d;
        Py_ssize_t step = 2;
        switch (e) {
        case '"': d = '"'; break;
        case '\\': d = '\\'; break;
        case 'b': d = '\b'; break;
        case 'f': d = '\f'; break;
        case 'n': d = '\n'; break;
        case 'r': d = '\r'; break;
        case 't': d = '\t'; break;
        case 'u': { /* docker writes <, >, &, tab and controls as \u00XX; beyond ASCII: not ours */
            int v = end - p >= 6 && p[2] == '0' && p[3] == '0' ? hex_value(p[4]) * 16 + hex_value(p[5]) : -1;
            if (v < 0 || v > 0x7f || hex_value(p[4]) < 0 || hex_value(p[5]) < 0) return 0;
            /* only what docker escapes: an escaped letter or slash would hide a key phrase from
             * the reference engine's prefilter, which searches the raw line */
            if (v >= 0x20 && v != '<' && v != '>' && v != '&') return 0;
            d = (char)v;
            step = 6;
            break;
        }
        default: return 0; /* \/ (docker never writes it: see above) or not JSON */
        }
        buf_put(out, &d, 1);
        p += step;
    }
    if (p >= end || out->failed) return 0;
    p++; /* the closing quote */
    static const char out_[] = ",\"stream\":\"stdout\",\"time\":\"", err_[] = ",\"stream\":\"stderr\",\"time\":\"";
    if (!starts(p, end, out_, sizeof(out_) - 1) && !starts(p, end, err_, sizeof(err_) - 1)) return 0;
    p += sizeof(out_) - 1;
    while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
    return end - p == 2 && p[0] == '"' && p[1] == '}';
}

/* The inner text of a CRI, --timestamps or docker json-file line (`s` is not an nginx line
 * itself), or NULL.  `scratch` holds a decoded docker "log"; `bare` says the inner text follows
 * a bare timestamp (no CRI stream). */
static const char *unwrap_once(const char *s, Py_ssize_t n, Buf *scratch, Py_ssize_t *len, int *bare) {
    *bare = 0;
    if (n > 0 && s[0] == '{') {
        if (!docker_json(s, n, scratch)) return NULL;
        Py_ssize_t k = (Py_ssize_t)scratch->len;
        while (k > 0 && (scratch->data[k - 1] == '\n' || scratch->data[k - 1] == '\r')) k--; /* rstrip("\r\n") */
        *len = k;
        return scratch->data ? scratch->data : "";
    }
    Py_ssize_t at = ua_cri(s, n); /* CRI: <time> (?:stdout|stderr) [FP] ? (unwrap_ascii.h, as unwrap reads it) */
    if (at < 0) {
        at = ua_iso_space(s, 0, n); /* --timestamps: <time> */
        if (at < 0) return NULL;
        *bare = 1;
    }
    *len = n - at;
    return s + at;
}

/* Whether the unwrap loop would stop at `inner` (a valid nginx head at its start, message at
 * `msg_at`) and leave it as it is: no newline inside (the head regex's .*$ would stop there), no
 * escaped quote or trailing backslash-n (unwrap() rewrites both), and, behind a bare timestamp,
 * nothing RFC 5424's "<time> host app procid msgid -|[sd] " could take (a message without a
 * connection number starting with "-" or "["). */
static int inner_kept(const char *inner, Py_ssize_t n, Py_ssize_t msg_at, int bare_timestamp, int had_conn) {
    if (memchr(inner, '\n', (size_t)n) != NULL || has_escaped_quote(inner, n)) return 0;
    if (n >= 2 && inner[n - 2] == '\\' && inner[n - 1] == 'n') return 0;
    if (bare_timestamp && !had_conn && msg_at < n && (inner[msg_at] == '-' || inner[msg_at] == '[')) return 0;
    return 1;
}

/* Python's \s on an ASCII character (str.isspace: space, \t-\r and the separators \x1c-\x1f) */
static inline int py_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

/* Whether the ASCII line s (its trailing CRs already off, as classify_line's rstrip("\r\n") has it)
 * is a request line of an access log: parsers.access_line.CLF_REQUEST at its start,
 *   ^(?:[^\s\[]+ ){3,4}\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] "(?:[^"\\]|\\.)*" [0-9]{3} (?:[0-9]+|-)(?: |\r?$)
 * which classify_line reads as nothing before anything else (not even a repair): such a line
 * goes to no engine.  Every step has one way to match (each token ends at its one space, the
 * quoted request at its first unescaped quote, the size at its last digit), so a scan from the
 * left decides it as the regex does.  An access log given to `classify` sent each of its lines
 * to the reference engine: ~4.6 s for 1M nginx access lines (BENCHMARKS.md stop 70). */
static int clf_request(const char *s, Py_ssize_t n) {
    const char *p = s, *e = s + n;
    int tokens = 0;
    while (p < e && *p != '[') {
        const char *t = p;
        while (p < e && *p != '[' && !py_space(*p)) p++;
        if (p == t || p >= e || *p != ' ') return 0;
        p++;
        tokens++;
    }
    if (tokens < 3 || tokens > 4 || e - p < 30) return 0;
    if (!(dig(p[1]) && dig(p[2]) && p[3] == '/' && p[4] >= 'A' && p[4] <= 'Z' && p[5] >= 'a' && p[5] <= 'z' &&
          p[6] >= 'a' && p[6] <= 'z' && p[7] == '/' && dig(p[8]) && dig(p[9]) && dig(p[10]) && dig(p[11]) &&
          p[12] == ':' && dig(p[13]) && dig(p[14]) && p[15] == ':' && dig(p[16]) && dig(p[17]) && p[18] == ':' &&
          dig(p[19]) && dig(p[20]) && p[21] == ' ' && (p[22] == '+' || p[22] == '-') && dig(p[23]) &&
          dig(p[24]) && dig(p[25]) && dig(p[26]) && p[27] == ']' && p[28] == ' ' && p[29] == '"'))
        return 0;
    p += 30;
    while (p < e && *p != '"') p += *p == '\\' ? 2 : 1; /* \\. : any byte but a newline (none here) */
    if (p >= e) return 0;
    p++;
    if (e - p < 6 || p[0] != ' ' || !dig(p[1]) || !dig(p[2]) || !dig(p[3]) || p[4] != ' ') return 0;
    p += 5;
    if (*p == '-') {
        p++;
    } else {
        if (!dig(*p)) return 0;
        while (p < e && dig(*p)) p++;
    }
    return p == e || *p == ' ';
}

/* Whether the framed line s is an access log's request line where unwrap()'s loop stops: at `u`,
 * the offset unwrap_at(s, n) gave (a printable ASCII line without a backslash unwrap rewrites),
 * or, for docker's json-file (u < 0: its brace), in `json`, its "log" string as unwrap_once
 * decoded it (docker_json: as json.loads reads it), when unwrap_at says no layer follows it -- so
 * the text is what unwrap leaves, with no \" or trailing \n for its last steps to rewrite.
 * _classify_text reads such a text as nothing (no nginx head, not the engine's stderr shape
 * "nginx: [", which has no three tokens before its bracket, then `is_clf_request(inner)`); with
 * may_normalize(s) false the repair leaves the framed line as it is, so classify_line's answer
 * is None.  A container's access log given to `classify`: 28 s for 1M docker-framed lines, each
 * read by the per-line engine (BENCHMARKS.md stop 70). */
static int framed_request(const char *s, Py_ssize_t n, Py_ssize_t u, const char *json, Py_ssize_t json_len) {
    if (u > 0) return clf_request(s + u, n - u);
    return u < 0 && json != NULL && json_len > 0 && unwrap_at(json, json_len) == 0 && clf_request(json, json_len);
}


/* whether s holds the literal LIT; R: the index of the byte of LIT that find_lit looks for (any
 * index gives the same answer; a rare byte, fewer candidates -- fixed here, where lit_rare() cost
 * ~3 % of the scanner's CPU when it ran on every call) */
#define CONTAINS(s, n, LIT, R) contains_lit((s), (n), (LIT), sizeof(LIT) - 1, (R))
static int contains_lit(const char *s, Py_ssize_t n, const char *lit, size_t k, size_t r) {
    return n >= (Py_ssize_t)k && find_lit(s, (size_t)n, lit, k, r) != NULL;
}

static int ends_with(const char *s, Py_ssize_t n, const char *lit) {
    size_t k = strlen(lit);
    return n >= (Py_ssize_t)k && memcmp(s + n - (Py_ssize_t)k, lit, k) == 0;
}

/* normalize._FRAGMENT_ERRNO_INSIDE at the '(' p: -1 when no "(N: ...) while <phase> upstream"
 * starts there, else whether normalize would cut the line there (neither "()" nor "failed" before
 * it).  Only the leftmost such fragment counts (paren_repairs). */
static int fragment_at(const char *s, const char *p, const char *end) {
    static const char *phases[] = {"connecting to upstream", "sending request to upstream",
                                   "reading response header from upstream", "reading upstream"};
    const char *q = p + 1;
    while (q < end && dig(*q)) q++;
    if (q > p + 1 && end - q >= 2 && q[0] == ':' && q[1] == ' ') {
        const char *close = memchr(q, ')', (size_t)(end - q));
        if (close != NULL && starts(close, end, ") while ", 8)) {
            for (size_t i = 0; i < sizeof phases / sizeof *phases; i++) {
                if (starts(close + 8, end, phases[i], strlen(phases[i]))) {
                    Py_ssize_t before = p - s;
                    return !CONTAINS(s, before, "()", 0) && !CONTAINS(s, before, "failed", 0);
                }
            }
        }
    }
    return -1;
}

/* normalize._SPACED_UNIX: "unix:" then spaces then "/" */
static int spaced_unix(const char *s, Py_ssize_t n) {
    const char *end = s + n, *p = s;
    while (end - p >= 7 && (p = find_lit(p, (size_t)(end - p), "unix: ", 6, 3)) != NULL) {
        const char *q = p + 6;
        while (q < end && *q == ' ') q++;
        if (q < end && *q == '/') return 1;
        p += 1;
    }
    return 0;
}

/* normalize._SPACED_ERRNO "( N :" and _SPACED_ERRNO_CLOSE "(N: ... )" at the '(' p: spaces
 * inside an errno */
static int spaced_errno_at(const char *p, const char *end) {
    const char *q = p + 1;
    if (q < end && *q == ' ') { /* \( +(\d+) *: */
        while (q < end && *q == ' ') q++;
        const char *d = q;
        while (q < end && dig(*q)) q++;
        while (q > d && q < end && *q == ' ') q++;
        return q > d && q < end && *q == ':';
    }
    /* (\(\d+: [^()]*?) +\): the next parenthesis closes it, after a space */
    while (q < end && dig(*q)) q++;
    if (q > p + 1 && end - q >= 2 && q[0] == ':' && q[1] == ' ') {
        const char *r = q + 2;
        while (r < end && *r != '(' && *r != ')') r++;
        if (r < end && *r == ')' && r[-1] == ' ' && r - 1 >= q + 2) return 1;
    }
    return 0;
}

/* The repairs that start at a '(' -- " ()", a spaced errno (spaced_errno_at), the leftmost errno
 * fragment (fragment_at) -- in one pass over the parentheses, where three passes each looked for
 * them (the scanner's CPU, BENCHMARKS.md stop 48).  may_normalize ORs them, so any order gives
 * its answer: 1 as soon as one says so, else the leftmost fragment's answer. */
static int paren_repairs(const char *s, Py_ssize_t n) {
    const char *end = s + n, *p = s;
    int fragment = -1;
    while ((p = memchr(p, '(', (size_t)(end - p))) != NULL) {
        if (p > s && p[-1] == ' ' && end - p >= 2 && p[1] == ')') return 1; /* " ()" */
        if (spaced_errno_at(p, end)) return 1;
        if (fragment < 0) {
            fragment = fragment_at(s, p, end);
            if (fragment > 0) return 1;
        }
        p++;
    }
    return 0;
}

/* The actions as normalize._QUOTED_ACTION's alternation spells them. */
static const char *const quoted_actions[] = {"connecting to upstream", "sending request to upstream",
                                              "reading response header from upstream",
                                              "reading upstream upstream", "SSL handshaking to upstream"};

/* Whether " while <action>" starts at w (the action ending by end). */
static int while_action_at(const char *w, const char *end) {
    for (size_t i = 0; i < sizeof quoted_actions / sizeof *quoted_actions; i++) {
        if (starts(w + 7, end, quoted_actions[i], strlen(quoted_actions[i]))) return 1;
    }
    return 0;
}

/* normalize._QUOTED_ACTION: a quote or backquote, a lower-case letter (the repair reads only a
 * message that opens in lower case), then no quote or backquote before " while <action>
 * upstream".  Each quote starts a span up to the next one; the action holds no quote, so it lies
 * inside the span. */
static int quoted_action(const char *s, Py_ssize_t n) {
    const char *end = s + n, *q = s, *w = s;
    /* Most lines asked hold no " while <action>" anywhere (a ModSecurity denial: a dozen quoted
     * spans, each searched for " while " below; ~10 % of classify's samples on the outage log,
     * BENCHMARKS.md stop 65): one search of the whole line first.  Any span's find is one of these
     * too, so the answer is the same. */
    for (;; w++) {
        if ((w = find_lit(w, (size_t)(end - w), " while ", 7, 1)) == NULL) return 0;
        if (while_action_at(w, end)) break;
    }
    while (q < end && *q != '"' && *q != '`') q++;
    while (q < end) {
        const char *r = q + 1;
        while (r < end && *r != '"' && *r != '`') r++;
        if (r - q > 1 && q[1] >= 'a' && q[1] <= 'z') {
            w = q + 1;
            while ((w = find_lit(w, (size_t)(r - w), " while ", 7, 1)) != NULL) {
                if (while_action_at(w, r)) return 1;
                w++;
            }
        }
        q = r;
    }
    return 0;
}

/* Whether normalize() could change the ASCII line `s` (a superset of its repairs: when this says
 * no, normalize(s).changed is False).  Marks: a cut marker at the end ("...", "[...]",
 * "(truncated)", ">"), punctuation at the end (after an action), Markdown around nginx's
 * connection number or emphasis, quotes or backquotes around the line, spaces inside tokens (" ()", "unix: /", "( 111:", "(111: x )"), a fragment that
 * starts at the errno or at worker_connections, an errno-and-phase tail after other text, a
 * message quoted in lower case that carries nginx's action. */
static int may_normalize(const char *s, Py_ssize_t n) {
    Py_ssize_t a = 0, b = n;
    while (a < b && ws(s[a])) a++;
    while (b > a && ws(s[b - 1])) b--;
    if (a == b) return 0;
    if (ends_with(s + a, b - a, "...") || ends_with(s + a, b - a, "[...]") ||
        ends_with(s + a, b - a, "(truncated)") || s[b - 1] == '>')
        return 1;
    /* normalize._ACTION_STOP: the reporter's full stop or comma after the action */
    if (s[b - 1] == '.' || s[b - 1] == ';' || s[b - 1] == ',') return 1;
    if (s[a] == '\'' || s[a] == '`' || s[a] == '"' || s[a] == '(' || starts(s + a, s + b, "failed (", 8) ||
        starts(s + a, s + b, "worker_connections", 18))
        return 1;
    if (CONTAINS(s, n, "**", 0) || spaced_unix(s, n) || quoted_action(s, n)) return 1;
    const char *end = s + n, *p = s; /* normalize._CONN: "pid#tid: " then _, \, "* " or ** */
    while ((p = memchr(p, '#', (size_t)(end - p))) != NULL) {
        const char *q = p + 1;
        while (q < end && dig(*q)) q++;
        if (q > p + 1 && end - q >= 3 && q[0] == ':' && q[1] == ' ') {
            char c = q[2];
            if (c == '_' || c == '\\' || (c == '*' && end - q >= 4 && (ws(q[3]) || q[3] == '*'))) return 1;
        }
        p++;
    }
    return paren_repairs(s, n);
}
