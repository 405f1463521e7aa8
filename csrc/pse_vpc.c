/* SPDX-License-Identifier: MIT */
/*
 *  pse_vpc.c -- batch tokeniser of AWS VPC Flow Log text (module
 *  pysilk_ext._vpc).
 *
 *  Hot path, per line: one SIMD pass (SSE2, or AVX2 chosen at run time)
 *  finds the newline, every space and any NUL byte; then each token is
 *  typed by its column's kind: SWAR digit conversion (no strtol, no
 *  locale), a branch-free dotted-quad path for IPv4, and per string
 *  column an open-addressing dictionary whose entries keep the first 32
 *  bytes inline and refer to the input buffer by offset (no copy).
 *  Nothing is allocated per line; a bad line costs one event and leaves
 *  no trace in the columns (its row is simply reused).
 *
 *  Measured alternatives that were slower here: finding each token's end
 *  as it is typed (a serial latency chain from token to token), typing
 *  columns grouped by kind, and keys stored in the hash-table slots.
 */
#include "pse_vpc.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* An AVX2 line scanner is compiled beside the baseline one (by target
 * attribute, so the module still loads on any x86-64) and chosen at run
 * time when the CPU has AVX2. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__SSE2__)
#define VPC_HAVE_AVX2 1
#include <immintrin.h>
#else
#define VPC_HAVE_AVX2 0
#endif

#define VPC_DICT_INIT_SLOTS 1024u
#define VPC_DICT_INIT_CAP   256u

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define VPC_LITTLE_ENDIAN 1
#else
#define VPC_LITTLE_ENDIAN 0
#endif

#if defined(__GNUC__)
#define VPC_LIKELY(x)   __builtin_expect(!!(x), 1)
#define VPC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define VPC_LIKELY(x)   (x)
#define VPC_UNLIKELY(x) (x)
#endif

/* First 32 bytes of a string, zero padded: compared and hashed as
 * four words, so that most ids (eni-, i-, subnet-, vpc-, account ids,
 * regions) are verified without touching the input buffer again. */
typedef struct vpc_key_st {
    uint64_t            w[4];
} vpc_key_t;

/* One distinct value of a STR column (code = index). */
typedef struct vpc_entry_st {
    vpc_key_t           key;
    uint64_t            off;        /* offset in the input buffer */
    uint32_t            len;
    uint32_t            hash;
} vpc_entry_t;

/* String dictionary of one STR column: code 0 = missing. */
typedef struct vpc_dict_st {
    uint64_t           *table;      /* hash << 32 | code; 0 = empty */
    uint32_t            mask;
    uint32_t            count;      /* codes in use, code 0 included */
    uint32_t            cap;        /* entries allocated */
    uint32_t            last;       /* code of the previous row, or 0 */
    uint32_t            last_len;
    vpc_key_t           last_key;   /* its key: checked without a lookup */
    vpc_entry_t        *ent;
} vpc_dict_t;

struct pse_vpc_parser_st {
    uint32_t            ncols;
    int32_t             version_col;    /* -1 when absent */
    int32_t             declared;
    uint32_t            vpc_versions;   /* bit v set: known VPC version */
    uint32_t            tgw_versions;   /* bit v set: TGW version */
    uint32_t            flags;
    uint32_t            max_line;
    uint32_t            nslots[5];      /* columns per kind */
    pse_vpc_column_t   *cols;
    void              **dst;            /* per column, this call */
    uint32_t           *sp;             /* space offsets, sp[0] = ~0 */
    uint32_t            sp_cap;         /* spaces recorded at most */
    int                 avx2;           /* use vpc_scan_line_avx2 */
    /* STR columns: spans of the current line, then codes */
    uint32_t           *str_col;        /* column index of each slot */
    uint32_t           *str_code;
    uint32_t           *str_hash;
    vpc_key_t          *str_key;
    uint64_t           *str_off;        /* new values: buffer offset */
    uint32_t           *str_len;
    vpc_dict_t         *dicts;
    /* field names recognised in header lines */
    uint8_t            *names;
    uint32_t           *name_off;
    uint32_t           *name_len;
    uint32_t           *name_table;     /* index + 1, 0 = empty */
    uint32_t            name_mask;
    uint32_t            nnames;
};


/* ------------------------------------------------------------------ */
/*  small helpers                                                      */
/* ------------------------------------------------------------------ */

static inline uint64_t
vpc_load64(
    const uint8_t      *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Bits set in a 16-bit mask, without relying on -mpopcnt (the build
 * targets baseline x86-64, where __builtin_popcount is a libgcc call). */
static const uint8_t vpc_pop8[256] = {
    0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
    1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 5,
    1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 5,
    2, 3, 3, 4, 3, 4, 4, 5, 3, 4, 4, 5, 4, 5, 5, 6,
    1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 5,
    2, 3, 3, 4, 3, 4, 4, 5, 3, 4, 4, 5, 4, 5, 5, 6,
    2, 3, 3, 4, 3, 4, 4, 5, 3, 4, 4, 5, 4, 5, 5, 6,
    3, 4, 4, 5, 4, 5, 5, 6, 4, 5, 5, 6, 5, 6, 6, 7,
    1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 5,
    2, 3, 3, 4, 3, 4, 4, 5, 3, 4, 4, 5, 4, 5, 5, 6,
    2, 3, 3, 4, 3, 4, 4, 5, 3, 4, 4, 5, 4, 5, 5, 6,
    3, 4, 4, 5, 4, 5, 5, 6, 4, 5, 5, 6, 5, 6, 6, 7,
    2, 3, 3, 4, 3, 4, 4, 5, 3, 4, 4, 5, 4, 5, 5, 6,
    3, 4, 4, 5, 4, 5, 5, 6, 4, 5, 5, 6, 5, 6, 6, 7,
    3, 4, 4, 5, 4, 5, 5, 6, 4, 5, 5, 6, 5, 6, 6, 7,
    4, 5, 5, 6, 5, 6, 6, 7, 5, 6, 6, 7, 6, 7, 7, 8,
};

static inline unsigned
vpc_pop16(
    unsigned            m)
{
    return (unsigned)vpc_pop8[m & 0xffu] + vpc_pop8[(m >> 8) & 0xffu];
}

/*
 *  h = vpc_hash(t, n, end);
 *
 *    Hash n bytes at t; `end` bounds the readable memory so that a
 *    short tail may be loaded as one word when there is room.
 */
static inline uint32_t
vpc_hash(
    const uint8_t      *t,
    size_t              n,
    const uint8_t      *end)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;

    while (n >= 8) {
        h = (h ^ vpc_load64(t)) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 29;
        t += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        if (VPC_LITTLE_ENDIAN && end - t >= 8) {
            w = vpc_load64(t) & ((1ULL << (n * 8)) - 1);
        } else {
            memcpy(&w, t, n);
        }
        h = (h ^ w) * 0x94d049bb133111ebULL;
    }
    h ^= h >> 31;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return (uint32_t)h;
}

/*
 *  same = vpc_bytes_eq(a, b, n, end);
 *
 *    Compare n bytes at a and b, both inside a buffer ending at `end`,
 *    with word loads instead of a call to memcmp (tokens are short).
 */
static inline int
vpc_bytes_eq(
    const uint8_t      *a,
    const uint8_t      *b,
    size_t              n,
    const uint8_t      *end)
{
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 < n; i += 8) {
            if (vpc_load64(a + i) != vpc_load64(b + i)) {
                return 0;
            }
        }
        return vpc_load64(a + n - 8) == vpc_load64(b + n - 8);
    }
    if (VPC_LITTLE_ENDIAN && n && end - a >= 8 && end - b >= 8) {
        uint64_t m = (1ULL << (n * 8)) - 1;
        return ((vpc_load64(a) ^ vpc_load64(b)) & m) == 0;
    }
    return memcmp(a, b, n) == 0;
}

/*
 *  ok = vpc_swar_digits(w, n, &v);
 *
 *    w holds n (1..8) ASCII bytes in memory order (the rest of w is
 *    garbage).  If they are all decimal digits, store their value in *v
 *    and return 1.  Branch-free: the digits are right-aligned, padded
 *    with '0', checked and converted with three multiplications.
 */
static inline int
vpc_swar_digits(
    uint64_t            w,
    size_t              n,
    uint64_t           *v)
{
    unsigned pad = (unsigned)(8 - n) * 8;
    if (pad) {
        w = (w << pad) | (0x3030303030303030ULL >> (64 - pad));
    }
    if (((w & 0xf0f0f0f0f0f0f0f0ULL)
         | (((w + 0x0606060606060606ULL) & 0xf0f0f0f0f0f0f0f0ULL) >> 4))
        != 0x3333333333333333ULL)
    {
        return 0;
    }
    w = (w & 0x0f0f0f0f0f0f0f0fULL) * 2561 >> 8;
    w = (w & 0x00ff00ff00ff00ffULL) * 6553601 >> 16;
    w = (w & 0x0000ffff0000ffffULL) * 42949672960001ULL >> 32;
    *v = w;
    return 1;
}

/*
 *  ok = vpc_utf8_valid(s, n);
 *
 *    Return 1 when s[0..n) is well-formed UTF-8 (no overlong forms, no
 *    surrogates, nothing above U+10FFFF).
 */
static int
vpc_utf8_valid(
    const uint8_t      *s,
    size_t              n)
{
    size_t i = 0;

    while (i < n) {
        while (i + 8 <= n && !(vpc_load64(s + i) & 0x8080808080808080ULL)) {
            i += 8;
        }
        if (i >= n) {
            break;
        }
        uint8_t c = s[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            ++i;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c == 0xe0) {
            need = 2;
            lo = 0xa0;
        } else if (c == 0xed) {
            need = 2;
            hi = 0x9f;
        } else if (c >= 0xe1 && c <= 0xef) {
            need = 2;
        } else if (c == 0xf0) {
            need = 3;
            lo = 0x90;
        } else if (c >= 0xf1 && c <= 0xf3) {
            need = 3;
        } else if (c == 0xf4) {
            need = 3;
            hi = 0x8f;
        } else {
            return 0;
        }
        if (n - i <= need) {
            return 0;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return 0;
        }
        for (size_t k = 2; k <= need; ++k) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        i += need + 1;
    }
    return 1;
}


/* ------------------------------------------------------------------ */
/*  value parsers                                                      */
/* ------------------------------------------------------------------ */

/*
 *  r = vpc_parse_int(t, n, end, &v);
 *
 *    Parse a non-negative decimal integer or "-" (v = -1).  Return 0 on
 *    success, 1 when the token is not an integer, 2 when it exceeds
 *    INT64_MAX.  `end` bounds readable memory (for word loads).
 */
static inline int
vpc_parse_int(
    const uint8_t      *t,
    size_t              n,
    const uint8_t      *end,
    int64_t            *out)
{
    uint64_t v = 0;

#if VPC_LITTLE_ENDIAN
    if (VPC_LIKELY(n - 1 < 16 && end - t >= 8)) {
        uint64_t lo;
        if (n <= 8) {
            if (VPC_LIKELY(vpc_swar_digits(vpc_load64(t), n, &v))) {
                *out = (int64_t)v;
                return 0;
            }
        } else if (vpc_swar_digits(vpc_load64(t), n - 8, &v)
                   && vpc_swar_digits(vpc_load64(t + n - 8), 8, &lo))
        {
            *out = (int64_t)(v * 100000000u + lo);
            return 0;
        }
        if (n == 1 && t[0] == '-') {
            *out = -1;
            return 0;
        }
        return 1;
    }
    v = 0;
#endif
    if (VPC_LIKELY(n - 1 < 18)) {
        /* 1 to 18 digits cannot overflow */
        for (size_t i = 0; i < n; ++i) {
            unsigned d = (unsigned)t[i] - '0';
            if (VPC_UNLIKELY(d > 9)) {
                if (n == 1 && t[0] == '-') {
                    *out = -1;
                    return 0;
                }
                return 1;
            }
            v = v * 10 + d;
        }
        *out = (int64_t)v;
        return 0;
    }
    if (n == 0) {
        return 1;
    }
    for (size_t i = 0; i < n; ++i) {
        if ((unsigned)t[i] - '0' > 9) {
            return 1;
        }
    }
    while (n > 1 && t[0] == '0') {
        ++t;
        --n;
    }
    if (n > 19) {
        return 2;
    }
    for (size_t i = 0; i < n; ++i) {
        v = v * 10 + ((unsigned)t[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX) {
        return 2;
    }
    *out = (int64_t)v;
    return 0;
}

/*
 *  ok = vpc_parse_ip4(t, n, out4);
 *
 *    Parse exactly four dotted decimal octets (no leading zeros, as
 *    inet_pton and Python's ipaddress).  Return 1 on success.
 */
static inline int
vpc_parse_ip4(
    const uint8_t      *t,
    size_t              n,
    uint8_t            *out)
{
    const uint8_t *e = t + n;

    for (int k = 0; k < 4; ++k) {
        unsigned v, d;
        if (t >= e || (v = (unsigned)*t - '0') > 9) {
            return 0;
        }
        ++t;
        if (t < e && (d = (unsigned)*t - '0') <= 9) {
            if (v == 0) {
                return 0;
            }
            v = v * 10 + d;
            ++t;
            if (t < e && (d = (unsigned)*t - '0') <= 9) {
                v = v * 10 + d;
                ++t;
                if (v > 255) {
                    return 0;
                }
            }
        }
        out[k] = (uint8_t)v;
        if (k < 3) {
            if (t >= e || *t != '.') {
                return 0;
            }
            ++t;
        }
    }
    return t == e;
}

#if defined(__SSE2__)
/* One octet of 1-3 digits at o (o[0..2] readable): 1 if valid. */
static inline unsigned
vpc_octet(
    const uint8_t      *o,
    unsigned            L,
    uint8_t            *out)
{
    static const uint8_t m0[4] = {0, 1, 10, 100};
    static const uint8_t m1[4] = {0, 0, 1, 10};
    static const uint8_t m2[4] = {0, 0, 0, 1};
    unsigned d0 = (unsigned)o[0] - '0';
    unsigned d1 = (unsigned)o[1] - '0';
    unsigned d2 = (unsigned)o[2] - '0';
    unsigned k = L & 3u;
    unsigned v = d0 * m0[k] + (d1 & 15u) * m1[k] + (d2 & 15u) * m2[k];
    unsigned ok = (L - 1u < 3u) & (d0 <= 9u) & ((L < 2u) | (d1 <= 9u))
                  & ((L < 3u) | (d2 <= 9u)) & (v <= 255u)
                  & ((L == 1u) | (d0 != 0u));
    *out = (uint8_t)v;
    return ok;
}

/*
 *  ok = vpc_parse_ip4_fast(t, n, out4);
 *
 *    Dotted quad without data-dependent branches: the dots come from
 *    one SIMD compare, each octet from a table-weighted sum.  Needs
 *    7 <= n <= 15 and 18 readable bytes at t.  Return 1 on success; the
 *    caller falls back to vpc_parse_ip4 (or IPv6) otherwise.
 */
static inline int
vpc_parse_ip4_fast(
    const uint8_t      *t,
    size_t              n,
    uint8_t            *out)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)t);
    unsigned md = (unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
    md &= (1u << n) - 1u;
    if (vpc_pop16(md) != 3) {
        return 0;
    }
    unsigned p1 = (unsigned)__builtin_ctz(md);
    md &= md - 1;
    unsigned p2 = (unsigned)__builtin_ctz(md);
    md &= md - 1;
    unsigned p3 = (unsigned)__builtin_ctz(md);
    unsigned ok = vpc_octet(t, p1, out)
                & vpc_octet(t + p1 + 1, p2 - p1 - 1, out + 1)
                & vpc_octet(t + p2 + 1, p3 - p2 - 1, out + 2)
                & vpc_octet(t + p3 + 1, (unsigned)n - p3 - 1, out + 3);
    return (int)ok;
}
#endif

static inline int
vpc_hexval(
    uint8_t             c)
{
    if ((unsigned)c - '0' <= 9) {
        return c - '0';
    }
    c |= 0x20;
    if ((unsigned)c - 'a' <= 5) {
        return c - 'a' + 10;
    }
    return -1;
}

/*
 *  ok = vpc_parse_ip6(t, n, out16);
 *
 *    Parse an IPv6 address in RFC 4291 text form: up to eight groups of
 *    1-4 hex digits, at most one "::" standing for one or more zero
 *    groups, optionally ending in a dotted IPv4 address.  Zone ids are
 *    not accepted.  Return 1 on success.
 */
static int
vpc_parse_ip6(
    const uint8_t      *t,
    size_t              n,
    uint8_t            *out)
{
    uint8_t tmp[16];
    int ngroups = 0;
    int gap = -1;
    size_t i = 0;

    memset(tmp, 0, sizeof(tmp));
    if (n < 2) {
        return 0;
    }
    if (t[0] == ':') {
        if (t[1] != ':') {
            return 0;
        }
        gap = 0;
        i = 2;
    }
    while (i < n) {
        size_t j = i;
        unsigned v = 0;
        int h;
        if (ngroups == 8) {
            return 0;
        }
        while (j < n && j - i < 5 && (h = vpc_hexval(t[j])) >= 0) {
            v = (v << 4) | (unsigned)h;
            ++j;
        }
        if (j < n && t[j] == '.') {
            /* embedded IPv4 takes the last two groups */
            if (ngroups > 6
                || !vpc_parse_ip4(t + i, n - i, tmp + 2 * ngroups))
            {
                return 0;
            }
            ngroups += 2;
            i = n;
            break;
        }
        if (j == i || j - i > 4) {
            return 0;
        }
        tmp[2 * ngroups] = (uint8_t)(v >> 8);
        tmp[2 * ngroups + 1] = (uint8_t)v;
        ++ngroups;
        if (j == n) {
            i = n;
            break;
        }
        if (t[j] != ':') {
            return 0;
        }
        ++j;
        if (j < n && t[j] == ':') {
            if (gap >= 0) {
                return 0;
            }
            gap = ngroups;
            ++j;
        } else if (j == n) {
            return 0;   /* a single trailing ':' */
        }
        i = j;
    }
    if (gap >= 0) {
        int tail = ngroups - gap;
        if (ngroups >= 8) {
            return 0;   /* "::" must stand for at least one group */
        }
        memset(out, 0, 16);
        memcpy(out, tmp, (size_t)(2 * gap));
        memcpy(out + 16 - 2 * tail, tmp + 2 * gap, (size_t)(2 * tail));
        return 1;
    }
    if (ngroups != 8) {
        return 0;
    }
    memcpy(out, tmp, 16);
    return 1;
}

/*
 *  family = vpc_parse_addr(t, n, end, out16);
 *
 *    Parse "-" (family 0, zero bytes), IPv4 (stored as ::ffff:a.b.c.d,
 *    family 4) or IPv6 (family 6).  Return -1 for anything else.
 */
static inline int
vpc_parse_addr(
    const uint8_t      *t,
    size_t              n,
    const uint8_t      *end,
    uint8_t            *out)
{
    static const uint8_t mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };
    uint8_t v4[4];

#if defined(__SSE2__)
    if (VPC_LIKELY(n - 7 <= 8 && end - t >= 18)
        && VPC_LIKELY(vpc_parse_ip4_fast(t, n, v4)))
    {
        memcpy(out, mapped, 12);
        memcpy(out + 12, v4, 4);
        return 4;
    }
#endif
    if (vpc_parse_ip4(t, n, v4)) {
        memcpy(out, mapped, 12);
        memcpy(out + 12, v4, 4);
        return 4;
    }
    if (n == 1 && t[0] == '-') {
        memset(out, 0, 16);
        return 0;
    }
    if (vpc_parse_ip6(t, n, out)) {
        return 6;
    }
    return -1;
}

/* Folded comparison of a token with a known ASCII word. */
static int
vpc_eq_fold(
    const uint8_t      *t,
    size_t              n,
    const char         *word)
{
    size_t k = strlen(word);
    if (k != n) {
        return 0;
    }
    for (size_t i = 0; i < n; ++i) {
        uint8_t a = t[i], b = (uint8_t)word[i];
        if ((unsigned)a - 'A' < 26u) {
            a |= 0x20;
        }
        if ((unsigned)b - 'A' < 26u) {
            b |= 0x20;
        }
        if (a != b) {
            return 0;
        }
    }
    return 1;
}

/* Words of each enumeration, in code order (code = index + 1). */
static const char *const vpc_enum_words[5][4] = {
    {NULL, NULL, NULL, NULL},
    {"ACCEPT", "REJECT", NULL, NULL},
    {"OK", "NODATA", "SKIPDATA", NULL},
    {"ingress", "egress", NULL, NULL},
    {"IPv4", "IPv6", "EFA", NULL}
};

/*
 *  code = vpc_parse_enum(id, t, n);
 *
 *    Return the enumeration code of the token (0 for "-"), -1 when the
 *    token is none of its words.  The exact AWS spelling is tried first;
 *    any other letter case is accepted on the slow path.
 */
static inline int
vpc_parse_enum(
    unsigned            id,
    const uint8_t      *t,
    size_t              n)
{
    switch (id) {
      case PSE_VPC_ENUM_ACTION:
        if (n == 6) {
            if (memcmp(t, "ACCEPT", 6) == 0) {
                return PSE_VPC_ACTION_ACCEPT;
            }
            if (memcmp(t, "REJECT", 6) == 0) {
                return PSE_VPC_ACTION_REJECT;
            }
        }
        break;
      case PSE_VPC_ENUM_LOG_STATUS:
        if (n == 2 && t[0] == 'O' && t[1] == 'K') {
            return PSE_VPC_LOG_STATUS_OK;
        }
        break;
      case PSE_VPC_ENUM_FLOW_DIRECTION:
        if (n == 7 && memcmp(t, "ingress", 7) == 0) {
            return PSE_VPC_FLOW_DIRECTION_INGRESS;
        }
        if (n == 6 && memcmp(t, "egress", 6) == 0) {
            return PSE_VPC_FLOW_DIRECTION_EGRESS;
        }
        break;
      case PSE_VPC_ENUM_ADDR_TYPE:
        if (n == 4 && memcmp(t, "IPv", 3) == 0) {
            if (t[3] == '4') {
                return PSE_VPC_ADDR_TYPE_IPV4;
            }
            if (t[3] == '6') {
                return PSE_VPC_ADDR_TYPE_IPV6;
            }
        }
        break;
      default:
        return -1;
    }
    if (n == 1 && t[0] == '-') {
        return 0;
    }
    for (int k = 0; k < 4 && vpc_enum_words[id][k]; ++k) {
        if (vpc_eq_fold(t, n, vpc_enum_words[id][k])) {
            return k + 1;
        }
    }
    return -1;
}


/* ------------------------------------------------------------------ */
/*  string dictionaries                                                */
/* ------------------------------------------------------------------ */

/*
 *  vpc_key_make(&key, t, n, end);
 *
 *    Load the first 32 bytes of the n bytes at t into key, zero padded.
 */
static inline void
vpc_key_make(
    vpc_key_t          *k,
    const uint8_t      *t,
    size_t              n,
    const uint8_t      *end)
{
    if (VPC_LITTLE_ENDIAN && end - t >= 32) {
        for (size_t i = 0; i < 4; ++i) {
            size_t have = n > 8 * i ? n - 8 * i : 0;
            uint64_t m = have >= 8 ? ~0ULL : (1ULL << (have * 8)) - 1;
            k->w[i] = vpc_load64(t + 8 * i) & m;
        }
    } else {
        memset(k, 0, sizeof(*k));
        memcpy(k, t, n < 32 ? n : 32);
    }
}

/*
 *  h = vpc_key_hash(&key, n, t, end);
 *
 *    Hash a string from its key (and the bytes beyond 32, if any).
 */
static inline uint32_t
vpc_key_hash(
    const vpc_key_t    *k,
    size_t              n,
    const uint8_t      *t,
    const uint8_t      *end)
{
    uint64_t a = k->w[0] ^ 0x9e3779b97f4a7c15ULL;
    uint64_t b = k->w[1] ^ 0xc2b2ae3d27d4eb4fULL;
    uint64_t c = k->w[2] ^ 0x165667b19e3779f9ULL;
    uint64_t d = k->w[3] ^ 0x27d4eb2f165667c5ULL ^ (uint64_t)n;
    uint64_t h;
#if defined(__SIZEOF_INT128__)
    __uint128_t m1 = (__uint128_t)a * b;
    __uint128_t m2 = (__uint128_t)c * d;
    h = (uint64_t)m1 ^ (uint64_t)(m1 >> 64)
        ^ (uint64_t)m2 ^ (uint64_t)(m2 >> 64);
#else
    h = (a * 0xbf58476d1ce4e5b9ULL) ^ (b * 0x94d049bb133111ebULL)
        ^ (c * 0xd6e8feb86659fd93ULL) ^ (d * 0x9e3779b97f4a7c15ULL);
#endif
    if (VPC_UNLIKELY(n > 32)) {
        h ^= vpc_hash(t + 32, n - 32, end);
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)(h >> 32);
}

/* Is entry e the n bytes at t (whose key is k)? */
static inline int
vpc_entry_eq(
    const vpc_entry_t  *e,
    const vpc_key_t    *k,
    size_t              n,
    const uint8_t      *buf,
    const uint8_t      *end,
    const uint8_t      *t)
{
    return e->len == n
        && ((e->key.w[0] ^ k->w[0]) | (e->key.w[1] ^ k->w[1])
            | (e->key.w[2] ^ k->w[2]) | (e->key.w[3] ^ k->w[3])) == 0
        && (n <= 32 || vpc_bytes_eq(buf + e->off + 32, t + 32, n - 32, end));
}

static int
vpc_dict_init(
    vpc_dict_t         *d)
{
    memset(d, 0, sizeof(*d));
    d->table = calloc(VPC_DICT_INIT_SLOTS, sizeof(uint64_t));
    d->ent = calloc(VPC_DICT_INIT_CAP, sizeof(vpc_entry_t));
    if (!d->table || !d->ent) {
        return PSE_ERR_NOMEM;
    }
    d->mask = VPC_DICT_INIT_SLOTS - 1;
    d->cap = VPC_DICT_INIT_CAP;
    d->count = 1;
    return PSE_OK;
}

static void
vpc_dict_destroy(
    vpc_dict_t         *d)
{
    free(d->table);
    free(d->ent);
}

static void
vpc_dict_clear(
    vpc_dict_t         *d)
{
    memset(d->table, 0, ((size_t)d->mask + 1) * sizeof(uint64_t));
    d->count = 1;
    d->last = 0;
}

/*
 *  code = vpc_dict_find(d, &key, h, buf, end, t, n);
 *
 *    Return the code of the n bytes at t (key k, hash h), 0 if absent.
 */
static inline uint32_t
vpc_dict_find(
    const vpc_dict_t   *d,
    const vpc_key_t    *k,
    uint32_t            h,
    const uint8_t      *buf,
    const uint8_t      *end,
    const uint8_t      *t,
    size_t              n)
{
    uint32_t i = h & d->mask;
    for (;;) {
        uint64_t slot = d->table[i];
        if (slot == 0) {
            return 0;
        }
        if ((uint32_t)(slot >> 32) == h) {
            uint32_t c = (uint32_t)slot;
            if (vpc_entry_eq(&d->ent[c], k, n, buf, end, t)) {
                return c;
            }
        }
        i = (i + 1) & d->mask;
    }
}

/*
 *  status = vpc_dict_add(d, &key, off, n, h, &code);
 *
 *    Append a value known to be absent, growing the table at half load.
 */
static int
vpc_dict_add(
    vpc_dict_t         *d,
    const vpc_key_t    *k,
    uint64_t            off,
    uint32_t            n,
    uint32_t            h,
    uint32_t           *code)
{
    uint32_t c = d->count;

    if (c >= UINT32_MAX / 2) {
        return PSE_ERR_RANGE;
    }
    if (c >= d->cap) {
        uint32_t cap = d->cap * 2;
        vpc_entry_t *ent = realloc(d->ent, (size_t)cap * sizeof(*ent));
        if (!ent) {
            return PSE_ERR_NOMEM;
        }
        d->ent = ent;
        d->cap = cap;
    }
    if ((uint64_t)(c + 1) * 2 > (uint64_t)d->mask + 1) {
        uint32_t mask = d->mask * 2 + 1;
        uint64_t *table = calloc((size_t)mask + 1, sizeof(uint64_t));
        if (!table) {
            return PSE_ERR_NOMEM;
        }
        for (uint32_t j = 1; j < c; ++j) {
            uint32_t i = d->ent[j].hash & mask;
            while (table[i]) {
                i = (i + 1) & mask;
            }
            table[i] = ((uint64_t)d->ent[j].hash << 32) | j;
        }
        free(d->table);
        d->table = table;
        d->mask = mask;
    }
    vpc_entry_t *e = &d->ent[c];
    e->key = *k;
    e->off = off;
    e->len = n;
    e->hash = h;
    uint32_t i = h & d->mask;
    while (d->table[i]) {
        i = (i + 1) & d->mask;
    }
    d->table[i] = ((uint64_t)h << 32) | c;
    d->count = c + 1;
    *code = c;
    return PSE_OK;
}


/* ------------------------------------------------------------------ */
/*  header recognition                                                 */
/* ------------------------------------------------------------------ */

static int
vpc_name_known(
    const pse_vpc_parser_t *P,
    const uint8_t      *t,
    size_t              n,
    const uint8_t      *end)
{
    uint32_t i = vpc_hash(t, n, end) & P->name_mask;
    for (;;) {
        uint32_t k = P->name_table[i];
        if (k == 0) {
            return 0;
        }
        --k;
        if (P->name_len[k] == n
            && memcmp(P->names + P->name_off[k], t, n) == 0)
        {
            return 1;
        }
        i = (i + 1) & P->name_mask;
    }
}

/*
 *  yes = vpc_is_header(P, s, n, end);
 *
 *    A header line is made only of field-name-like tokens
 *    ([a-z][a-z0-9-]*, single spaces), and either its first token is a
 *    known field name or more than half of its tokens are (so that the
 *    header of a newer version, with unknown names, is recognised).
 *    Records almost never qualify: "-", digits, dots, upper case and
 *    underscores are not name characters.
 */
static int
vpc_is_header(
    const pse_vpc_parser_t *P,
    const uint8_t      *s,
    size_t              n,
    const uint8_t      *end)
{
    size_t ntok = 1;

    /* pass 1: character classes only (cheap, fails early on records) */
    if (n == 0 || (unsigned)s[0] - 'a' >= 26u || s[n - 1] == ' ') {
        return 0;
    }
    for (size_t i = 1; i < n; ++i) {
        uint8_t c = s[i];
        if (c == ' ') {
            if ((unsigned)s[i + 1] - 'a' >= 26u) {
                return 0;   /* a token must start with a letter */
            }
            ++ntok;
        } else if (!((unsigned)c - 'a' < 26u || (unsigned)c - '0' < 10u
                     || c == '-'))
        {
            return 0;
        }
    }
    /* pass 2: look the names up */
    size_t known = 0, i = 0;
    int first_known = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != ' ') {
            ++j;
        }
        int k = vpc_name_known(P, s + i, j - i, end);
        if (i == 0) {
            first_known = k;
        }
        known += (size_t)k;
        i = j + 1;
    }
    return first_known || known * 2 > ntok;
}


/* ------------------------------------------------------------------ */
/*  line scanner                                                       */
/* ------------------------------------------------------------------ */

/*
 *  len = vpc_scan_line(s, end, sp, sp_cap, &nsp, &nul, max_line, &long);
 *
 *    Find the end of the line at s (newline or end of buffer) and record
 *    the offsets of its first sp_cap spaces in sp[]; count them all in
 *    *nsp; set *nul when a NUL byte occurs.  When the line is longer
 *    than max_line, stop recording, set *too_long and just find its end.
 *    Return the line length without the newline.
 */
static inline size_t
vpc_scan_line(
    const uint8_t      *s,
    const uint8_t      *end,
    uint32_t           *sp,
    uint32_t            sp_cap,
    uint32_t           *nsp_out,
    int                *nul_out,
    size_t              max_line,
    int                *too_long)
{
    size_t off = 0;
    uint32_t nsp = 0;
    unsigned nul = 0;

#if defined(__SSE2__)
    const __m128i vnl = _mm_set1_epi8('\n');
    const __m128i vsp = _mm_set1_epi8(' ');
    const __m128i vz = _mm_setzero_si128();
    for (;;) {
        const uint8_t *p = s + off;
        __m128i v;
        if (VPC_LIKELY(end - p >= 16)) {
            v = _mm_loadu_si128((const __m128i *)(const void *)p);
        } else {
            uint8_t tmp[16];
            memset(tmp, '\n', sizeof(tmp));
            memcpy(tmp, p, (size_t)(end - p));
            v = _mm_loadu_si128((const __m128i *)(const void *)tmp);
        }
        unsigned mnl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vnl));
        unsigned msp = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vsp));
        unsigned mz = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vz));
        if (mnl) {
            unsigned below = (mnl & (0u - mnl)) - 1u;
            msp &= below;
            mz &= below;
        }
        nul |= mz;
        if (VPC_LIKELY(nsp < sp_cap)) {
            /* six unconditional stores (sp[] has slack) instead of a
             * loop whose trip count the branch predictor cannot know;
             * sentinel bits 16-23 keep ctz defined */
            unsigned cnt = vpc_pop16(msp);
            uint64_t m = (uint64_t)msp | 0xff0000ULL;
            uint32_t *w = sp + nsp;
            uint32_t o32 = (uint32_t)off;
            w[0] = o32 + (uint32_t)__builtin_ctzll(m);
            m &= m - 1;
            w[1] = o32 + (uint32_t)__builtin_ctzll(m);
            m &= m - 1;
            w[2] = o32 + (uint32_t)__builtin_ctzll(m);
            m &= m - 1;
            w[3] = o32 + (uint32_t)__builtin_ctzll(m);
            m &= m - 1;
            w[4] = o32 + (uint32_t)__builtin_ctzll(m);
            m &= m - 1;
            w[5] = o32 + (uint32_t)__builtin_ctzll(m);
            if (VPC_UNLIKELY(cnt > 6)) {
                for (unsigned k = 6; k < cnt; ++k) {
                    m &= m - 1;
                    w[k] = o32 + (uint32_t)__builtin_ctzll(m);
                }
            }
            nsp += cnt;
        } else {
            nsp += vpc_pop16(msp);
        }
        if (mnl) {
            off += (unsigned)__builtin_ctz(mnl);
            break;
        }
        off += 16;
        if (VPC_UNLIKELY(off > max_line)) {
            const uint8_t *q = memchr(s + off, '\n', (size_t)(end - s) - off);
            *too_long = 1;
            off = q ? (size_t)(q - s) : (size_t)(end - s);
            break;
        }
    }
#else
    for (;;) {
        if (s + off >= end || s[off] == '\n') {
            break;
        }
        uint8_t c = s[off];
        if (c == ' ') {
            if (nsp < sp_cap) {
                sp[nsp] = (uint32_t)off;
            }
            ++nsp;
        } else if (c == 0) {
            nul = 1;
        }
        ++off;
        if (off > max_line) {
            const uint8_t *q = memchr(s + off, '\n', (size_t)(end - s) - off);
            *too_long = 1;
            off = q ? (size_t)(q - s) : (size_t)(end - s);
            break;
        }
    }
#endif
    if (off > max_line) {
        *too_long = 1;
    }
    *nsp_out = nsp;
    *nul_out = nul != 0;
    return off;
}


#if VPC_HAVE_AVX2
/*
 *  len = vpc_scan_line_avx2(s, end, sp, sp_cap, &nsp, &nul, max_line, &long);
 *
 *    vpc_scan_line with 32-byte blocks, native popcnt/tzcnt/blsr and
 *    eight unconditional position stores per block.
 */
__attribute__((target("avx2,bmi,popcnt")))
static size_t
vpc_scan_line_avx2(
    const uint8_t      *s,
    const uint8_t      *end,
    uint32_t           *sp,
    uint32_t            sp_cap,
    uint32_t           *nsp_out,
    int                *nul_out,
    size_t              max_line,
    int                *too_long)
{
    const __m256i vnl = _mm256_set1_epi8('\n');
    const __m256i vsp = _mm256_set1_epi8(' ');
    const __m256i vz = _mm256_setzero_si256();
    size_t off = 0;
    uint32_t nsp = 0;
    uint32_t nul = 0;

    for (;;) {
        const uint8_t *p = s + off;
        __m256i v;
        if (VPC_LIKELY(end - p >= 32)) {
            v = _mm256_loadu_si256((const __m256i *)(const void *)p);
        } else {
            uint8_t tmp[32];
            memset(tmp, '\n', sizeof(tmp));
            memcpy(tmp, p, (size_t)(end - p));
            v = _mm256_loadu_si256((const __m256i *)(const void *)tmp);
        }
        uint32_t mnl =
            (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, vnl));
        uint32_t msp =
            (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, vsp));
        uint32_t mz = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, vz));
        if (mnl) {
            uint32_t below = (mnl & (0u - mnl)) - 1u;
            msp &= below;
            mz &= below;
        }
        nul |= mz;
        if (VPC_LIKELY(nsp < sp_cap)) {
            uint32_t cnt = (uint32_t)_mm_popcnt_u32(msp);
            uint64_t m = (uint64_t)msp | 0xff00000000ULL;
            uint32_t *w = sp + nsp;
            uint32_t o32 = (uint32_t)off;
            for (int k = 0; k < 8; ++k) {
                w[k] = o32 + (uint32_t)_tzcnt_u64(m);
                m = _blsr_u64(m);
            }
            if (VPC_UNLIKELY(cnt > 8)) {
                for (uint32_t k = 8; k < cnt; ++k) {
                    w[k] = o32 + (uint32_t)_tzcnt_u64(m);
                    m = _blsr_u64(m);
                }
            }
            nsp += cnt;
        } else {
            nsp += (uint32_t)_mm_popcnt_u32(msp);
        }
        if (mnl) {
            off += _tzcnt_u32(mnl);
            break;
        }
        off += 32;
        if (VPC_UNLIKELY(off > max_line)) {
            const uint8_t *q = memchr(s + off, '\n', (size_t)(end - s) - off);
            *too_long = 1;
            off = q ? (size_t)(q - s) : (size_t)(end - s);
            break;
        }
    }
    if (off > max_line) {
        *too_long = 1;
    }
    *nsp_out = nsp;
    *nul_out = nul != 0;
    return off;
}
#endif


/* ------------------------------------------------------------------ */
/*  public API                                                         */
/* ------------------------------------------------------------------ */

/*
 *  status = pse_vpc_parser_create(&parser, cols, ncols, names, names_len,
 *                                 declared_version, vpc_versions,
 *                                 tgw_versions, flags, max_line);
 *
 *    See pse_vpc.h.
 */
int
pse_vpc_parser_create(
    pse_vpc_parser_t  **out,
    const pse_vpc_column_t *cols,
    uint32_t            ncols,
    const uint8_t      *names,
    size_t              names_len,
    int32_t             declared_version,
    uint32_t            vpc_versions,
    uint32_t            tgw_versions,
    uint32_t            flags,
    uint32_t            max_line)
{
    pse_vpc_parser_t *P;
    int rv = PSE_ERR_NOMEM;

    if (!out || !cols || ncols == 0 || ncols > 65535 || max_line == 0
        || (names_len && !names) || names_len > UINT32_MAX)
    {
        return PSE_ERR_ARG;
    }
    *out = NULL;
    P = calloc(1, sizeof(*P));
    if (!P) {
        return PSE_ERR_NOMEM;
    }
    P->ncols = ncols;
    P->version_col = -1;
    P->declared = declared_version;
    P->vpc_versions = vpc_versions;
    P->tgw_versions = tgw_versions;
    P->flags = flags;
    P->max_line = max_line;
    P->cols = malloc(ncols * sizeof(*P->cols));
    P->dst = calloc(ncols, sizeof(*P->dst));
    P->sp_cap = ncols + 2;
    /* slack: the scanners store up to 32 positions past sp_cap */
    P->sp = malloc((P->sp_cap + 48) * sizeof(uint32_t));
#if VPC_HAVE_AVX2
    P->avx2 = !(flags & PSE_VPC_F_BASELINE)
              && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi")
              && __builtin_cpu_supports("popcnt");
#endif
    if (!P->cols || !P->dst || !P->sp) {
        goto fail;
    }
    memcpy(P->cols, cols, ncols * sizeof(*P->cols));
    for (uint32_t c = 0; c < ncols; ++c) {
        const pse_vpc_column_t *col = &P->cols[c];
        if (col->kind > PSE_VPC_KIND_STR
            || (col->kind == PSE_VPC_KIND_ENUM
                && (col->enum_id < 1 || col->enum_id > 4)))
        {
            rv = PSE_ERR_ARG;
            goto fail;
        }
        if (col->kind == PSE_VPC_KIND_INT
            && col->role == PSE_VPC_ROLE_VERSION)
        {
            P->version_col = (int32_t)c;
        }
        if (col->kind != PSE_VPC_KIND_SKIP) {
            if (col->slot != P->nslots[col->kind]) {
                rv = PSE_ERR_ARG;   /* slots must be dense, in order */
                goto fail;
            }
            ++P->nslots[col->kind];
        }
    }
    uint32_t nstr = P->nslots[PSE_VPC_KIND_STR];
    if (nstr) {
        P->str_col = malloc(nstr * sizeof(uint32_t));
        P->str_code = malloc(nstr * sizeof(uint32_t));
        P->str_hash = malloc(nstr * sizeof(uint32_t));
        P->str_key = malloc(nstr * sizeof(vpc_key_t));
        P->str_off = malloc(nstr * sizeof(uint64_t));
        P->str_len = malloc(nstr * sizeof(uint32_t));
        P->dicts = calloc(nstr, sizeof(vpc_dict_t));
        if (!P->str_col || !P->str_code || !P->str_hash || !P->str_key
            || !P->str_off || !P->str_len || !P->dicts)
        {
            goto fail;
        }
        for (uint32_t c = 0; c < ncols; ++c) {
            if (P->cols[c].kind == PSE_VPC_KIND_STR) {
                P->str_col[P->cols[c].slot] = c;
            }
        }
        for (uint32_t k = 0; k < nstr; ++k) {
            if (vpc_dict_init(&P->dicts[k]) != PSE_OK) {
                goto fail;
            }
        }
    }

    /* header names: a copy, split at spaces, in a hash set */
    P->names = malloc(names_len + 1);
    if (!P->names) {
        goto fail;
    }
    if (names_len) {
        memcpy(P->names, names, names_len);
    }
    P->names[names_len] = ' ';
    uint32_t maxnames = (uint32_t)(names_len / 2 + 1);
    P->name_off = malloc(maxnames * sizeof(uint32_t));
    P->name_len = malloc(maxnames * sizeof(uint32_t));
    uint32_t slots = 64;
    while (slots < maxnames * 2) {
        slots *= 2;
    }
    P->name_table = calloc(slots, sizeof(uint32_t));
    if (!P->name_off || !P->name_len || !P->name_table) {
        goto fail;
    }
    P->name_mask = slots - 1;
    for (size_t i = 0; i < names_len;) {
        size_t j = i;
        while (j < names_len && P->names[j] != ' ') {
            ++j;
        }
        if (j > i && !vpc_name_known(P, P->names + i, j - i,
                                     P->names + names_len + 1))
        {
            uint32_t k = P->nnames++;
            uint32_t h = vpc_hash(P->names + i, j - i,
                                  P->names + names_len + 1);
            P->name_off[k] = (uint32_t)i;
            P->name_len[k] = (uint32_t)(j - i);
            h &= P->name_mask;
            while (P->name_table[h]) {
                h = (h + 1) & P->name_mask;
            }
            P->name_table[h] = k + 1;
        }
        i = j + 1;
    }
    *out = P;
    return PSE_OK;

  fail:
    pse_vpc_parser_free(P);
    return rv;
}

/*
 *  pse_vpc_parser_free(parser);
 *
 *    See pse_vpc.h.
 */
void
pse_vpc_parser_free(
    pse_vpc_parser_t   *P)
{
    if (!P) {
        return;
    }
    if (P->dicts) {
        for (uint32_t k = 0; k < P->nslots[PSE_VPC_KIND_STR]; ++k) {
            vpc_dict_destroy(&P->dicts[k]);
        }
    }
    free(P->dicts);
    free(P->str_col);
    free(P->str_code);
    free(P->str_hash);
    free(P->str_key);
    free(P->str_off);
    free(P->str_len);
    free(P->names);
    free(P->name_off);
    free(P->name_len);
    free(P->name_table);
    free(P->cols);
    free(P->dst);
    free(P->sp);
    free(P);
}

/* Append one event (the caller made sure there is room). */
static inline void
vpc_event(
    pse_vpc_out_t      *out,
    uint32_t            code,
    uint64_t            lineno,
    uint64_t            line_off,
    size_t              line_len,
    int32_t             column,
    uint64_t            tok_off,
    size_t              tok_len)
{
    pse_vpc_event_t *ev = &out->events[out->n_events++];
    ev->lineno = lineno;
    ev->line_off = line_off;
    ev->line_len = line_len > UINT32_MAX ? UINT32_MAX : (uint32_t)line_len;
    ev->tok_off = tok_off;
    ev->tok_len = tok_len > UINT32_MAX ? UINT32_MAX : (uint32_t)tok_len;
    ev->column = column;
    ev->code = code;
}

/* Is token [t, t+n) one of the second tokens of a TGW record? */
static int
vpc_is_tgw_resource(
    const uint8_t      *t,
    size_t              n)
{
    return (n == 14 && memcmp(t, "TransitGateway", 14) == 0)
        || (n == 24 && memcmp(t, "TransitGatewayAttachment", 24) == 0);
}

/*
 *  code = vpc_type_token(P, c, t, tn, row, cap, buf, end, fams, &ms);
 *
 *    Type token t[0..tn) as column c of row `row`.  Return 0, or the
 *    event code of the problem.  STR columns only look their value up:
 *    new values are added by vpc_commit_strs once the whole line is good.
 */
static inline uint32_t
vpc_type_token(
    pse_vpc_parser_t   *restrict P,
    uint32_t            c,
    const uint8_t      *t,
    size_t              tn,
    uint64_t            row,
    uint64_t            cap,
    const uint8_t      *buf,
    const uint8_t      *end,
    uint8_t            *restrict fams,
    int                *restrict ms)
{
    const pse_vpc_column_t *col = &P->cols[c];

    switch (col->kind) {
      case PSE_VPC_KIND_INT: {
        int64_t v;
        int r = vpc_parse_int(t, tn, end, &v);
        if (VPC_UNLIKELY(r)) {
            return r == 1 ? PSE_VPC_EV_BAD_INTEGER : PSE_VPC_EV_OUT_OF_RANGE;
        }
        if (v >= 0) {
            if (VPC_UNLIKELY(v < col->lo || v > col->hi)) {
                return PSE_VPC_EV_OUT_OF_RANGE;
            }
            if (col->role == PSE_VPC_ROLE_TIME) {
                if (v > PSE_VPC_SECONDS_MAX) {
                    v /= 1000;
                    *ms = 1;
                }
            } else if (col->role == PSE_VPC_ROLE_VERSION) {
                int known = v < 32 && ((P->vpc_versions >> v) & 1u);
                if (v < 32 && ((P->tgw_versions >> v) & 1u)) {
                    return PSE_VPC_EV_TGW;
                }
                if (v > P->declared && !(P->flags & PSE_VPC_F_FUTURE)) {
                    return known ? PSE_VPC_EV_UNDECLARED_VERSION
                                 : PSE_VPC_EV_UNKNOWN_VERSION;
                }
                if (!known && v <= P->declared) {
                    return PSE_VPC_EV_UNKNOWN_VERSION;
                }
            }
        }
        ((int64_t *)P->dst[c])[row] = v;
        return 0;
      }
      case PSE_VPC_KIND_ADDR: {
        uint8_t *a16 = (uint8_t *)P->dst[c] + row * 16;
        int fam = vpc_parse_addr(t, tn, end, a16);
        if (VPC_UNLIKELY(fam < 0)) {
            return PSE_VPC_EV_BAD_ADDRESS;
        }
        fams[(uint64_t)col->slot * cap + row] = (uint8_t)fam;
        return 0;
      }
      case PSE_VPC_KIND_ENUM: {
        int e = vpc_parse_enum(col->enum_id, t, tn);
        if (VPC_UNLIKELY(e < 0)) {
            return PSE_VPC_EV_BAD_ENUM;
        }
        ((uint8_t *)P->dst[c])[row] = (uint8_t)e;
        return 0;
      }
      case PSE_VPC_KIND_STR: {
        uint32_t slot = col->slot;
        vpc_dict_t *d = &P->dicts[slot];
        uint32_t sc = 0;
        if (tn && !(tn == 1 && t[0] == '-')) {
            vpc_key_t *k = &P->str_key[slot];
            P->str_len[slot] = (uint32_t)tn;
            vpc_key_make(k, t, tn, end);
            if (d->last && d->last_len == tn
                && ((d->last_key.w[0] ^ k->w[0]) | (d->last_key.w[1] ^ k->w[1])
                    | (d->last_key.w[2] ^ k->w[2])
                    | (d->last_key.w[3] ^ k->w[3])) == 0
                && (tn <= 32
                    || vpc_bytes_eq(buf + d->ent[d->last].off + 32, t + 32,
                                    tn - 32, end)))
            {
                sc = d->last;
            } else {
                uint32_t h = vpc_key_hash(k, tn, t, end);
                sc = vpc_dict_find(d, k, h, buf, end, t, tn);
                if (sc == 0) {
                    if (!vpc_utf8_valid(t, tn)) {
                        return PSE_VPC_EV_BAD_UTF8;
                    }
                    sc = UINT32_MAX;    /* added if the line is good */
                    P->str_hash[slot] = h;
                    P->str_off[slot] = (uint64_t)(t - buf);
                }
            }
        }
        P->str_code[slot] = sc;
        return 0;
      }
      default:
        return 0;
    }
}

/*
 *  status = vpc_commit_strs(P, row);
 *
 *    The line is good: add its new string values to the dictionaries and
 *    write every STR column's code of row `row`.
 */
static inline int
vpc_commit_strs(
    pse_vpc_parser_t   *P,
    uint64_t            row)
{
    const uint32_t nstr = P->nslots[PSE_VPC_KIND_STR];

    for (uint32_t k = 0; k < nstr; ++k) {
        uint32_t sc = P->str_code[k];
        if (sc == UINT32_MAX) {
            int rv = vpc_dict_add(&P->dicts[k], &P->str_key[k], P->str_off[k],
                                  P->str_len[k], P->str_hash[k], &sc);
            if (rv != PSE_OK) {
                return rv;
            }
        }
        if (sc && sc != P->dicts[k].last) {
            vpc_dict_t *d = &P->dicts[k];
            d->last = sc;
            d->last_len = (uint32_t)P->str_len[k];
            d->last_key = P->str_key[k];
        }
        ((uint32_t *)P->dst[P->str_col[k]])[row] = sc;
    }
    return PSE_OK;
}

/*
 *  status = pse_vpc_parse(parser, buf, len, out);
 *
 *    See pse_vpc.h.
 */
int
pse_vpc_parse(
    pse_vpc_parser_t   *P,
    const uint8_t      *buf,
    size_t              len,
    pse_vpc_out_t      *out)
{
    if (!P || !out || (len && !buf) || out->pos > len
        || out->rows > out->cap || !out->linenos
        || (out->ev_cap && !out->events) || out->n_events > out->ev_cap)
    {
        return PSE_ERR_ARG;
    }
    const uint64_t cap = out->cap;
    const uint32_t ncols = P->ncols;
    const pse_vpc_column_t *cols = P->cols;
    const uint8_t *end = buf + len;
    uint32_t *sp = P->sp + 1;       /* P->sp[0] is the -1 sentinel */
    const uint32_t sp_cap = P->sp_cap;
    const uint32_t nstr = P->nslots[PSE_VPC_KIND_STR];
    uint64_t pos = out->pos;
    uint64_t row = out->rows;
    uint64_t lineno = out->lineno;
    uint64_t lines = out->lines;
    uint64_t ms_times = out->ms_times;
    int rv = PSE_OK;

    if (out->cap
        && ((P->nslots[PSE_VPC_KIND_INT] && !out->ints)
            || (P->nslots[PSE_VPC_KIND_ADDR] && (!out->addrs || !out->fams))
            || (P->nslots[PSE_VPC_KIND_ENUM] && !out->enums)
            || (nstr && !out->strs)))
    {
        return PSE_ERR_ARG;
    }
    for (uint32_t c = 0; c < ncols; ++c) {
        uint64_t base = (uint64_t)cols[c].slot * cap;
        switch (cols[c].kind) {
          case PSE_VPC_KIND_INT:  P->dst[c] = out->ints + base; break;
          case PSE_VPC_KIND_ADDR: P->dst[c] = out->addrs + base * 16; break;
          case PSE_VPC_KIND_ENUM: P->dst[c] = out->enums + base; break;
          case PSE_VPC_KIND_STR:  P->dst[c] = out->strs + base; break;
          default:                P->dst[c] = NULL; break;
        }
    }
    P->sp[0] = UINT32_MAX;
    out->stop = PSE_VPC_STOP_END;

    while (pos < len) {
        if (row >= cap) {
            out->stop = PSE_VPC_STOP_ROWS;
            break;
        }
        if (out->n_events >= out->ev_cap) {
            out->stop = PSE_VPC_STOP_EVENTS;
            break;
        }
        const uint8_t *s = buf + pos;
        uint32_t nsp;
        int nul = 0, too_long = 0;
        size_t n;
#if VPC_HAVE_AVX2
        if (VPC_LIKELY(P->avx2)) {
            n = vpc_scan_line_avx2(s, end, sp, sp_cap, &nsp, &nul,
                                   P->max_line, &too_long);
        } else
#endif
        {
            n = vpc_scan_line(s, end, sp, sp_cap, &nsp, &nul, P->max_line,
                              &too_long);
        }
        const uint64_t line_off = pos;
        const uint64_t this_line = lineno;
        pos += n + (pos + n < len);     /* skip the newline if any */
        ++lineno;
        ++lines;
        if (n && s[n - 1] == '\r') {
            --n;
        }
        if (VPC_UNLIKELY(too_long)) {
            vpc_event(out, PSE_VPC_EV_LINE_TOO_LONG, this_line, line_off, n,
                      -1, 0, 0);
            continue;
        }
        if (VPC_UNLIKELY(n == 0)) {
            continue;
        }
        if (VPC_UNLIKELY(nul)) {
            vpc_event(out, PSE_VPC_EV_NUL_BYTE, this_line, line_off, n,
                      -1, 0, 0);
            continue;
        }
        if (VPC_UNLIKELY((unsigned)s[0] - 'a' < 26u)) {
            if (vpc_is_header(P, s, n, end)) {
                vpc_event(out, PSE_VPC_EV_HEADER, this_line, line_off, n,
                          -1, 0, 0);
                out->stop = PSE_VPC_STOP_HEADER;
                break;
            }
        }
        if (P->flags & PSE_VPC_F_TGW) {
            vpc_event(out, PSE_VPC_EV_TGW, this_line, line_off, n, -1, 0, 0);
            continue;
        }
        if (VPC_UNLIKELY(nsp + 1 != ncols)) {
            /* a TGW record in a VPC stream? (2nd token, or version 6) */
            uint32_t code = PSE_VPC_EV_FIELD_COUNT;
            if (nsp >= 1) {
                size_t a = sp[0] + 1, b = nsp >= 2 ? sp[1] : n;
                if (vpc_is_tgw_resource(s + a, b - a)) {
                    code = PSE_VPC_EV_TGW;
                }
            }
            int32_t vc = P->version_col;
            if (vc >= 0 && (uint32_t)vc <= nsp && (uint32_t)vc < sp_cap) {
                size_t a = (uint32_t)(P->sp[vc] + 1u);
                size_t b = (uint32_t)vc < nsp ? sp[vc] : n;
                int64_t v;
                if (vpc_parse_int(s + a, b - a, end, &v) == 0 && v >= 0
                    && v < 32
                    && (P->tgw_versions >> v) & 1u)
                {
                    code = PSE_VPC_EV_TGW;
                }
            }
            vpc_event(out, code, this_line, line_off, n, -1, 0, 0);
            continue;
        }
        sp[nsp] = (uint32_t)n;

        /* type every token */
        uint32_t code = 0;
        uint32_t c;
        int ms = 0;
        size_t ta = 0, tn = 0;
        for (c = 0; c < ncols; ++c) {
            ta = (size_t)(uint32_t)(P->sp[c] + 1u);
            tn = sp[c] - ta;
            code = vpc_type_token(P, c, s + ta, tn, row, cap, buf, end,
                                  out->fams, &ms);
            if (VPC_UNLIKELY(code)) {
                goto bad;
            }
        }
        /* the line is good: commit new strings, then the row */
        rv = vpc_commit_strs(P, row);
        if (rv != PSE_OK) {
            goto done;
        }
        ms_times += (uint64_t)ms;
        out->linenos[row] = this_line;
        ++row;
        continue;

      bad:
        vpc_event(out, code, this_line, line_off, n, (int32_t)c,
                  line_off + ta, tn);
    }

  done:
    out->pos = pos;
    out->rows = row;
    out->lineno = lineno;
    out->lines = lines;
    out->ms_times = ms_times;
    return rv;
}

/*
 *  pse_vpc_dict_reset(parser);
 *
 *    See pse_vpc.h.
 */
void
pse_vpc_dict_reset(
    pse_vpc_parser_t   *P)
{
    if (!P) {
        return;
    }
    for (uint32_t k = 0; k < P->nslots[PSE_VPC_KIND_STR]; ++k) {
        vpc_dict_clear(&P->dicts[k]);
    }
}

/*
 *  count = pse_vpc_dict_size(parser, slot);
 *
 *    See pse_vpc.h.
 */
uint32_t
pse_vpc_dict_size(
    const pse_vpc_parser_t *P,
    uint32_t            slot)
{
    if (!P || slot >= P->nslots[PSE_VPC_KIND_STR]) {
        return 0;
    }
    return P->dicts[slot].count;
}

/*
 *  status = pse_vpc_dict_export(parser, slot, offs, lens, cap);
 *
 *    See pse_vpc.h.
 */
int
pse_vpc_dict_export(
    const pse_vpc_parser_t *P,
    uint32_t            slot,
    uint64_t           *offs,
    uint32_t           *lens,
    uint32_t            cap)
{
    if (!P || slot >= P->nslots[PSE_VPC_KIND_STR] || !offs || !lens) {
        return PSE_ERR_ARG;
    }
    const vpc_dict_t *d = &P->dicts[slot];
    if (cap < d->count) {
        return PSE_ERR_BUFFER;
    }
    offs[0] = 0;
    lens[0] = 0;
    for (uint32_t c = 1; c < d->count; ++c) {
        offs[c] = d->ent[c].off;
        lens[c] = d->ent[c].len;
    }
    return PSE_OK;
}

/*
 *  status = pse_vpc_dict_join(parser, slot, buf, len, dst, cap, &needed);
 *
 *    See pse_vpc.h.
 */
int
pse_vpc_dict_join(
    const pse_vpc_parser_t *P,
    uint32_t            slot,
    const uint8_t      *buf,
    size_t              len,
    uint8_t            *dst,
    size_t              cap,
    size_t             *needed)
{
    if (!P || slot >= P->nslots[PSE_VPC_KIND_STR] || !needed
        || (len && !buf))
    {
        return PSE_ERR_ARG;
    }
    const vpc_dict_t *d = &P->dicts[slot];
    size_t total = 0;
    for (uint32_t c = 1; c < d->count; ++c) {
        if (d->ent[c].off + d->ent[c].len > len) {
            return PSE_ERR_ARG;     /* not the buffer of this batch */
        }
        total += d->ent[c].len + (c > 1);
    }
    *needed = total;
    if (cap < total || (total && !dst)) {
        return PSE_ERR_BUFFER;
    }
    for (uint32_t c = 1; c < d->count; ++c) {
        if (c > 1) {
            *dst++ = '\n';
        }
        memcpy(dst, buf + d->ent[c].off, d->ent[c].len);
        dst += d->ent[c].len;
    }
    return PSE_OK;
}

/*
 *  n = pse_vpc_count_lines(buf, len);
 *
 *    See pse_vpc.h.
 */
uint64_t
pse_vpc_count_lines(
    const uint8_t      *buf,
    size_t              len)
{
    uint64_t n = 0;
    const uint8_t *p = buf, *end = buf + len;

    if (!buf || len == 0) {
        return 0;
    }
    while (p < end) {
        const uint8_t *q = memchr(p, '\n', (size_t)(end - p));
        if (!q) {
            return n + 1;
        }
        ++n;
        p = q + 1;
    }
    return n;
}

/*
 *  nbad = pse_vpc_parse_addrs(buf, len, n, addrs, fams, bad);
 *
 *    See pse_vpc.h.
 */
uint64_t
pse_vpc_parse_addrs(
    const uint8_t      *buf,
    size_t              len,
    uint64_t            n,
    uint8_t            *addrs,
    uint8_t            *fams,
    uint8_t            *bad)
{
    const uint8_t *p = buf, *end = buf + len;
    uint64_t nbad = 0;

    if ((n && (!addrs || !fams || !bad)) || (len && !buf)) {
        return UINT64_MAX;
    }
    for (uint64_t i = 0; i < n; ++i) {
        if (p > end) {
            return UINT64_MAX;
        }
        const uint8_t *q = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        size_t tn = (size_t)((q ? q : end) - p);
        if (tn && p[tn - 1] == '\r') {
            --tn;
        }
        int fam = tn == 0 ? 0 : vpc_parse_addr(p, tn, end, addrs + i * 16);
        if (tn == 0) {
            memset(addrs + i * 16, 0, 16);
        }
        bad[i] = fam < 0;
        if (fam < 0) {
            memset(addrs + i * 16, 0, 16);
            fam = 0;
            ++nbad;
        }
        fams[i] = (uint8_t)fam;
        p = q ? q + 1 : end + 1;
    }
    return nbad;
}
