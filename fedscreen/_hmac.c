/* fedscreen._hmac: HMAC-SHA256 tokens for a whole Arrow string column in one call.
 *
 * The agent's token of an identifier is the first 32 hex characters of
 * HMAC-SHA256(kind_key, canonical_id); fedscreen.fasthmac feeds this module the buffers of an
 * Arrow string array (validity bitmap, offsets, data) and gets back n fixed-width hex strings.
 *
 * Speed comes from three things:
 *  - the key is exactly one 64-byte block, so the compressions of key^ipad and key^opad are
 *    done once per call ("midstates"); an ID of at most 55 bytes then costs two compressions
 *    (one inner block, one outer block) instead of four;
 *  - on x86 CPUs with the SHA extensions the compression uses SHA-NI instructions, chosen at
 *    run time with __builtin_cpu_supports; other CPUs use the portable C compression below;
 *  - the loop runs without the GIL and never touches Python objects.
 *
 * normalise() also turns raw person and org IDs into their canonical form first, in the same
 * pass (the normalisation itself is in _hmac_norm.c), so that one call gives the tokens and the
 * rows whose ID was invalid.
 *
 * Only the C library and compiler intrinsics are used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_X86 1
#include <immintrin.h>
#endif

typedef void (*compress_fn)(uint32_t state[8], const uint8_t *blocks, size_t nblocks);

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t H0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static inline uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* --- portable compression (FIPS 180-4, section 6.2.2) ------------------------------------- */
#define ROR(x, n) ((x) >> (n) | (x) << (32 - (n)))

static void compress_portable(uint32_t state[8], const uint8_t *blocks, size_t nblocks)
{
    for (; nblocks; nblocks--, blocks += 64) {
        uint32_t w[64];
        for (int t = 0; t < 16; t++)
            w[t] = load_be32(blocks + 4 * t);
        for (int t = 16; t < 64; t++) {
            uint32_t s0 = ROR(w[t - 15], 7) ^ ROR(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = ROR(w[t - 2], 17) ^ ROR(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
        for (int t = 0; t < 64; t++) {
            uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + (g ^ (e & (f ^ g))) + K[t]
                        + w[t];
            uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) | (c & (a | b)));
            h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        state[0] += a, state[1] += b, state[2] += c, state[3] += d;
        state[4] += e, state[5] += f, state[6] += g, state[7] += h;
    }
}

/* --- SHA-NI compression ---------------------------------------------------------------------
 * The SHA-NI round instruction keeps the state as two vectors, ABEF and CDGH (A in the top
 * lane); the state is converted on entry and exit. Each of the 16 steps does four rounds with
 * the message vector m[i % 4] = W[4i..4i+3]; from step 4 on it is computed from the previous
 * four (W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]) with msg1/msg2.
 */
#ifdef HAVE_X86
__attribute__((target("sha,sse4.1"))) static void
compress_shani(uint32_t state[8], const uint8_t *blocks, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1); /* CDAB */
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B);  /* EFGH */
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);                                           /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);                                                /* CDGH */

    for (; nblocks; nblocks--, blocks += 64) {
        __m128i abef = s0, cdgh = s1, m[4], msg;
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) {
            if (i < 4) {
                m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 16 * i)), bswap);
            } else { /* m[i-4] is m[i&3], m[i-3] is m[(i+1)&3], and so on */
                __m128i t = _mm_sha256msg1_epu32(m[i & 3], m[(i + 1) & 3]);
                t = _mm_add_epi32(t, _mm_alignr_epi8(m[(i + 3) & 3], m[(i + 2) & 3], 4));
                m[i & 3] = _mm_sha256msg2_epu32(t, m[(i + 3) & 3]);
            }
            msg = _mm_add_epi32(m[i & 3], _mm_loadu_si128((const __m128i *)&K[4 * i]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(msg, 0x0E));
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }

    tmp = _mm_shuffle_epi32(s0, 0x1B);                                  /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);                                   /* DCHG */
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(tmp, s1, 0xF0)); /* DCBA */
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(s1, tmp, 8));    /* HGFE */
}

static int cpu_has_shani(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1")
        && __builtin_cpu_supports("ssse3");
}
#define COMPRESS_FAST compress_shani
#else
static int cpu_has_shani(void) { return 0; }
#define COMPRESS_FAST compress_portable
#endif

/* --- HMAC ----------------------------------------------------------------------------------- */
typedef struct {
    compress_fn compress;
    uint32_t inner[8]; /* state after the block key ^ ipad */
    uint32_t outer[8]; /* state after the block key ^ opad */
} hmac_key;

/* key is one block (64 bytes): HMAC uses it as is, so only the pads are compressed. */
static void hmac_init(hmac_key *hk, compress_fn f, const uint8_t key[64])
{
    uint8_t ipad[64], opad[64];
    for (int i = 0; i < 64; i++)
        ipad[i] = key[i] ^ 0x36, opad[i] = key[i] ^ 0x5c;
    hk->compress = f;
    memcpy(hk->inner, H0, sizeof H0);
    memcpy(hk->outer, H0, sizeof H0);
    f(hk->inner, ipad, 1);
    f(hk->outer, opad, 1);
}

/* HMAC-SHA256 of msg[0..len) as 32 bytes. Whole 64-byte blocks are hashed in place; the tail
 * (len % 64 bytes), 0x80 and the bit length fill one more block, or two if the tail is > 55. */
static void hmac_digest(const hmac_key *hk, const uint8_t *msg, size_t len, uint8_t out[32])
{
    uint32_t st[8];
    uint8_t tail[128], outer[64];
    size_t whole = len / 64, rem = len % 64, tl = rem < 56 ? 64 : 128;
    uint64_t bits = ((uint64_t)len + 64) * 8; /* the key^ipad block counts */

    memcpy(st, hk->inner, sizeof st);
    if (whole)
        hk->compress(st, msg, whole);
    memcpy(tail, msg + 64 * whole, rem);
    tail[rem] = 0x80;
    memset(tail + rem + 1, 0, tl - rem - 1 - 8);
    store_be32(tail + tl - 8, (uint32_t)(bits >> 32));
    store_be32(tail + tl - 4, (uint32_t)bits);
    hk->compress(st, tail, tl / 64);

    /* outer block: inner digest || 0x80 || zeros || bit length (64 + 32) * 8 = 768 */
    for (int i = 0; i < 8; i++)
        store_be32(outer + 4 * i, st[i]);
    outer[32] = 0x80;
    memset(outer + 33, 0, 64 - 33 - 4);
    store_be32(outer + 60, 768);
    memcpy(st, hk->outer, sizeof st);
    hk->compress(st, outer, 1);
    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, st[i]);
}

/* --- the Python function -------------------------------------------------------------------- */
static int g_shani;        /* set once at import */
static char g_hex[256][2]; /* byte -> its two hex digits, so hex is written a byte at a time */

static void init_hex(void)
{
    static const char digit[] = "0123456789abcdef";
    for (int b = 0; b < 256; b++)
        g_hex[b][0] = digit[b >> 4], g_hex[b][1] = digit[b & 15];
}

static inline void to_hex(char *out, const uint8_t digest[32], int digits)
{
    int d = 0;
    for (; d + 1 < digits; d += 2)
        memcpy(out + d, g_hex[digest[d >> 1]], 2);
    if (d < digits) /* an odd count ends with a high nibble */
        out[d] = g_hex[digest[d >> 1]][0];
}

static int64_t load_offset(const uint8_t *offsets, int wide, Py_ssize_t i)
{
    if (wide) {
        int64_t v;
        memcpy(&v, offsets + 8 * i, 8);
        return v;
    }
    int32_t v;
    memcpy(&v, offsets + 4 * i, 4);
    return v;
}

/* 0, or -1 with ValueError unless key is one block and digits is 1..64. */
static int check_key(const Py_buffer *key, int digits)
{
    if (key->len != 64) {
        PyErr_SetString(PyExc_ValueError, "key must be exactly 64 bytes");
        return -1;
    }
    if (digits < 1 || digits > 64) {
        PyErr_SetString(PyExc_ValueError, "digits must be 1..64");
        return -1;
    }
    return 0;
}

/* 0, or -1 with ValueError unless rows start .. start+n-1 fit the offsets and validity buffers
 * (validity->buf is NULL without a bitmap) and n slots of up to 64 bytes fit a Py_ssize_t. */
static int check_rows(Py_ssize_t n, Py_ssize_t start, int wide, const Py_buffer *offsets,
                      const Py_buffer *validity)
{
    Py_ssize_t width = wide ? 8 : 4;
    if (n < 0 || start < 0 || n > (PY_SSIZE_T_MAX - 1) / 64 - start
        || offsets->len / width < start + n + 1
        || (validity->buf && validity->len < (start + n + 7) / 8)) {
        PyErr_SetString(PyExc_ValueError, "n and start do not fit the offsets or validity buffer");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(tokens_doc,
"tokens(data, offsets, validity, n, key, *, start=0, wide=False, digits=32, portable=False)\n"
"--\n\n"
"HMAC-SHA256 of rows start .. start+n-1 of an Arrow string (wide=False: int32 offsets) or\n"
"large_string (wide=True: int64 offsets) array, as n fixed-width lower-case hex strings of\n"
"`digits` characters (1..64; 32 is a fedscreen token) concatenated into one bytes object.\n\n"
"data, offsets and validity are buffers (pyarrow.Buffer, bytes, memoryview); validity is the\n"
"array's bitmap or None (no nulls); bit start+i is row i, like the offsets. key must be\n"
"exactly 64 bytes (one block: a longer key must be hashed and a shorter one zero-padded\n"
"first, as HMAC does). A null row is not hashed: its slot holds `digits` '-' characters,\n"
"never a valid token, and the caller gives the result the input's validity.\n"
"portable=True forces the C compression even on a CPU with SHA extensions (for tests).");

static PyObject *tokens(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"data", "offsets", "validity", "n", "key", "start", "wide", "digits",
                             "portable", NULL};
    Py_buffer data = {0}, offsets = {0}, validity = {0}, key = {0};
    PyObject *validity_obj, *result = NULL;
    Py_ssize_t n, start = 0;
    int wide = 0, digits = 32, portable = 0, bad = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*Ony*|$npip", kwlist, &data, &offsets,
                                     &validity_obj, &n, &key, &start, &wide, &digits, &portable))
        return NULL;
    if (validity_obj != Py_None && PyObject_GetBuffer(validity_obj, &validity, PyBUF_SIMPLE) < 0)
        goto done;

    if (check_key(&key, digits) < 0 || check_rows(n, start, wide, &offsets, &validity) < 0)
        goto done;
    result = PyBytes_FromStringAndSize(NULL, n * digits);
    if (!result)
        goto done;

    hmac_key hk;
    hmac_init(&hk, g_shani && !portable ? COMPRESS_FAST : compress_portable, key.buf);
    char *out = PyBytes_AS_STRING(result);
    const uint8_t *bytes = data.buf, *offs = offsets.buf, *valid = validity.buf;

    Py_BEGIN_ALLOW_THREADS
    int64_t lo = load_offset(offs, wide, start);
    for (Py_ssize_t i = 0; i < n; i++, out += digits) {
        Py_ssize_t row = start + i;
        int64_t hi = load_offset(offs, wide, row + 1);
        if (valid && !(valid[row >> 3] >> (row & 7) & 1)) {
            memset(out, '-', (size_t)digits);
        } else if (lo < 0 || hi < lo || hi > data.len) {
            bad = 1; /* corrupt offsets: refuse rather than read outside the buffer */
            break;
        } else {
            uint8_t digest[32];
            hmac_digest(&hk, bytes + lo, (size_t)(hi - lo), digest);
            to_hex(out, digest, digits);
        }
        lo = hi;
    }
    Py_END_ALLOW_THREADS

    if (bad) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_ValueError, "offsets out of bounds of the data buffer");
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&key);
    if (validity.obj)
        PyBuffer_Release(&validity);
    return result;
}

/* --- normalise, then hash ---------------------------------------------------------------- */
/* Defined in _hmac_norm.c: the canonical 18-character form of a raw person (kind 0) or org
 * (kind 1) ID, returning 1, or 0 when the ID is invalid. */
#define ID_LEN 18
void fs_normalise_init(void);
int fs_normalise(int kind, const uint8_t *s, size_t len, uint8_t out[ID_LEN]);

PyDoc_STRVAR(normalise_doc,
"normalise(kind, data, offsets, validity, n, key=None, *, start=0, wide=False, digits=32,\n"
"          portable=False)\n"
"--\n\n"
"Normalise raw IDs of `kind` ('person' or 'org') exactly as fedscreen.identifiers.normalise\n"
"does, from the same row buffers as tokens(). Returns (out, validity, bad, n_bad):\n"
"  out: n fixed-width slots concatenated, each the 18-character canonical ID when key is\n"
"       None, else its HMAC-SHA256 as `digits` hex characters (key and digits as in tokens());\n"
"       a row without a canonical ID holds '-' characters;\n"
"  validity: an Arrow bitmap of the n output rows (bit i = row i has a canonical ID);\n"
"  bad: n bytes, 1 where the input is not NULL but not a valid ID (NULL in, NULL out: 0);\n"
"  n_bad: how many such rows.");

static PyObject *normalise(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"kind", "data", "offsets", "validity", "n", "key", "start", "wide",
                             "digits", "portable", NULL};
    Py_buffer data = {0}, offsets = {0}, validity = {0}, key = {0};
    PyObject *validity_obj, *key_obj = Py_None, *out_obj = NULL, *valid_obj = NULL;
    PyObject *bad_obj = NULL, *result = NULL;
    const char *kind_name;
    Py_ssize_t n, start = 0, n_bad = 0;
    int wide = 0, digits = 32, portable = 0, corrupt = 0, kind;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sy*y*On|O$npip", kwlist, &kind_name, &data,
                                     &offsets, &validity_obj, &n, &key_obj, &start, &wide,
                                     &digits, &portable))
        return NULL;
    if (validity_obj != Py_None && PyObject_GetBuffer(validity_obj, &validity, PyBUF_SIMPLE) < 0)
        goto done;
    if (key_obj != Py_None && PyObject_GetBuffer(key_obj, &key, PyBUF_SIMPLE) < 0)
        goto done;
    if (strcmp(kind_name, "person") == 0) {
        kind = 0;
    } else if (strcmp(kind_name, "org") == 0) {
        kind = 1;
    } else {
        PyErr_SetString(PyExc_ValueError, "kind must be 'person' or 'org'");
        goto done;
    }
    if ((key.obj && check_key(&key, digits) < 0)
        || check_rows(n, start, wide, &offsets, &validity) < 0)
        goto done;

    Py_ssize_t width = key.obj ? digits : ID_LEN;
    out_obj = PyBytes_FromStringAndSize(NULL, n * width);
    valid_obj = PyBytes_FromStringAndSize(NULL, (n + 7) / 8);
    bad_obj = PyBytes_FromStringAndSize(NULL, n);
    if (!out_obj || !valid_obj || !bad_obj)
        goto done;

    hmac_key hk;
    if (key.obj)
        hmac_init(&hk, g_shani && !portable ? COMPRESS_FAST : compress_portable, key.buf);
    char *out = PyBytes_AS_STRING(out_obj);
    uint8_t *out_valid = (uint8_t *)PyBytes_AS_STRING(valid_obj);
    uint8_t *out_bad = (uint8_t *)PyBytes_AS_STRING(bad_obj);
    const uint8_t *bytes = data.buf, *offs = offsets.buf, *valid = validity.buf;

    Py_BEGIN_ALLOW_THREADS
    memset(out_valid, 0, (size_t)(n + 7) / 8);
    memset(out_bad, 0, (size_t)n);
    int64_t lo = load_offset(offs, wide, start);
    for (Py_ssize_t i = 0; i < n; i++, out += width) {
        Py_ssize_t row = start + i;
        int64_t hi = load_offset(offs, wide, row + 1);
        uint8_t canonical[ID_LEN];
        if (valid && !(valid[row >> 3] >> (row & 7) & 1)) {
            memset(out, '-', (size_t)width); /* NULL stays NULL, and is not an invalid ID */
        } else if (lo < 0 || hi < lo || hi > data.len) {
            corrupt = 1; /* refuse rather than read outside the buffer */
            break;
        } else if (!fs_normalise(kind, bytes + lo, (size_t)(hi - lo), canonical)) {
            memset(out, '-', (size_t)width);
            out_bad[i] = 1;
            n_bad++;
        } else {
            out_valid[i >> 3] |= (uint8_t)(1u << (i & 7));
            if (key.obj) {
                uint8_t digest[32];
                hmac_digest(&hk, canonical, ID_LEN, digest);
                to_hex(out, digest, digits);
            } else {
                memcpy(out, canonical, ID_LEN);
            }
        }
        lo = hi;
    }
    Py_END_ALLOW_THREADS

    if (corrupt)
        PyErr_SetString(PyExc_ValueError, "offsets out of bounds of the data buffer");
    else
        result = Py_BuildValue("(OOOn)", out_obj, valid_obj, bad_obj, n_bad);
done:
    Py_XDECREF(out_obj);
    Py_XDECREF(valid_obj);
    Py_XDECREF(bad_obj);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    if (key.obj)
        PyBuffer_Release(&key);
    if (validity.obj)
        PyBuffer_Release(&validity);
    return result;
}

static PyObject *has_sha_ni(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(g_shani);
}

static PyMethodDef methods[] = {
    {"tokens", (PyCFunction)(void (*)(void))tokens, METH_VARARGS | METH_KEYWORDS, tokens_doc},
    {"normalise", (PyCFunction)(void (*)(void))normalise, METH_VARARGS | METH_KEYWORDS,
     normalise_doc},
    {"has_sha_ni", has_sha_ni, METH_NOARGS,
     "has_sha_ni()\n--\n\nWhether tokens() uses the CPU's SHA extensions (unless portable=True)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fedscreen._hmac",
    "HMAC-SHA256 tokens of Arrow string columns, of raw person and org IDs normalised first.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__hmac(void)
{
    g_shani = cpu_has_shani();
    init_hex();
    fs_normalise_init();
    return PyModule_Create(&module);
}
