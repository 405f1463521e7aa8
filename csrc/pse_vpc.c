/* SPDX-License-Identifier: MIT */
/*
 *  pse_vpc.c -- batch tokeniser of AWS VPC Flow Log text (module
 *  pysilk_ext._vpc).
 *
 *  Hot path, per line: one SIMD pass finds the newline, every space and
 *  any NUL byte; then each token is typed by its column's kind:
 *  branch-free SWAR digit conversion (no strtol, no locale; "-" costs no
 *  mispredicted branch), IPv4 by a table of the 81 dotted-quad shapes
 *  (one shuffle and a few lane-parallel checks), enumerations by one
 *  masked word compare, and per string column a dictionary that lives as
 *  long as the handle (see "string dictionaries"): the previous value is
 *  checked first, then an open-addressing table; keys are the first 32
 *  bytes, compared as one vector.  Nothing is allocated per line; a bad
 *  line costs one event and leaves no trace in the columns (its row is
 *  simply reused) nor in the dictionaries.
 *
 *  The line loop is compiled three times from one always-inline body:
 *  portable (SSE2), AVX2 (+BMI2; scanner with a table of bit positions,
 *  SIMD IPv4 and keys), and AVX2 + an AVX-512 VBMI2 scanner (one byte
 *  compress per 64 bytes); pse_vpc_parse picks by CPU at handle
 *  creation.  Tests run all three on the same input.
 *
 *  v5 (29 fields, 250 bytes a line), ns per line on the EPYC (Zen 4)
 *  this was tuned on: 180 before this layout, 105 now (AVX2 path 119,
 *  portable 193).  What each change gave, and what did not help:
 *    - SIMD IPv4 shapes instead of per-octet code: about -30
 *      (addresses were the largest part: 4 per line);
 *    - keys as one AVX2 vector (made, compared, hashed from registers;
 *      no store-to-load of 4 words): -17; the hit test inlined, the
 *      lookup out of line: -12;
 *    - AVX-512 VBMI2 scanner: -7; AVX2 scanner by table instead of a
 *      tzcnt/blsr chain: -8 on that path;
 *    - branch-free integers and one-word enumerations: -5;
 *    - dictionaries kept across calls: little here, but Python no
 *      longer decodes every distinct value of every batch;
 *    - no gain or slower: finding each token's end as it is typed (a
 *      serial latency chain from token to token), typing columns
 *      grouped by kind (+10 to +14), keys stored in the hash-table
 *      slots, a dispatch replicated per kind (a switch after each kind),
 *      hashing every string instead of checking the previous value
 *      first (+18), a CRC32 hash (-3, within noise; weaker).
 */
#include "pse_vpc.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The AVX2 and AVX-512 instantiations are compiled beside the portable
 * one (by target attribute, so the module still loads on any x86-64)
 * and chosen at run time by what the CPU has. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__SSE2__)
#define VPC_HAVE_AVX2 1
#include <immintrin.h>
#else
#define VPC_HAVE_AVX2 0
#endif

#define VPC_DICT_INIT_SLOTS 1024u
#define VPC_DICT_INIT_CAP   256u
#define VPC_ARENA_INIT      4096u
#define VPC_ARENA_SLACK     8u      /* readable bytes past the arena */

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
 * four words (or one AVX2 vector), so that most ids (eni-, i-, subnet-,
 * vpc-, account ids, regions) are verified without a byte loop. */
typedef struct vpc_key_st {
    uint64_t            w[4];
} vpc_key_t;

/* One distinct value of a STR column (gid = index); 64 bytes. */
typedef struct vpc_entry_st {
    vpc_key_t           key;
    uint64_t            off;        /* offset of its bytes in the arena */
    uint32_t            len;
    uint32_t            hash;
    uint32_t            stamp;      /* batch in which `local` is valid */
    uint32_t            local;      /* its code in that batch */
    uint32_t            uid;        /* its number among all columns' values */
    uint32_t            reserved;
} vpc_entry_t;

/* String dictionary of one STR column (see "string dictionaries"). */
typedef struct vpc_dict_st {
    uint64_t           *table;      /* hash << 32 | gid; 0 = empty */
    uint32_t            mask;
    uint32_t            count;      /* gids in use, gid 0 (missing) included */
    uint32_t            cap;        /* entries allocated */
    uint32_t            stamp;      /* current batch */
    vpc_entry_t        *ent;
    uint8_t            *arena;      /* the values' bytes */
    uint64_t            arena_len;
    uint64_t            arena_cap;  /* (VPC_ARENA_SLACK more allocated) */
    uint32_t           *locals;     /* gid of each local code, [0] = 0 */
    uint32_t            nlocal;     /* local codes given, 0 included */
    uint32_t            locals_cap;
    uint32_t            last_gid;   /* value of the previous use, or 0 */
    uint32_t            last_local;
    uint32_t            last_len;   /* 0: no previous value */
    uint32_t            reserved;
    vpc_key_t           last_key;   /* its key: checked without a lookup */
} vpc_dict_t;

/* A value new to its dictionary, added if its line is good. */
typedef struct vpc_pending_st {
    vpc_key_t           key;
    uint64_t            off;        /* in the input buffer */
    uint32_t            len;
    uint32_t            hash;
} vpc_pending_t;

/* One dotted-quad shape of the SIMD IPv4 parser; 32 bytes. */
typedef struct vpc_ip4_shape_st {
    uint8_t             shuf[16];   /* digits -> "h t o 0" lanes */
    uint16_t            pat;        /* bits of the dots and of the end */
    uint16_t            lead;       /* lanes of a first digit of 2-3 */
    uint8_t             reserved[12];
} vpc_ip4_shape_t;

#define VPC_IP4_SLOTS       256u
#define VPC_IP4_MULT        0xc08f7855u /* 81 shapes -> 81 slots (searched) */

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
    int                 avx2;           /* use the AVX2 instantiation */
    vpc_ip4_shape_t    *ip4tab;         /* VPC_IP4_SLOTS shapes (AVX2) */
    uint64_t            enum_words[5][3];   /* words as little-endian */
    uint8_t            *bitpos;         /* [256][8]: set bits of a byte */
    /* STR columns: dictionaries and the current line's changes */
    vpc_dict_t         *dicts;
    vpc_pending_t      *pend;           /* per slot */
    uint32_t           *pend_slots;     /* slots with a pending value */
    uint32_t            npend;
    uint32_t           *undo;           /* slots given a local code */
    uint32_t            nundo;
    /* every STR column's values numbered together ("uids"), 0 = none */
    uint64_t           *uids;           /* slot << 32 | gid of each uid */
    uint32_t            nuid;
    uint32_t            uid_cap;
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
 *  v = vpc_swar8(w, n, &ok);
 *
 *    w holds n (1..8) ASCII bytes in memory order (the rest of w is
 *    garbage).  Return their decimal value and set *ok when they are
 *    all digits (the value is garbage otherwise).  No branch on the
 *    data: the digits are right-aligned, padded with '0', checked and
 *    converted with three multiplications.
 */
static inline uint64_t
vpc_swar8(
    uint64_t            w,
    size_t              n,
    int                *ok)
{
    unsigned pad = (unsigned)(8 - n) * 8;     /* 0..56 */
    w = (w << pad) | (0x3030303030303030ULL & ((1ULL << pad) - 1));
    *ok = ((w & 0xf0f0f0f0f0f0f0f0ULL)
           | (((w + 0x0606060606060606ULL) & 0xf0f0f0f0f0f0f0f0ULL) >> 4))
          == 0x3333333333333333ULL;
    w = (w & 0x0f0f0f0f0f0f0f0fULL) * 2561 >> 8;
    w = (w & 0x00ff00ff00ff00ffULL) * 6553601 >> 16;
    w = (w & 0x0000ffff0000ffffULL) * 42949672960001ULL >> 32;
    return w;
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
    if (VPC_LIKELY(n - 1 < 8 && end - t >= 8)) {
        /* no branch on the data: "-" (missing) is as frequent as a
         * number in some columns */
        uint64_t w = vpc_load64(t);
        int ok;
        v = vpc_swar8(w, n, &ok);
        int dash = (n == 1) & ((uint8_t)w == '-');
        *out = ok ? (int64_t)v : -1;
        return !(ok | dash);
    }
    if (VPC_LIKELY(n - 9 < 8 && end - t >= 8)) {
        /* 9 to 16 digits (start, end): two words */
        int ok_hi, ok_lo;
        v = vpc_swar8(vpc_load64(t), n - 8, &ok_hi);
        uint64_t lo = vpc_swar8(vpc_load64(t + n - 8), 8, &ok_lo);
        *out = (int64_t)(v * 100000000u + lo);
        return !(ok_hi & ok_lo);
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
 *  code = vpc_parse_enum_word(words, t, n, end);
 *
 *    The exact AWS spelling of an enumeration word (all are 2-8 bytes)
 *    as one masked word compared with the enumeration's three words, so
 *    that alternating values (ingress/egress) cost no mispredicted
 *    branch.  Return the code, or 0 for anything else ("-", other letter
 *    case, bad values: the caller then asks vpc_parse_enum).
 */
static inline int
vpc_parse_enum_word(
    const uint64_t     *words,
    const uint8_t      *t,
    size_t              n,
    const uint8_t      *end)
{
    if (!VPC_LITTLE_ENDIAN || n - 1 >= 8 || end - t < 8) {
        return 0;
    }
    uint64_t w = vpc_load64(t) & (~0ULL >> (64 - 8 * n));
    return (w == words[0]) | ((w == words[1]) << 1) | ((w == words[2]) * 3);
}

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
 *  Each STR column interns its values in a dictionary that lives as
 *  long as the parser handle: global codes ("gids", 1..count-1) index
 *  entries whose bytes are copied into the dictionary's arena, so the
 *  input buffer may go away after each call.  Rows do not carry gids:
 *  every batch (pse_vpc_dict_begin) numbers the values it uses afresh,
 *  1, 2, ... in order of first use ("local" codes, kept in the entry
 *  under the batch's stamp), so that a batch's value list stays as small
 *  as the batch whatever the dictionary has seen before.
 *
 *  A line adds nothing until it is known to be good: values not yet in
 *  the dictionary wait in the per-slot pending fields, and local codes
 *  given out on the line are logged in P->undo and taken back when the
 *  line turns out bad.
 */

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

static inline int
vpc_key_eq(
    const vpc_key_t    *a,
    const vpc_key_t    *b)
{
    return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1])
            | (a->w[2] ^ b->w[2]) | (a->w[3] ^ b->w[3])) == 0;
}

/*
 *  same = vpc_tail_eq(a, b, n);
 *
 *    Compare the n bytes at a and b (both fully readable) with word
 *    loads; for the bytes of a string beyond its 32-byte key.
 */
static inline int
vpc_tail_eq(
    const uint8_t      *a,
    const uint8_t      *b,
    size_t              n)
{
    if (n < 8) {
        return memcmp(a, b, n) == 0;
    }
    for (size_t i = 0; i + 8 < n; i += 8) {
        if (vpc_load64(a + i) != vpc_load64(b + i)) {
            return 0;
        }
    }
    return vpc_load64(a + n - 8) == vpc_load64(b + n - 8);
}

/*
 *  h = vpc_key_hash(&key, n, t, end);
 *
 *    Hash a string from its key (and the bytes beyond 32, if any).
 */
static inline uint32_t
vpc_key_hash_words(
    uint64_t            w0,
    uint64_t            w1,
    uint64_t            w2,
    uint64_t            w3,
    size_t              n,
    const uint8_t      *t,
    const uint8_t      *end)
{
    uint64_t a = w0 ^ 0x9e3779b97f4a7c15ULL;
    uint64_t b = w1 ^ 0xc2b2ae3d27d4eb4fULL;
    uint64_t c = w2 ^ 0x165667b19e3779f9ULL;
    uint64_t d = w3 ^ 0x27d4eb2f165667c5ULL ^ (uint64_t)n;
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

static inline uint32_t
vpc_key_hash(
    const vpc_key_t    *k,
    size_t              n,
    const uint8_t      *t,
    const uint8_t      *end)
{
    return vpc_key_hash_words(k->w[0], k->w[1], k->w[2], k->w[3], n, t, end);
}

static int
vpc_dict_init(
    vpc_dict_t         *d)
{
    memset(d, 0, sizeof(*d));
    d->table = calloc(VPC_DICT_INIT_SLOTS, sizeof(uint64_t));
    d->ent = calloc(VPC_DICT_INIT_CAP, sizeof(vpc_entry_t));
    d->locals = malloc(VPC_DICT_INIT_CAP * sizeof(uint32_t));
    d->arena = malloc(VPC_ARENA_INIT + VPC_ARENA_SLACK);
    if (!d->table || !d->ent || !d->locals || !d->arena) {
        return PSE_ERR_NOMEM;
    }
    d->mask = VPC_DICT_INIT_SLOTS - 1;
    d->cap = VPC_DICT_INIT_CAP;
    d->count = 1;
    d->locals_cap = VPC_DICT_INIT_CAP;
    d->arena_cap = VPC_ARENA_INIT;
    d->stamp = 1;
    d->nlocal = 1;
    d->locals[0] = 0;
    return PSE_OK;
}

static void
vpc_dict_destroy(
    vpc_dict_t         *d)
{
    free(d->table);
    free(d->ent);
    free(d->locals);
    free(d->arena);
}

/* Start a batch: no value has a local code yet. */
static void
vpc_dict_begin(
    vpc_dict_t         *d)
{
    if (++d->stamp == 0) {
        /* 2^32 batches later: old stamps could match again */
        for (uint32_t g = 0; g < d->count; ++g) {
            d->ent[g].stamp = 0;
        }
        d->stamp = 1;
    }
    d->nlocal = 1;
    d->last_gid = 0;
    d->last_len = 0;            /* no token of length 0 gets here */
}

/* Forget every value. */
static void
vpc_dict_clear(
    vpc_dict_t         *d)
{
    memset(d->table, 0, ((size_t)d->mask + 1) * sizeof(uint64_t));
    d->count = 1;
    d->arena_len = 0;
    vpc_dict_begin(d);
}

/*
 *  gid = vpc_dict_find(d, &key, h, t, n);
 *
 *    Return the gid of the n bytes at t (key k, hash h), 0 if absent.
 */
static inline uint32_t
vpc_dict_find(
    const vpc_dict_t   *d,
    const vpc_key_t    *k,
    uint32_t            h,
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
            uint32_t g = (uint32_t)slot;
            const vpc_entry_t *e = &d->ent[g];
            if (e->len == n && vpc_key_eq(&e->key, k)
                && (n <= 32
                    || vpc_tail_eq(d->arena + e->off + 32, t + 32, n - 32)))
            {
                return g;
            }
        }
        i = (i + 1) & d->mask;
    }
}

/*
 *  status = vpc_dict_add(d, &key, t, n, h, &gid);
 *
 *    Append a value known to be absent (copying its bytes), growing the
 *    table at half load.
 */
static int
vpc_dict_add(
    vpc_dict_t         *d,
    const vpc_key_t    *k,
    const uint8_t      *t,
    uint32_t            n,
    uint32_t            h,
    uint32_t           *gid)
{
    uint32_t g = d->count;

    if (g >= UINT32_MAX / 2) {
        return PSE_ERR_RANGE;
    }
    if (g >= d->cap) {
        uint32_t cap = d->cap * 2;
        vpc_entry_t *ent = realloc(d->ent, (size_t)cap * sizeof(*ent));
        if (!ent) {
            return PSE_ERR_NOMEM;
        }
        d->ent = ent;
        d->cap = cap;
    }
    if (d->arena_len + n > d->arena_cap) {
        uint64_t cap = d->arena_cap * 2;
        while (cap < d->arena_len + n) {
            cap *= 2;
        }
        uint8_t *arena = realloc(d->arena, (size_t)(cap + VPC_ARENA_SLACK));
        if (!arena) {
            return PSE_ERR_NOMEM;
        }
        d->arena = arena;
        d->arena_cap = cap;
    }
    if ((uint64_t)(g + 1) * 2 > (uint64_t)d->mask + 1) {
        uint32_t mask = d->mask * 2 + 1;
        uint64_t *table = calloc((size_t)mask + 1, sizeof(uint64_t));
        if (!table) {
            return PSE_ERR_NOMEM;
        }
        for (uint32_t j = 1; j < g; ++j) {
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
    vpc_entry_t *e = &d->ent[g];
    e->key = *k;
    e->off = d->arena_len;
    e->len = n;
    e->hash = h;
    e->stamp = 0;
    e->local = 0;
    memcpy(d->arena + d->arena_len, t, n);
    d->arena_len += n;
    uint32_t i = h & d->mask;
    while (d->table[i]) {
        i = (i + 1) & d->mask;
    }
    d->table[i] = ((uint64_t)h << 32) | g;
    d->count = g + 1;
    *gid = g;
    return PSE_OK;
}

/*
 *  status = vpc_dict_local(d, gid, &code, &fresh);
 *
 *    Return the local code of gid in the current batch, giving it the
 *    next one (and setting *fresh) when the batch has not used it yet.
 */
static inline int
vpc_dict_local(
    vpc_dict_t         *d,
    uint32_t            g,
    uint32_t           *code,
    int                *fresh)
{
    vpc_entry_t *e = &d->ent[g];

    if (VPC_LIKELY(e->stamp == d->stamp)) {
        *code = e->local;
        return PSE_OK;
    }
    if (VPC_UNLIKELY(d->nlocal >= d->locals_cap)) {
        uint32_t cap = d->locals_cap * 2;
        uint32_t *locals = realloc(d->locals, (size_t)cap * sizeof(uint32_t));
        if (!locals) {
            return PSE_ERR_NOMEM;
        }
        d->locals = locals;
        d->locals_cap = cap;
    }
    e->stamp = d->stamp;
    e->local = d->nlocal;
    d->locals[d->nlocal++] = g;
    *code = e->local;
    *fresh = 1;
    return PSE_OK;
}

static inline int
vpc_str_found(
    pse_vpc_parser_t   *restrict P,
    uint32_t            slot,
    uint32_t            g,
    const uint8_t      *t,
    size_t              n,
    const vpc_key_t    *k,
    uint32_t            h,
    const uint8_t      *buf,
    uint32_t           *dst);

/*
 *  r = vpc_str_token(P, slot, t, n, &key, buf, end, dst);
 *
 *    Code STR token t[0..n) (its key already made) of column `slot`
 *    into *dst.  Return 0; PSE_VPC_EV_BAD_UTF8 for a new value that is
 *    not UTF-8; -1 when out of memory.  A new value is left pending
 *    (*dst is then written by vpc_line_commit).
 */
static inline int
vpc_str_token(
    pse_vpc_parser_t   *restrict P,
    uint32_t            slot,
    const uint8_t      *t,
    size_t              n,
    const vpc_key_t    *k,
    const uint8_t      *buf,
    const uint8_t      *end,
    uint32_t           *dst)
{
    vpc_dict_t *d = &P->dicts[slot];

    if (d->last_len == n && vpc_key_eq(&d->last_key, k)
        && (n <= 32
            || vpc_tail_eq(d->arena + d->ent[d->last_gid].off + 32, t + 32,
                           n - 32)))
    {
        *dst = d->last_local;
        return 0;
    }
    uint32_t h = vpc_key_hash(k, n, t, end);
    return vpc_str_found(P, slot, vpc_dict_find(d, k, h, t, n), t, n, k, h,
                         buf, dst);
}

/*
 *  r = vpc_str_found(P, slot, gid, t, n, &key, h, buf, dst);
 *
 *    The rest of vpc_str_token once the dictionary was searched (gid 0:
 *    not found).
 */
static inline int
vpc_str_found(
    pse_vpc_parser_t   *restrict P,
    uint32_t            slot,
    uint32_t            g,
    const uint8_t      *t,
    size_t              n,
    const vpc_key_t    *k,
    uint32_t            h,
    const uint8_t      *buf,
    uint32_t           *dst)
{
    vpc_dict_t *d = &P->dicts[slot];

    if (VPC_UNLIKELY(g == 0)) {
        if (!vpc_utf8_valid(t, n)) {
            return PSE_VPC_EV_BAD_UTF8;
        }
        vpc_pending_t *p = &P->pend[slot];
        p->key = *k;
        p->off = (uint64_t)(t - buf);
        p->len = (uint32_t)n;
        p->hash = h;
        P->pend_slots[P->npend++] = slot;
        return 0;
    }
    int fresh = 0;
    uint32_t code;
    if (VPC_UNLIKELY(vpc_dict_local(d, g, &code, &fresh) != PSE_OK)) {
        return -1;
    }
    if (fresh) {
        P->undo[P->nundo++] = slot;
    }
    d->last_gid = g;
    d->last_local = code;
    d->last_len = (uint32_t)n;
    d->last_key = *k;
    *dst = code;
    return 0;
}

/*
 *  vpc_line_rollback(P);
 *
 *    The line is bad: take back the local codes it gave out and drop its
 *    pending values.
 */
static void
vpc_line_rollback(
    pse_vpc_parser_t   *P)
{
    for (uint32_t i = 0; i < P->nundo; ++i) {
        vpc_dict_t *d = &P->dicts[P->undo[i]];
        uint32_t g = d->locals[--d->nlocal];
        d->ent[g].stamp = 0;
        d->last_gid = 0;
        d->last_len = 0;
    }
    P->nundo = 0;
    P->npend = 0;
}

/*
 *  status = vpc_line_commit(P, buf, strs, cap, row);
 *
 *    The line is good: add its pending values to their dictionaries and
 *    write their codes into row `row`.
 */
static int
vpc_line_commit(
    pse_vpc_parser_t   *P,
    const uint8_t      *buf,
    uint32_t           *strs,
    uint64_t            cap,
    uint64_t            row)
{
    P->nundo = 0;
    for (uint32_t i = 0; i < P->npend; ++i) {
        uint32_t slot = P->pend_slots[i];
        vpc_dict_t *d = &P->dicts[slot];
        const vpc_pending_t *p = &P->pend[slot];
        uint32_t g, code;
        int fresh = 0;
        int rv = PSE_OK;
        if (P->nuid >= P->uid_cap) {
            uint32_t cap = P->uid_cap * 2;
            uint64_t *uids = realloc(P->uids, (size_t)cap * sizeof(uint64_t));
            if (uids) {
                P->uids = uids;
                P->uid_cap = cap;
            } else {
                rv = PSE_ERR_NOMEM;
            }
        }
        if (rv == PSE_OK) {
            rv = vpc_dict_add(d, &p->key, buf + p->off, p->len, p->hash, &g);
        }
        if (rv == PSE_OK) {
            d->ent[g].uid = P->nuid;
            P->uids[P->nuid++] = ((uint64_t)slot << 32) | g;
            rv = vpc_dict_local(d, g, &code, &fresh);
        }
        if (rv != PSE_OK) {
            P->npend = 0;
            return rv;
        }
        d->last_gid = g;
        d->last_local = code;
        d->last_len = p->len;
        d->last_key = p->key;
        strs[(uint64_t)slot * cap + row] = code;
    }
    P->npend = 0;
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
    const uint8_t      *bitpos,
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
            /* each byte of the mask: its bits' positions from a table,
             * widened and stored as 8 words (no bit-by-bit chain) */
            uint32_t *w = sp + nsp;
            for (unsigned b = 0; b < 4; ++b) {
                unsigned byte = (msp >> (8 * b)) & 0xffu;
                __m128i pos8 = _mm_loadl_epi64(
                    (const __m128i *)(const void *)(bitpos + 8 * byte));
                _mm256_storeu_si256(
                    (__m256i *)(void *)w,
                    _mm256_add_epi32(_mm256_cvtepu8_epi32(pos8),
                                     _mm256_set1_epi32((int)(off + 8 * b))));
                w += _mm_popcnt_u32(byte);
            }
            nsp += (uint32_t)_mm_popcnt_u32(msp);
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

#if VPC_HAVE_AVX2
#define VPC_AVX512_TARGET \
    __attribute__((target("avx2,bmi,bmi2,popcnt,avx512f,avx512bw,avx512vbmi2")))

/*
 *  len = vpc_scan_line_avx512(s, end, sp, sp_cap, &nsp, &nul, max_line,
 *                             &long);
 *
 *    vpc_scan_line with 64-byte blocks whose space positions come out of
 *    one byte compress (VBMI2) instead of a bit-by-bit loop; the last
 *    block is a masked load (no copy).
 */
VPC_AVX512_TARGET
static inline size_t
vpc_scan_line_avx512(
    const uint8_t      *s,
    const uint8_t      *end,
    uint32_t           *sp,
    uint32_t            sp_cap,
    uint32_t           *nsp_out,
    int                *nul_out,
    size_t              max_line,
    int                *too_long)
{
    const __m512i vnl = _mm512_set1_epi8('\n');
    const __m512i vsp = _mm512_set1_epi8(' ');
    const __m512i iota = _mm512_set_epi8(
        63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48,
        47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32,
        31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
        15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    size_t off = 0;
    uint32_t nsp = 0;
    uint64_t nul = 0;

    for (;;) {
        const uint8_t *p = s + off;
        __m512i v;
        if (VPC_LIKELY(end - p >= 64)) {
            v = _mm512_loadu_si512((const void *)p);
        } else {
            /* bytes past the end read as newlines */
            v = _mm512_mask_loadu_epi8(vnl, _bzhi_u64(~0ULL,
                                                      (unsigned)(end - p)),
                                       (const void *)p);
        }
        uint64_t mnl = _mm512_cmpeq_epi8_mask(v, vnl);
        uint64_t msp = _mm512_cmpeq_epi8_mask(v, vsp);
        uint64_t mz = _mm512_testn_epi8_mask(v, v);
        if (mnl) {
            uint64_t below = _blsmsk_u64(mnl) >> 1;
            msp &= below;
            mz &= below;
        }
        nul |= mz;
        uint32_t cnt = (uint32_t)_mm_popcnt_u64(msp);
        if (VPC_LIKELY(nsp < sp_cap)) {
            __m512i pos = _mm512_maskz_compress_epi8(msp, iota);
            __m512i base = _mm512_set1_epi32((int)off);
            uint32_t *w = sp + nsp;
            _mm512_storeu_si512((void *)w, _mm512_add_epi32(
                _mm512_cvtepu8_epi32(_mm512_castsi512_si128(pos)), base));
            if (VPC_UNLIKELY(cnt > 16)) {
                for (uint32_t k = 1; k < 4 && 16 * k < cnt; ++k) {
                    __m128i part = k == 1 ? _mm512_extracti32x4_epi32(pos, 1)
                                 : k == 2 ? _mm512_extracti32x4_epi32(pos, 2)
                                          : _mm512_extracti32x4_epi32(pos, 3);
                    _mm512_storeu_si512((void *)(w + 16 * k), _mm512_add_epi32(
                        _mm512_cvtepu8_epi32(part), base));
                }
            }
        }
        nsp += cnt;
        if (mnl) {
            off += (size_t)_tzcnt_u64(mnl);
            break;
        }
        off += 64;
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
/*  AVX2 helpers (compiled by target attribute, chosen at run time)    */
/* ------------------------------------------------------------------ */

#if VPC_HAVE_AVX2
#define VPC_AVX2_TARGET __attribute__((target("avx2,bmi,bmi2,popcnt")))

/*
 *  vpc_ip4_table_init(tab);
 *
 *    Fill the table of the 81 dotted-quad shapes (each octet 1-3
 *    digits).  A shape is the bit set of its three dots and of the end
 *    (bit n); VPC_IP4_MULT hashes the 81 of them to distinct slots of
 *    256.  Each slot holds the byte shuffle that puts every octet's
 *    digits right-aligned in three of four lanes ("h t o 0"), and the
 *    lanes holding a first digit of 2-3 (which must not be 0).
 */
static void
vpc_ip4_table_init(
    vpc_ip4_shape_t    *tab)
{
    memset(tab, 0, VPC_IP4_SLOTS * sizeof(*tab));
    for (unsigned shape = 0; shape < 81; ++shape) {
        unsigned len[4] = {shape / 27 + 1, shape / 9 % 3 + 1,
                           shape / 3 % 3 + 1, shape % 3 + 1};
        unsigned at = 0, pat = 0, lead = 0;
        uint8_t shuf[16];
        memset(shuf, 0x80, sizeof(shuf));
        for (unsigned k = 0; k < 4; ++k) {
            unsigned lane = 4 * k + 3 - len[k];
            for (unsigned j = 0; j < len[k]; ++j) {
                shuf[lane + j] = (uint8_t)(at + j);
            }
            if (len[k] > 1) {
                lead |= 1u << lane;
            }
            at += len[k];
            pat |= 1u << at;    /* a dot, or the end after octet 4 */
            ++at;
        }
        vpc_ip4_shape_t *e = &tab[(uint32_t)(pat * VPC_IP4_MULT) >> 24];
        memcpy(e->shuf, shuf, 16);
        e->pat = (uint16_t)pat;
        e->lead = (uint16_t)lead;
    }
}

/*
 *  ok = vpc_parse_ip4_simd(tab, t, n, &ip);
 *
 *    Dotted quad of 7-15 bytes (16 readable at t) in a few SIMD
 *    instructions and no data-dependent branch: the shape of the dots
 *    selects a shuffle; digits, leading zeros and octets above 255 are
 *    checked lane-parallel.  *ip receives the four bytes in order.
 *    Return 1 when valid; 0 means "use the scalar parsers".
 */
VPC_AVX2_TARGET
static inline int
vpc_parse_ip4_simd(
    const vpc_ip4_shape_t *tab,
    const uint8_t      *t,
    size_t              n,
    uint32_t           *ip)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)t);
    unsigned dots = (unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
    unsigned pat = (dots & ((1u << n) - 1u)) | (1u << n);
    const vpc_ip4_shape_t *e = &tab[(uint32_t)(pat * VPC_IP4_MULT) >> 24];
    if (e->pat != pat) {
        return 0;
    }
    const __m128i nine = _mm_set1_epi8(9);
    __m128i x = _mm_shuffle_epi8(
        _mm_sub_epi8(v, _mm_set1_epi8('0')),
        _mm_loadu_si128((const __m128i *)(const void *)e->shuf));
    unsigned digits = (unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_max_epu8(x, nine), nine));
    unsigned zeros = (unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(x, _mm_setzero_si128()));
    __m128i w = _mm_maddubs_epi16(
        x, _mm_set1_epi32(0x00010a64));     /* bytes 100, 10, 1, 0 */
    __m128i s = _mm_madd_epi16(w, _mm_set1_epi16(1));
    unsigned big = (unsigned)_mm_movemask_epi8(
        _mm_cmpgt_epi32(s, _mm_set1_epi32(255)));
    __m128i p = _mm_packus_epi32(s, s);
    p = _mm_packus_epi16(p, p);
    *ip = (uint32_t)_mm_cvtsi128_si32(p);
    return (digits == 0xffffu) & ((zeros & e->lead) == 0) & (big == 0);
}

/*
 *  family = vpc_parse_addr_avx2(tab, t, n, end, out16);
 *
 *    vpc_parse_addr with the SIMD dotted-quad parser tried first.
 */
VPC_AVX2_TARGET
static inline int
vpc_parse_addr_avx2(
    const vpc_ip4_shape_t *tab,
    const uint8_t      *t,
    size_t              n,
    const uint8_t      *end,
    uint8_t            *out)
{
    uint32_t ip;

    if (VPC_LIKELY(n - 7 <= 8 && end - t >= 16)
        && VPC_LIKELY(vpc_parse_ip4_simd(tab, t, n, &ip)))
    {
        /* ::ffff:a.b.c.d */
        uint64_t hi = 0xffff0000ULL | ((uint64_t)ip << 32);
        memset(out, 0, 8);
        memcpy(out + 8, &hi, 8);
        return 4;
    }
    return vpc_parse_addr(t, n, end, out);
}

/* 32 bytes of 0xff then 32 of 0: a window of it masks a key. */
static const uint8_t vpc_key_masks[64] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/*
 *  r = vpc_str_token_avx2(P, slot, t, n, buf, end, dst);
 *
 *    vpc_str_token with the key kept in a vector register: made by one
 *    masked load, compared with the previous value and with dictionary
 *    entries in one instruction each, hashed from its four words.
 */
VPC_AVX2_TARGET __attribute__((noinline))
static int
vpc_str_miss_avx2(
    pse_vpc_parser_t   *restrict P,
    uint32_t            slot,
    const uint8_t      *t,
    size_t              n,
    const uint8_t      *buf,
    const uint8_t      *end,
    uint32_t           *dst,
    __m256i             k);

VPC_AVX2_TARGET
static inline int
vpc_str_token_avx2(
    pse_vpc_parser_t   *restrict P,
    uint32_t            slot,
    const uint8_t      *t,
    size_t              n,
    const uint8_t      *buf,
    const uint8_t      *end,
    uint32_t           *dst)
{
    vpc_dict_t *d = &P->dicts[slot];
    __m256i k;

    if (VPC_LIKELY(end - t >= 32)) {
        size_t keep = n < 32 ? n : 32;
        k = _mm256_and_si256(
            _mm256_loadu_si256((const __m256i *)(const void *)t),
            _mm256_loadu_si256(
                (const __m256i *)(const void *)(vpc_key_masks + 32 - keep)));
    } else {
        vpc_key_t key;
        vpc_key_make(&key, t, n, end);
        k = _mm256_loadu_si256((const __m256i *)(const void *)&key);
    }
    if (d->last_len == n
        && _mm256_movemask_epi8(_mm256_cmpeq_epi8(
               k, _mm256_loadu_si256(
                      (const __m256i *)(const void *)&d->last_key))) == -1
        && (n <= 32
            || vpc_tail_eq(d->arena + d->ent[d->last_gid].off + 32, t + 32,
                           n - 32)))
    {
        *dst = d->last_local;
        return 0;
    }
    return vpc_str_miss_avx2(P, slot, t, n, buf, end, dst, k);
}

/* The rest of vpc_str_token_avx2: not the previous value. */
VPC_AVX2_TARGET __attribute__((noinline))
static int
vpc_str_miss_avx2(
    pse_vpc_parser_t   *restrict P,
    uint32_t            slot,
    const uint8_t      *t,
    size_t              n,
    const uint8_t      *buf,
    const uint8_t      *end,
    uint32_t           *dst,
    __m256i             k)
{
    vpc_dict_t *d = &P->dicts[slot];
    vpc_key_t key;
    __m128i lo = _mm256_castsi256_si128(k);
    __m128i hi = _mm256_extracti128_si256(k, 1);
    uint32_t h = vpc_key_hash_words(
        (uint64_t)_mm_cvtsi128_si64(lo), (uint64_t)_mm_extract_epi64(lo, 1),
        (uint64_t)_mm_cvtsi128_si64(hi), (uint64_t)_mm_extract_epi64(hi, 1),
        n, t, end);
    uint32_t i = h & d->mask;
    uint32_t g;
    for (;;) {
        uint64_t s = d->table[i];
        g = (uint32_t)s;
        if (s == 0) {
            break;
        }
        if ((uint32_t)(s >> 32) == h) {
            const vpc_entry_t *e = &d->ent[g];
            if (e->len == n
                && _mm256_movemask_epi8(_mm256_cmpeq_epi8(
                       k, _mm256_loadu_si256(
                              (const __m256i *)(const void *)&e->key))) == -1
                && (n <= 32
                    || vpc_tail_eq(d->arena + e->off + 32, t + 32, n - 32)))
            {
                break;
            }
        }
        i = (i + 1) & d->mask;
    }
    _mm256_storeu_si256((__m256i *)(void *)&key, k);
    return vpc_str_found(P, slot, g, t, n, &key, h, buf, dst);
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
    P->sp = malloc((P->sp_cap + 80) * sizeof(uint32_t));
#if VPC_HAVE_AVX2
    if (!(flags & PSE_VPC_F_BASELINE) && __builtin_cpu_supports("avx2")
        && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2")
        && __builtin_cpu_supports("popcnt"))
    {
        P->ip4tab = malloc(VPC_IP4_SLOTS * sizeof(vpc_ip4_shape_t));
        if (!P->ip4tab) {
            goto fail;
        }
        vpc_ip4_table_init(P->ip4tab);
        P->bitpos = calloc(256, 8);
        if (!P->bitpos) {
            goto fail;
        }
        for (unsigned byte = 0; byte < 256; ++byte) {
            unsigned k = 0;
            for (unsigned bit = 0; bit < 8; ++bit) {
                if (byte >> bit & 1u) {
                    P->bitpos[8 * byte + k++] = (uint8_t)bit;
                }
            }
        }
        P->avx2 = 1;
        if (!(flags & PSE_VPC_F_NO_AVX512)
            && __builtin_cpu_supports("avx512f")
            && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vbmi2"))
        {
            P->avx2 = 2;
        }
    }
#endif
    if (!P->cols || !P->dst || !P->sp) {
        goto fail;
    }
    memcpy(P->cols, cols, ncols * sizeof(*P->cols));
    /* 0 never equals a token word (a line with a NUL byte is bad) */
    memset(P->enum_words, 0, sizeof(P->enum_words));
    for (int id = 1; id < 5; ++id) {
        for (int k = 0; k < 3 && vpc_enum_words[id][k]; ++k) {
            uint64_t w = 0;
            memcpy(&w, vpc_enum_words[id][k], strlen(vpc_enum_words[id][k]));
            P->enum_words[id][k] = w;
        }
    }
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
        P->dicts = calloc(nstr, sizeof(vpc_dict_t));
        P->pend = malloc(nstr * sizeof(vpc_pending_t));
        P->pend_slots = malloc(nstr * sizeof(uint32_t));
        P->undo = malloc(nstr * sizeof(uint32_t));
        P->uid_cap = VPC_DICT_INIT_CAP;
        P->uids = malloc(P->uid_cap * sizeof(uint64_t));
        if (!P->dicts || !P->pend || !P->pend_slots || !P->undo || !P->uids) {
            goto fail;
        }
        P->uids[0] = 0;
        P->nuid = 1;
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
    free(P->uids);
    free(P->pend);
    free(P->pend_slots);
    free(P->undo);
    free(P->ip4tab);
    free(P->bitpos);
    free(P->names);
    free(P->name_off);
    free(P->name_len);
    free(P->name_table);
    free(P->cols);
    free(P->dst);
    free(P->sp);
    free(P);
}


/* ------------------------------------------------------------------ */
/*  the batch parser                                                   */
/* ------------------------------------------------------------------ */

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
 *  code = vpc_type_token(P, c, t, tn, row, cap, buf, end, out, &ms, fast);
 *
 *    Type token t[0..tn) as column c of row `row`.  Return 0, the event
 *    code of the problem, or UINT32_MAX when out of memory.  `fast` (a
 *    constant) selects the AVX2 helpers.
 */
__attribute__((always_inline))
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
    int                *restrict ms,
    const int           fast)
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
        int fam;
#if VPC_HAVE_AVX2
        if (fast) {
            fam = vpc_parse_addr_avx2(P->ip4tab, t, tn, end, a16);
        } else
#endif
        {
            fam = vpc_parse_addr(t, tn, end, a16);
        }
        if (VPC_UNLIKELY(fam < 0)) {
            return PSE_VPC_EV_BAD_ADDRESS;
        }
        fams[(uint64_t)col->slot * cap + row] = (uint8_t)fam;
        return 0;
      }
      case PSE_VPC_KIND_ENUM: {
        int e = vpc_parse_enum_word(P->enum_words[col->enum_id], t, tn, end);
        if (VPC_LIKELY(e)) {
            ((uint8_t *)P->dst[c])[row] = (uint8_t)e;
            return 0;
        }
        e = vpc_parse_enum(col->enum_id, t, tn);
        if (VPC_UNLIKELY(e < 0)) {
            return PSE_VPC_EV_BAD_ENUM;
        }
        ((uint8_t *)P->dst[c])[row] = (uint8_t)e;
        return 0;
      }
      case PSE_VPC_KIND_STR: {
        uint32_t *dst = (uint32_t *)P->dst[c] + row;
        if (tn == 0 || (tn == 1 && t[0] == '-')) {
            *dst = 0;
            return 0;
        }
        int r;
#if VPC_HAVE_AVX2
        if (fast) {
            r = vpc_str_token_avx2(P, col->slot, t, tn, buf, end, dst);
        } else
#endif
        {
            vpc_key_t k;
            vpc_key_make(&k, t, tn, end);
            r = vpc_str_token(P, col->slot, t, tn, &k, buf, end, dst);
        }
        return VPC_UNLIKELY(r < 0) ? UINT32_MAX : (uint32_t)r;
      }
      default:
        return 0;
    }
}

/*
 *  status = vpc_parse_body(P, buf, len, out, fast);
 *
 *    The loop of pse_vpc_parse (arguments checked), instantiated once
 *    with the portable helpers and once with the AVX2 ones.
 */
__attribute__((always_inline))
static inline int
vpc_parse_body(
    pse_vpc_parser_t   *restrict P,
    const uint8_t      *buf,
    size_t              len,
    pse_vpc_out_t      *out,
    const int           fast)
{
    const uint64_t cap = out->cap;
    const uint32_t ncols = P->ncols;
    const uint8_t *end = buf + len;
    uint32_t *sp = P->sp + 1;       /* P->sp[0] is the -1 sentinel */
    const uint32_t sp_cap = P->sp_cap;
    uint64_t pos = out->pos;
    uint64_t row = out->rows;
    uint64_t lineno = out->lineno;
    uint64_t lines = out->lines;
    uint64_t ms_times = out->ms_times;
    int rv = PSE_OK;

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
        if (fast == 2) {
            n = vpc_scan_line_avx512(s, end, sp, sp_cap, &nsp, &nul,
                                     P->max_line, &too_long);
        } else if (fast) {
            n = vpc_scan_line_avx2(P->bitpos, s, end, sp, sp_cap, &nsp, &nul,
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
                                  out->fams, &ms, fast);
            if (VPC_UNLIKELY(code)) {
                goto bad;
            }
        }
        /* the line is good: commit its new strings, then the row */
        if (VPC_UNLIKELY(P->npend)) {
            rv = vpc_line_commit(P, buf, out->strs, cap, row);
            if (rv != PSE_OK) {
                break;
            }
        }
        P->nundo = 0;
        ms_times += (uint64_t)ms;
        out->linenos[row] = this_line;
        ++row;
        continue;

      bad:
        vpc_line_rollback(P);
        if (VPC_UNLIKELY(code == UINT32_MAX)) {
            rv = PSE_ERR_NOMEM;
            break;
        }
        vpc_event(out, code, this_line, line_off, n, (int32_t)c,
                  line_off + ta, tn);
    }

    out->pos = pos;
    out->rows = row;
    out->lineno = lineno;
    out->lines = lines;
    out->ms_times = ms_times;
    return rv;
}

static int
vpc_parse_portable(
    pse_vpc_parser_t   *P,
    const uint8_t      *buf,
    size_t              len,
    pse_vpc_out_t      *out)
{
    return vpc_parse_body(P, buf, len, out, 0);
}

#if VPC_HAVE_AVX2
VPC_AVX2_TARGET
static int
vpc_parse_avx2(
    pse_vpc_parser_t   *P,
    const uint8_t      *buf,
    size_t              len,
    pse_vpc_out_t      *out)
{
    return vpc_parse_body(P, buf, len, out, 1);
}

VPC_AVX512_TARGET
static int
vpc_parse_avx512(
    pse_vpc_parser_t   *P,
    const uint8_t      *buf,
    size_t              len,
    pse_vpc_out_t      *out)
{
    return vpc_parse_body(P, buf, len, out, 2);
}
#endif

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
    const pse_vpc_column_t *cols = P->cols;

    if (cap
        && ((P->nslots[PSE_VPC_KIND_INT] && !out->ints)
            || (P->nslots[PSE_VPC_KIND_ADDR] && (!out->addrs || !out->fams))
            || (P->nslots[PSE_VPC_KIND_ENUM] && !out->enums)
            || (P->nslots[PSE_VPC_KIND_STR] && !out->strs)))
    {
        return PSE_ERR_ARG;
    }
    for (uint32_t c = 0; c < P->ncols; ++c) {
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
    P->nundo = 0;
    P->npend = 0;
    out->stop = PSE_VPC_STOP_END;
#if VPC_HAVE_AVX2
    if (P->avx2 == 2) {
        return vpc_parse_avx512(P, buf, len, out);
    }
    if (P->avx2) {
        return vpc_parse_avx2(P, buf, len, out);
    }
#endif
    return vpc_parse_portable(P, buf, len, out);
}

/*
 *  pse_vpc_dict_begin(parser);
 *
 *    See pse_vpc.h.
 */
void
pse_vpc_dict_begin(
    pse_vpc_parser_t   *P)
{
    if (!P) {
        return;
    }
    for (uint32_t k = 0; k < P->nslots[PSE_VPC_KIND_STR]; ++k) {
        vpc_dict_begin(&P->dicts[k]);
    }
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
    P->nuid = P->nslots[PSE_VPC_KIND_STR] ? 1 : 0;
}

/*
 *  count = pse_vpc_dict_size(parser);
 *
 *    See pse_vpc.h.
 */
uint32_t
pse_vpc_dict_size(
    const pse_vpc_parser_t *P)
{
    return P ? P->nuid : 0;
}

/*
 *  status = pse_vpc_dict_join(parser, first, dst, cap, &needed);
 *
 *    See pse_vpc.h.
 */
int
pse_vpc_dict_join(
    const pse_vpc_parser_t *P,
    uint32_t            first,
    uint8_t            *dst,
    size_t              cap,
    size_t             *needed)
{
    if (!P || !needed || first == 0 || first > P->nuid) {
        return PSE_ERR_ARG;
    }
    size_t total = 0;
    for (uint32_t u = first; u < P->nuid; ++u) {
        const vpc_dict_t *d = &P->dicts[P->uids[u] >> 32];
        total += d->ent[(uint32_t)P->uids[u]].len + (u > first);
    }
    *needed = total;
    if (cap < total || (total && !dst)) {
        return PSE_ERR_BUFFER;
    }
    for (uint32_t u = first; u < P->nuid; ++u) {
        const vpc_dict_t *d = &P->dicts[P->uids[u] >> 32];
        const vpc_entry_t *e = &d->ent[(uint32_t)P->uids[u]];
        if (u > first) {
            *dst++ = '\n';
        }
        memcpy(dst, d->arena + e->off, e->len);
        dst += e->len;
    }
    return PSE_OK;
}

/*
 *  status = pse_vpc_dict_batch(parser, counts, uids, cap, &needed);
 *
 *    See pse_vpc.h.
 */
int
pse_vpc_dict_batch(
    const pse_vpc_parser_t *P,
    uint32_t           *counts,
    uint32_t           *uids,
    uint64_t            cap,
    uint64_t           *needed)
{
    const uint32_t nstr = P ? P->nslots[PSE_VPC_KIND_STR] : 0;

    if (!P || !needed || (nstr && !counts) || (cap && !uids)) {
        return PSE_ERR_ARG;
    }
    uint64_t total = 0;
    for (uint32_t k = 0; k < nstr; ++k) {
        counts[k] = P->dicts[k].nlocal;
        total += P->dicts[k].nlocal;
    }
    *needed = total;
    if (cap < total) {
        return PSE_ERR_BUFFER;
    }
    for (uint32_t k = 0; k < nstr; ++k) {
        const vpc_dict_t *d = &P->dicts[k];
        *uids++ = 0;
        for (uint32_t c = 1; c < d->nlocal; ++c) {
            *uids++ = d->ent[d->locals[c]].uid;
        }
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
