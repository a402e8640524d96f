/*
 * unwrap_ascii.h -- where wrappers.unwrap()'s text starts in a line of printable ASCII, found
 * without Python.
 *
 * The reference is parsers/wrappers.py `unwrap(line).text`: a loop of at most eight rounds, each
 * stripping the first transport layer whose anchored regex matches the text left (its first
 * character decides which are tried), in this order: a JSON object or member, CRI, <PRI>, ISO
 * syslog (RFC 5424 after it), BSD syslog, a docker/kubectl timestamp, docker compose's "name |",
 * kubectl's "[pod/NAME/CONTAINER] ", dmesg's "[ 12.345] ", "kernel: ".  Each layer only ever
 * cuts a prefix, so the text is a suffix
 * of the line: unwrap_at gives its offset.  It answers -1 ("ask Python") for what it does not
 * follow: any byte that is not printable ASCII (so the regexes' \d, \w and \s are [0-9],
 * [A-Za-z0-9_] and the space), an escaped quote anywhere and a backslash at the end or before a
 * last n (unwrap's last steps turn \" into " and cut a trailing \n: a text that is a suffix of
 * a line with neither keeps its bytes; another backslash, nginx's \x16 escape of a byte, is a
 * character like any other to every layer's regex), and a text starting with a space, a quote or
 * a brace (the JSON layers).
 *
 * Each regex is followed exactly, backtracking included: every alternative the engine could take
 * is tried in its order (the optional head of ISO syslog, BSD's day of one or two digits), and
 * each greedy run is one the next token cannot extend (a run of non-spaces before a space, a tag
 * before '[' or ':'), so its length is the only one that can match.
 * tests/haproxy/test_unwrap_native.py holds the offsets equal to unwrap's on every layer, their
 * stacks, and bent lines around each.  Used by _hapscan's unwrapped (the message of HAProxy's
 * failed session lines, proxies/haproxy/classifyfold.py: ~4 us of Python per failed line, a
 * sixth of diagnose's CPU on a failure-dense HAProxy log, BENCHMARKS.md stop 62), and by nginx's
 * scanner for the CRI and --timestamps framings it peels (proxies/nginx/_scan_wrappers.h).
 */
#ifndef WHY502_UNWRAP_ASCII_H
#define WHY502_UNWRAP_ASCII_H

#include <Python.h>
#include <string.h>

static inline int ua_dig(char c) { return c >= '0' && c <= '9'; }
static inline int ua_upper(char c) { return c >= 'A' && c <= 'Z'; }
static inline int ua_lower(char c) { return c >= 'a' && c <= 'z'; }
static inline int ua_alnum(char c) { return ua_dig(c) || ua_upper(c) || ua_lower(c); }
static inline int ua_word(char c) { return ua_alnum(c) || c == '_'; }
/* wrappers' tag class [\w./@-] */
static inline int ua_tag(char c) { return ua_word(c) || c == '.' || c == '/' || c == '@' || c == '-'; }

/* _ISO at s[i] followed by a space: the offset after the space, or -1.  The fraction is all its
 * digits and the offset is taken with its colon when it has one: any shorter choice is followed by
 * a digit, a colon or the offset's sign, never by the space. */
static inline Py_ssize_t ua_iso_space(const char *s, Py_ssize_t i, Py_ssize_t n) {
    static const char shape[] = "dddd-dd-dd_dd:dd:dd";
    if (n - i < 20) return -1;
    for (int k = 0; k < 19; k++) {
        char want = shape[k], c = s[i + k];
        if (want == 'd' ? !ua_dig(c) : want == '_' ? (c != 'T' && c != ' ') : c != want) return -1;
    }
    i += 19;
    if (i < n && (s[i] == '.' || s[i] == ',')) {
        if (i + 1 >= n || !ua_dig(s[i + 1])) return -1;
        i++;
        while (i < n && ua_dig(s[i])) i++;
    }
    if (i < n && s[i] == 'Z') {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        if (i + 2 >= n || !ua_dig(s[i + 1]) || !ua_dig(s[i + 2])) return -1;
        if (i + 5 < n && s[i + 3] == ':' && ua_dig(s[i + 4]) && ua_dig(s[i + 5])) i += 6;
        else if (i + 4 < n && ua_dig(s[i + 3]) && ua_dig(s[i + 4])) i += 5;
        else return -1;
    }
    return i < n && s[i] == ' ' ? i + 1 : -1;
}

/* \S+ followed by a space at s[i]: the offset after the space, or -1 */
static inline Py_ssize_t ua_token_space(const char *s, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t k = i;
    while (k < n && s[k] != ' ') k++;
    return k > i && k < n ? k + 1 : -1;
}

/* (?P<tag>[\w./@-]+)(?:\[\d+\])?: at s[i]: the offset after ": ", or -1 */
static inline Py_ssize_t ua_tag_colon(const char *s, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t t = i;
    while (t < n && ua_tag(s[t])) t++;
    if (t == i) return -1;
    if (t < n && s[t] == '[') { /* the pid, when "[digits]" follows; else the group takes no part */
        Py_ssize_t d = t + 1;
        while (d < n && ua_dig(s[d])) d++;
        if (d > t + 1 && d < n && s[d] == ']') t = d + 1;
    }
    return t + 1 < n && s[t] == ':' && s[t + 1] == ' ' ? t + 2 : -1;
}

/* _CRI: ^ISO (?:stdout|stderr) [FP] ? */
static inline Py_ssize_t ua_cri(const char *s, Py_ssize_t n) {
    Py_ssize_t j = ua_iso_space(s, 0, n);
    if (j < 0 || n - j < 8 || (memcmp(s + j, "stdout ", 7) != 0 && memcmp(s + j, "stderr ", 7) != 0)) return -1;
    j += 7;
    if (s[j] != 'F' && s[j] != 'P') return -1;
    j++;
    return j < n && s[j] == ' ' ? j + 1 : j;
}

/* _PRI: ^<\d{1,3}>(?:1 )? */
static inline Py_ssize_t ua_pri(const char *s, Py_ssize_t n) {
    Py_ssize_t d = 1;
    while (d < n && d <= 4 && ua_dig(s[d])) d++;
    if (d == 1 || d > 4 || d >= n || s[d] != '>') return -1;
    d++;
    return n - d >= 2 && s[d] == '1' && s[d + 1] == ' ' ? d + 2 : d;
}

/* _SYSLOG_ISO after its optional head: ISO (?!level )\S+ tag[pid]?: at s[i] */
static inline Py_ssize_t ua_syslog_iso_at(const char *s, Py_ssize_t i, Py_ssize_t n) {
    static const char *const levels[] = {"CRIT", "ERRO", "WARN", "INFO", "DEBG", "TRAC", "BLAT"};
    Py_ssize_t j = ua_iso_space(s, i, n);
    if (j < 0) return -1;
    if (n - j >= 5 && s[j + 4] == ' ')
        for (int k = 0; k < 7; k++)
            if (memcmp(s + j, levels[k], 4) == 0) return -1;
    j = ua_token_space(s, j, n);
    return j < 0 ? -1 : ua_tag_colon(s, j, n);
}

/* _SYSLOG_ISO: ^(?:\d \S+ )?ISO ...: with the head first, then without it */
static inline Py_ssize_t ua_syslog_iso(const char *s, Py_ssize_t n) {
    if (n >= 3 && ua_dig(s[0]) && s[1] == ' ') {
        Py_ssize_t k = ua_token_space(s, 2, n);
        Py_ssize_t got = k < 0 ? -1 : ua_syslog_iso_at(s, k, n);
        if (got >= 0) return got;
    }
    return ua_syslog_iso_at(s, 0, n);
}

/* _SYSLOG_5424: ^ISO (?!ISO )\S+ \S+ \S+ \S+ (?:-|\[.*?\]) -- the host is no second stamp
 * (ua_iso_space says whether any _ISO and a space start there), the lazy bracket ends at the
 * first "] " */
static inline Py_ssize_t ua_syslog_5424(const char *s, Py_ssize_t n) {
    Py_ssize_t j = ua_iso_space(s, 0, n);
    if (j >= 0 && ua_iso_space(s, j, n) >= 0) return -1;
    for (int k = 0; k < 4 && j >= 0; k++) j = ua_token_space(s, j, n);
    if (j < 0 || j >= n) return -1;
    if (s[j] == '-') return j + 1 < n && s[j + 1] == ' ' ? j + 2 : -1;
    if (s[j] != '[') return -1;
    for (Py_ssize_t k = j + 1; k + 1 < n; k++)
        if (s[k] == ']' && s[k + 1] == ' ') return k + 2;
    return -1;
}

/* _SYSLOG_BSD after "Mon ", from the day's last digit on: ` \d\d:\d\d:\d\d(?:\.\d+)? \S+ tag[pid]?: ` */
static inline Py_ssize_t ua_bsd_rest(const char *s, Py_ssize_t i, Py_ssize_t n) {
    if (n - i < 10 || s[i] != ' ' || !ua_dig(s[i + 1]) || !ua_dig(s[i + 2]) || s[i + 3] != ':' || !ua_dig(s[i + 4])
        || !ua_dig(s[i + 5]) || s[i + 6] != ':' || !ua_dig(s[i + 7]) || !ua_dig(s[i + 8]))
        return -1;
    i += 9;
    if (i < n && s[i] == '.') {
        if (i + 1 >= n || !ua_dig(s[i + 1])) return -1;
        i++;
        while (i < n && ua_dig(s[i])) i++;
    }
    if (i >= n || s[i] != ' ') return -1;
    Py_ssize_t j = ua_token_space(s, i + 1, n);
    return j < 0 ? -1 : ua_tag_colon(s, j, n);
}

/* _SYSLOG_BSD: ^[A-Z][a-z]{2} [ \d]?\d ...: the day's optional first character taken first */
static inline Py_ssize_t ua_syslog_bsd(const char *s, Py_ssize_t n) {
    if (n < 6 || !ua_upper(s[0]) || !ua_lower(s[1]) || !ua_lower(s[2]) || s[3] != ' ') return -1;
    if ((s[4] == ' ' || ua_dig(s[4])) && ua_dig(s[5])) {
        Py_ssize_t got = ua_bsd_rest(s, 6, n);
        if (got >= 0) return got;
    }
    return ua_dig(s[4]) ? ua_bsd_rest(s, 5, n) : -1;
}

/* _COMPOSE: ^[A-Za-z0-9][\w.-]*\s+\| ? */
static inline Py_ssize_t ua_compose(const char *s, Py_ssize_t n) {
    Py_ssize_t k = 1;
    while (k < n && (ua_word(s[k]) || s[k] == '.' || s[k] == '-')) k++;
    Py_ssize_t m = k;
    while (m < n && s[m] == ' ') m++;
    if (m == k || m >= n || s[m] != '|') return -1;
    m++;
    return m < n && s[m] == ' ' ? m + 1 : m;
}

/* \[\s*\d+\.\d+\]  at s[i]: the offset after the ']' and the space after it, or -1 */
static inline Py_ssize_t ua_dmesg_at(const char *s, Py_ssize_t i, Py_ssize_t n) {
    if (i >= n || s[i] != '[') return -1;
    i++;
    while (i < n && s[i] == ' ') i++;
    Py_ssize_t d = i;
    while (i < n && ua_dig(s[i])) i++;
    if (i == d || i >= n || s[i] != '.') return -1;
    d = ++i;
    while (i < n && ua_dig(s[i])) i++;
    if (i == d || i + 1 >= n || s[i] != ']' || s[i + 1] != ' ') return -1;
    return i + 2;
}

/* _KUBECTL_PREFIX (kubectl logs --prefix): "[pod/", a pod name ([a-z0-9] then [a-z0-9.-]), "/", a
 * container name ([a-z0-9-], maybe none), "] " */
static inline Py_ssize_t ua_kubectl(const char *s, Py_ssize_t n) {
    if (n < 8 || memcmp(s, "[pod/", 5) != 0 || !(ua_lower(s[5]) || ua_dig(s[5]))) return -1;
    Py_ssize_t i = 6;
    while (i < n && (ua_lower(s[i]) || ua_dig(s[i]) || s[i] == '.' || s[i] == '-')) i++;
    if (i >= n || s[i] != '/') return -1;
    i++;
    while (i < n && (ua_lower(s[i]) || ua_dig(s[i]) || s[i] == '-')) i++;
    return i + 1 < n && s[i] == ']' && s[i + 1] == ' ' ? i + 2 : -1;
}

/* two digits at p reading a number in [lo, hi] */
static inline int ua_two_in(const char *p, int lo, int hi) {
    if (!ua_dig(p[0]) || !ua_dig(p[1])) return 0;
    int v = (p[0] - '0') * 10 + (p[1] - '0');
    return v >= lo && v <= hi;
}

/* wrappers._RFC3339_NANO and a space at s[i] (the time kubectl logs --timestamps writes): the
 * offset after the space, or -1.  The fraction's {1,9} is greedy and a digit can start no zone,
 * so taking at most nine digits and then asking for the zone is the regex's only way to match. */
static inline Py_ssize_t ua_rfc3339_nano_space(const char *s, Py_ssize_t i, Py_ssize_t n) {
    if (n - i < 21) return -1; /* the 19 of the date and clock, "Z", the space */
    const char *p = s + i;
    if (!ua_dig(p[0]) || !ua_dig(p[1]) || !ua_dig(p[2]) || !ua_dig(p[3]) || p[4] != '-' || !ua_two_in(p + 5, 1, 12)
        || p[7] != '-' || !ua_two_in(p + 8, 1, 31) || p[10] != 'T' || !ua_two_in(p + 11, 0, 23) || p[13] != ':'
        || !ua_two_in(p + 14, 0, 59) || p[16] != ':' || !ua_two_in(p + 17, 0, 59))
        return -1;
    Py_ssize_t j = i + 19;
    if (s[j] == '.') {
        Py_ssize_t d = j + 1;
        while (d < n && d - j <= 9 && ua_dig(s[d])) d++;
        if (d == j + 1) return -1;
        j = d;
    }
    if (j < n && s[j] == 'Z') {
        j++;
    } else if (j < n && (s[j] == '+' || s[j] == '-')) {
        if (n - j < 6 || !ua_two_in(s + j + 1, 0, 23) || s[j + 3] != ':' || !ua_two_in(s + j + 4, 0, 59)) return -1;
        j += 6;
    } else {
        return -1;
    }
    return j < n && s[j] == ' ' ? j + 1 : -1;
}

/* wrappers.KUBECTL_FRAMING matched at the start of s[0..n) (kubectl logs --prefix, then
 * --timestamps, each optional): its length, 0 when the line has neither */
static inline Py_ssize_t ua_kubectl_framing(const char *s, Py_ssize_t n) {
    Py_ssize_t at = 0, got;
    if (n > 0 && s[0] == '[' && (got = ua_kubectl(s, n)) >= 0) at = got;
    if ((got = ua_rfc3339_nano_space(s, at, n)) >= 0) at = got;
    return at;
}

/* _KERNEL_TAG: ^kernel: (?:\[\s*\d+\.\d+\] )? */
static inline Py_ssize_t ua_kernel(const char *s, Py_ssize_t n) {
    if (n < 8 || memcmp(s, "kernel: ", 8) != 0) return -1;
    Py_ssize_t d = ua_dmesg_at(s, 8, n);
    return d >= 0 ? d : 8;
}

/* one round of unwrap's loop on s[0..n): the length of the layer it strips, 0 for none, -1 when
 * the round is one this file does not follow (a JSON layer could be tried) */
static inline Py_ssize_t ua_round(const char *s, Py_ssize_t n) {
    if (n == 0) return 0;
    char first = s[0];
    if (first == ' ' || first == '{' || first == '"') return -1;
    Py_ssize_t got;
    int digit = ua_dig(first);
    if (digit && (got = ua_cri(s, n)) >= 0) return got;
    if (first == '<' && (got = ua_pri(s, n)) >= 0) return got;
    if (digit && ((got = ua_syslog_iso(s, n)) >= 0 || (got = ua_syslog_5424(s, n)) >= 0)) return got;
    if (ua_upper(first) && (got = ua_syslog_bsd(s, n)) >= 0) return got;
    if (digit && (got = ua_iso_space(s, 0, n)) >= 0) return got;
    if (ua_alnum(first) && (got = ua_compose(s, n)) >= 0) return got;
    if (first == '[' && ((got = ua_kubectl(s, n)) >= 0 || (got = ua_dmesg_at(s, 0, n)) >= 0)) return got;
    if (first == 'k' && (got = ua_kernel(s, n)) >= 0) return got;
    return 0;
}

/* where unwrap(line).text starts in s[0..n) (a line without its newline), or -1 (module comment) */
static inline Py_ssize_t unwrap_at(const char *s, Py_ssize_t n) {
    for (Py_ssize_t k = 0; k < n; k++) {
        if ((unsigned char)s[k] < 0x20 || (unsigned char)s[k] > 0x7e) return -1;
        if (s[k] == '\\' && (k + 1 == n || s[k + 1] == '"' || (k + 2 == n && s[k + 1] == 'n'))) return -1;
    }
    Py_ssize_t at = 0;
    for (int round = 0; round < 8; round++) {
        Py_ssize_t got = ua_round(s + at, n - at);
        if (got < 0) return -1;
        if (got == 0) break;
        at += got;
    }
    return at;
}

#endif
