/* fedscreen._hmac, part 2: canonical person and org identifiers from raw UTF-8.
 *
 * The C twin of fedscreen.identifiers.normalise_person / normalise_org (the reference, which
 * wins any disagreement). The reference does, on the whole string:
 *   1. half-width: U+FF01..U+FF5E become U+0021..U+007E, U+3000 becomes a space;
 *   2. drop every character Python's `\s` matches (Unicode whitespace, listed in is_space);
 *   3. upper-case with str.upper();
 *   4. accept only the shape of the kind, with a correct check character.
 * Every step works character by character, and a valid result holds only [0-9X] (person) or
 * the 31 USCC characters (org). So each input code point independently either vanishes
 * (whitespace), becomes one to three result characters, or makes the ID invalid; the table
 * below was derived from Python over all of Unicode, and a test re-derives it on every run:
 *   person: 0-9, x, X and their full-width forms;
 *   org:    0-9, the USCC letters in either case, their full-width forms, and the ligatures
 *           U+FB00 ff, U+FB02 fl, U+FB04 ffl (str.upper() gives FF, FL, FFL).
 * Everything else (ı → I and ſ → S included: I and S are not USCC characters) is invalid, so
 * the scan stops at the first such character, and also once more than 18 characters were
 * collected: a long string costs nothing unless it is mostly whitespace.
 *
 * Input is one Arrow string value (UTF-8, not NUL-terminated); malformed UTF-8, which Python
 * could not hold as a str, is invalid. Only the C library is used; no Python objects here.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ID_LEN 18 /* both canonical forms are 18 ASCII characters */

enum { KIND_PERSON = 0, KIND_ORG = 1 }; /* the `kind` argument of fs_normalise */

/* GB 11643-1999 and GB 32100-2015, as in fedscreen.identifiers. */
static const uint8_t PERSON_WEIGHTS[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
static const char PERSON_CHECK[] = "10X98765432";
static const uint8_t USCC_WEIGHTS[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10,
                                         30, 28};
static const char USCC_CHARS[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/* ASCII (and half-widthed full-width) characters per kind: SKIP for whitespace, BAD for a
 * character no valid ID holds, otherwise the upper-case character it becomes. */
#define BAD 0
#define SKIP 1
static uint8_t g_ascii[2][128];
static int8_t g_uscc_value[128]; /* USCC character -> its value 0..30, -1 otherwise */

void fs_normalise_init(void)
{
    static const char ascii_ws[] = "\t\n\v\f\r\x1c\x1d\x1e\x1f ";
    memset(g_ascii, BAD, sizeof g_ascii);
    memset(g_uscc_value, -1, sizeof g_uscc_value);
    for (const char *c = ascii_ws; *c; c++)
        g_ascii[KIND_PERSON][(uint8_t)*c] = g_ascii[KIND_ORG][(uint8_t)*c] = SKIP;
    for (char c = '0'; c <= '9'; c++)
        g_ascii[KIND_PERSON][(uint8_t)c] = (uint8_t)c;
    g_ascii[KIND_PERSON]['X'] = g_ascii[KIND_PERSON]['x'] = 'X';
    for (int v = 0; v < 31; v++) {
        uint8_t c = (uint8_t)USCC_CHARS[v];
        g_uscc_value[c] = (int8_t)v;
        g_ascii[KIND_ORG][c] = c;
        if (c >= 'A') /* a USCC letter: its lower case upper-cases to it */
            g_ascii[KIND_ORG][c - 'A' + 'a'] = c;
    }
}

/* Python's `\s` outside ASCII (the ASCII part is in g_ascii): U+0085, U+00A0, U+1680,
 * U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 (fedscreen.tokensql.WS_CODEPOINTS). */
static int is_space(uint32_t cp)
{
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A)
        || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Decode the multi-byte UTF-8 sequence starting at s[*i] (s[*i] >= 0x80) and advance *i past
 * it. Returns the code point, or UINT32_MAX for malformed input (bad lead or continuation
 * byte, truncation, overlong form, surrogate, beyond U+10FFFF). */
static uint32_t decode_utf8(const uint8_t *s, size_t len, size_t *i)
{
    static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000}; /* by continuation bytes */
    uint8_t lead = s[*i];
    size_t extra = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    if (extra == 0 || lead >= 0xF8 || len - *i <= extra)
        return UINT32_MAX;
    uint32_t cp = lead & (0x3F >> extra);
    for (size_t k = 1; k <= extra; k++) {
        uint8_t b = s[*i + k];
        if ((b & 0xC0) != 0x80)
            return UINT32_MAX;
        cp = cp << 6 | (b & 0x3F);
    }
    if (cp < min_cp[extra] || cp > 0x10FFFF
        || (cp >= 0xD800 && cp <= 0xDFFF))
        return UINT32_MAX;
    *i += extra + 1;
    return cp;
}

static char person_check(const uint8_t body[17])
{
    unsigned total = 0;
    for (int k = 0; k < 17; k++)
        total += (unsigned)(body[k] - '0') * PERSON_WEIGHTS[k];
    return PERSON_CHECK[total % 11];
}

static char uscc_check(const uint8_t body[17])
{
    unsigned total = 0;
    for (int k = 0; k < 17; k++)
        total += (unsigned)g_uscc_value[body[k]] * USCC_WEIGHTS[k];
    return USCC_CHARS[(31 - total % 31) % 31];
}

static int all_digits(const uint8_t *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (s[k] < '0' || s[k] > '9')
            return 0;
    return 1;
}

/* Steps 1-3: the half-width, whitespace-free, upper-case characters of s[0..len) into buf,
 * as long as they are all characters a valid ID of `kind` can hold and there are at most 18.
 * Returns how many, or -1 when the ID is already certain to be invalid. */
static int collect(int kind, const uint8_t *s, size_t len, uint8_t buf[ID_LEN])
{
    const uint8_t *map = g_ascii[kind];
    int n = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp = s[i];
        if (cp < 0x80) {
            i++;
        } else {
            cp = decode_utf8(s, len, &i);
            if (cp >= 0xFF01 && cp <= 0xFF5E) {
                cp -= 0xFEE0; /* full-width form → its ASCII character, mapped below */
            } else if (is_space(cp)) {
                continue;
            } else if (kind == KIND_ORG && (cp == 0xFB00 || cp == 0xFB02 || cp == 0xFB04)) {
                /* ff → FF, fl → FL, ffl → FFL */
                const char *up = cp == 0xFB00 ? "FF" : cp == 0xFB02 ? "FL" : "FFL";
                size_t m = strlen(up);
                if (n + m > ID_LEN)
                    return -1;
                memcpy(buf + n, up, m);
                n += (int)m;
                continue;
            } else {
                return -1; /* malformed UTF-8 too */
            }
        }
        uint8_t c = map[cp];
        if (c == SKIP)
            continue;
        if (c == BAD || n == ID_LEN)
            return -1;
        buf[n++] = c;
    }
    return n;
}

/* The canonical form of the raw ID s[0..len) into out (18 bytes, no NUL), returning 1; or 0
 * when s is not a valid ID of `kind` (KIND_PERSON or KIND_ORG), leaving out undefined. */
int fs_normalise(int kind, const uint8_t *s, size_t len, uint8_t out[ID_LEN])
{
    uint8_t buf[ID_LEN];
    int n = collect(kind, s, len, buf);

    if (kind == KIND_ORG) { /* collect() let through USCC characters only */
        if (n != ID_LEN || uscc_check(buf) != buf[17])
            return 0;
        memcpy(out, buf, ID_LEN);
        return 1;
    }

    /* person: collect() let through digits and X only */
    if (n == 15 && all_digits(buf, 15)) { /* legacy: century "19" after the region, + check */
        memcpy(out, buf, 6);
        out[6] = '1', out[7] = '9';
        memcpy(out + 8, buf + 6, 9);
        out[17] = (uint8_t)person_check(out);
        return 1;
    }
    if (n == ID_LEN && all_digits(buf, 17) && person_check(buf) == buf[17]) {
        memcpy(out, buf, ID_LEN);
        return 1;
    }
    return 0;
}
