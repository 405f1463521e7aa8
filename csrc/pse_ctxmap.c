/* SPDX-License-Identifier: MIT */
/*
 *  pse_ctxmap.c -- C core of module pysilk_ext._ctxmap: validation of and
 *  lookups in a memory-mapped cloud-context map.  The file format is
 *  described in pse_ctxmap.h; the semantics in pysilk_ext/ctxmap.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "pse_ctxmap.h"

#define NREL PSE_CTXMAP_NREL
#define REL_SHIFT 28
#define CTX_MASK 0x0FFFFFFFu
#define MAX_SECTION_ID 64
#define MAX_ROWS 0x7FFFFFFFu
#define PSE_CTXMAP_GROUP 16
#define BUCKET_MIN 1024         /* IPv4 addresses before bucketing */
#define NBUCKET 65536

typedef struct ctxmap_section_st {
    uint64_t            offset;
    uint64_t            count;
    uint32_t            esize;
    int                 present;
} ctxmap_section_t;

struct pse_ctxmap_st {
    const uint8_t      *buf;
    size_t              len;
    int                 opened;
    ctxmap_section_t    sec[MAX_SECTION_ID];

    uint32_t            nstr;
    const uint32_t     *stroff;
    const uint8_t      *strdata;

    uint32_t            nfields;
    const uint32_t     *fields;        /* [nfields][4] */

    uint32_t            ctx_width;
    uint32_t            nctx;
    const uint32_t     *ctx;           /* [nctx][ctx_width] */

    uint32_t            group_n[PSE_CTXMAP_MAX_GROUPS];
    uint32_t            group_w[PSE_CTXMAP_MAX_GROUPS];
    const uint32_t     *group[PSE_CTXMAP_MAX_GROUPS];

    uint32_t            n4;
    const uint32_t     *addr4;
    const uint32_t     *start4;        /* [n4 + 1] */
    uint32_t           *bucket4;       /* [65537] or NULL; owned */
    uint32_t           *rbucket4;      /* same for RANGE4 lo values */
    uint32_t            n6;
    const uint64_t     *addr6;         /* [n6][2] */
    const uint32_t     *start6;        /* [n6 + 1] */

    uint32_t            nbind;
    const uint32_t     *bind;          /* [nbind][4] */

    uint32_t            nrange4;
    const uint32_t     *range4;        /* [n][3] */
    uint32_t            nrange6;
    const uint64_t     *range6;        /* [n][5] */

    char                detail[192];
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static uint32_t
load_le32(
    const uint8_t      *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16)
        | ((uint32_t)p[3] << 24);
}

static uint64_t
load_le64(
    const uint8_t      *p)
{
    return (uint64_t)load_le32(p) | ((uint64_t)load_le32(p + 4) << 32);
}

static uint32_t
load_be32(
    const uint8_t      *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16)
        | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static uint64_t
load_be64(
    const uint8_t      *p)
{
    return ((uint64_t)load_be32(p) << 32) | (uint64_t)load_be32(p + 4);
}

static void
store_be32(
    uint8_t            *p,
    uint32_t            v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void
store_be64(
    uint8_t            *p,
    uint64_t            v)
{
    store_be32(p, (uint32_t)(v >> 32));
    store_be32(p + 4, (uint32_t)v);
}

/*
 *  crc = crc32_zlib(buf, len);
 *
 *    CRC-32 with zlib's polynomial (what Python's zlib.crc32 computes);
 *    bitwise, used only over the small section directory.
 */
static uint32_t
crc32_zlib(
    const uint8_t      *buf,
    size_t              len)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    int k;

    for (i = 0; i < len; i++) {
        crc ^= buf[i];
        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return crc ^ 0xFFFFFFFFu;
}

static int
fail(
    pse_ctxmap_t       *m,
    int                 status,
    const char         *what)
{
    snprintf(m->detail, sizeof(m->detail), "%s", what);
    return status;
}

/*
 *  i = floor_u32(a, n, stride, key);
 *
 *    Index of the last element of the ascending array 'a' (element i at
 *    a[i * stride]) that is <= key, or -1.  Branch-free halving so the
 *    compiler can use conditional moves.
 */
static inline int64_t
floor_u32(
    const uint32_t     *a,
    size_t              n,
    size_t              stride,
    uint32_t            key)
{
    const uint32_t *base = a;
    size_t half;

    if (n == 0 || a[0] > key) {
        return -1;
    }
    while (n > 1) {
        half = n >> 1;
        base = (base[half * stride] <= key) ? base + half * stride : base;
        n -= half;
    }
    return (int64_t)((size_t)(base - a) / stride);
}

static inline int
le128(
    uint64_t            ah,
    uint64_t            al,
    uint64_t            bh,
    uint64_t            bl)
{
    return (ah < bh) | ((ah == bh) & (al <= bl));
}

/*
 *  i = floor_u128(a, n, stride, hi, lo);
 *
 *    As floor_u32 over (high, low) pairs stored at a[i * stride].
 */
static inline int64_t
floor_u128(
    const uint64_t     *a,
    size_t              n,
    size_t              stride,
    uint64_t            hi,
    uint64_t            lo)
{
    const uint64_t *base = a;
    size_t half;

    if (n == 0 || !le128(a[0], a[1], hi, lo)) {
        return -1;
    }
    while (n > 1) {
        half = n >> 1;
        base = le128(base[half * stride], base[half * stride + 1], hi, lo)
            ? base + half * stride : base;
        n -= half;
    }
    return (int64_t)((size_t)(base - a) / stride);
}

/*
 *  search_group(a, stride, keys, lo, len, out, g, exact);
 *
 *    Search 'g' keys at once, key k among the elements lo[k] ..
 *    lo[k] + len[k] - 1 of the ascending array 'a' (element i at
 *    a[i * stride]), in lock step with prefetching like
 *    floor_u32_group(); searches of different lengths simply stop
 *    moving.  out[k] is the index of the last element <= key (floor),
 *    or with 'exact' of the element == key, else -1.
 */
static inline void
search_group(
    const uint32_t     *a,
    size_t              stride,
    const uint32_t     *keys,
    size_t             *lo,
    size_t             *len,
    int64_t            *out,
    size_t              g,
    int                 exact)
{
    size_t k, half, longest = 0;

    for (k = 0; k < g; k++) {
        if (len[k] == 0) {
            lo[k] = 0;      /* an empty span never reads past the table */
        }
        if (len[k] > longest) {
            longest = len[k];
        }
    }
    while (longest > 1) {
        for (k = 0; k < g; k++) {
            half = len[k] >> 1;
            __builtin_prefetch(a + (lo[k] + half / 2) * stride);
            __builtin_prefetch(a + (lo[k] + half + half / 2) * stride);
        }
        for (k = 0; k < g; k++) {
            half = len[k] >> 1;
            lo[k] = (a[(lo[k] + half) * stride] <= keys[k])
                ? lo[k] + half : lo[k];
            len[k] -= half;
        }
        longest -= longest >> 1;
    }
    for (k = 0; k < g; k++) {
        uint32_t v = (len[k] == 1) ? a[lo[k] * stride] : 0;
        int hit = (len[k] == 1) && (exact ? v == keys[k] : v <= keys[k]);
        out[k] = hit ? (int64_t)lo[k] : -1;
    }
}

static inline int
is_v4mapped(
    const uint8_t      *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0,
                                       0, 0, 0xFF, 0xFF};
    return memcmp(a, prefix, 12) == 0;
}

static inline uint32_t
clamp_time(
    int64_t             t)
{
    if (t < 0) {
        return 0;
    }
    if (t > (int64_t)UINT32_MAX) {
        return UINT32_MAX;
    }
    return (uint32_t)t;
}

/* ------------------------------------------------------------------ */
/* Handle                                                              */
/* ------------------------------------------------------------------ */

/*
 *  status = pse_ctxmap_new(&map);
 *
 *    Allocate a zeroed handle.
 */
int
pse_ctxmap_new(
    pse_ctxmap_t      **out)
{
    if (out == NULL) {
        return PSE_ERR_ARG;
    }
    *out = (pse_ctxmap_t *)calloc(1, sizeof(pse_ctxmap_t));
    return (*out == NULL) ? PSE_ERR_NOMEM : PSE_OK;
}

/*
 *  pse_ctxmap_free(map);
 *
 *    Free the handle; NULL is accepted.
 */
void
pse_ctxmap_free(
    pse_ctxmap_t       *map)
{
    if (map != NULL) {
        free(map->bucket4);
        free(map->rbucket4);
    }
    free(map);
}

/*
 *  text = pse_ctxmap_detail(map);
 *
 *    Detail of the last open failure.
 */
const char *
pse_ctxmap_detail(
    const pse_ctxmap_t *map)
{
    return (map == NULL) ? "" : map->detail;
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

/*
 *  status = get_section(m, id, esize, required, &ptr, &count);
 *
 *    Fetch section 'id', checking its element size; an absent optional
 *    section gives count 0.
 */
static int
get_section(
    pse_ctxmap_t       *m,
    uint32_t            id,
    uint32_t            esize,
    int                 required,
    const void        **ptr,
    uint64_t           *count)
{
    const ctxmap_section_t *s = &m->sec[id];

    *ptr = NULL;
    *count = 0;
    if (!s->present) {
        if (required) {
            snprintf(m->detail, sizeof(m->detail),
                     "Required section %u is missing", (unsigned)id);
            return PSE_ERR_CORRUPT;
        }
        return PSE_OK;
    }
    if (esize != 0 && s->esize != esize) {
        snprintf(m->detail, sizeof(m->detail),
                 "Section %u has element size %u, expected %u",
                 (unsigned)id, (unsigned)s->esize, (unsigned)esize);
        return PSE_ERR_CORRUPT;
    }
    *ptr = m->buf + s->offset;
    *count = s->count;
    return PSE_OK;
}

#define GET(id, esz, req, ptr, cnt)                                      \
    do {                                                                 \
        const void *p_;                                                  \
        int st_ = get_section(m, (id), (esz), (req), &p_, (cnt));        \
        if (st_ != PSE_OK) {                                             \
            return st_;                                                  \
        }                                                                \
        (ptr) = p_;                                                      \
    } while (0)

static int
check_count(
    pse_ctxmap_t       *m,
    uint64_t            count,
    const char         *what)
{
    if (count > MAX_ROWS) {
        snprintf(m->detail, sizeof(m->detail), "Too many %s", what);
        return PSE_ERR_CORRUPT;
    }
    return PSE_OK;
}

/*
 *  status = read_header(m);
 *
 *    Check the fixed header and load the section directory.
 */
static int
read_header(
    pse_ctxmap_t       *m)
{
    const uint8_t *b = m->buf;
    uint32_t version, hsize, nsec, crc, i;
    uint64_t fsize, dir_off, dir_len;
    static const uint8_t magic[8] = {0x89, 'V', 'P', 'C', 'M', 'A', 'P', '\n'};

    if (m->len < 8 || memcmp(b, magic, 8) != 0) {
        return fail(m, PSE_ERR_FORMAT, "Bad magic number: not a context map");
    }
    if (m->len < PSE_CTXMAP_HEADER_SIZE) {
        return fail(m, PSE_ERR_SHORT, "File ends inside the header");
    }
    version = load_le32(b + 8);
    if (version != PSE_CTXMAP_FORMAT_VERSION) {
        snprintf(m->detail, sizeof(m->detail),
                 "Map format version %u (this build reads version %u)",
                 (unsigned)version, (unsigned)PSE_CTXMAP_FORMAT_VERSION);
        return PSE_ERR_UNSUPPORTED;
    }
    hsize = load_le32(b + 12);
    if (hsize != PSE_CTXMAP_HEADER_SIZE) {
        return fail(m, PSE_ERR_CORRUPT, "Bad header size");
    }
    fsize = load_le64(b + 16);
    if (fsize > (uint64_t)m->len) {
        snprintf(m->detail, sizeof(m->detail),
                 "File is truncated: %llu of %llu bytes",
                 (unsigned long long)m->len, (unsigned long long)fsize);
        return PSE_ERR_SHORT;
    }
    if (fsize != (uint64_t)m->len) {
        return fail(m, PSE_ERR_CORRUPT, "File size does not match header");
    }
    nsec = load_le32(b + 24);
    crc = load_le32(b + 28);
    dir_off = load_le64(b + 32);
    m->ctx_width = load_le32(b + 40);
    if (nsec > MAX_SECTION_ID) {
        return fail(m, PSE_ERR_CORRUPT, "Too many sections");
    }
    dir_len = (uint64_t)nsec * PSE_CTXMAP_DIRENT_SIZE;
    if (dir_off < PSE_CTXMAP_HEADER_SIZE || dir_off > fsize
        || dir_len > fsize - dir_off)
    {
        return fail(m, PSE_ERR_CORRUPT, "Section directory out of bounds");
    }
    if (crc32_zlib(b + dir_off, (size_t)dir_len) != crc) {
        return fail(m, PSE_ERR_CORRUPT, "Section directory checksum mismatch");
    }
    for (i = 0; i < nsec; i++) {
        const uint8_t *e = b + dir_off + (uint64_t)i * PSE_CTXMAP_DIRENT_SIZE;
        uint32_t id = load_le32(e);
        uint32_t esize = load_le32(e + 4);
        uint64_t off = load_le64(e + 8);
        uint64_t count = load_le64(e + 16);
        ctxmap_section_t *s;

        if (id == 0 || id >= MAX_SECTION_ID || esize == 0) {
            return fail(m, PSE_ERR_CORRUPT, "Bad section directory entry");
        }
        s = &m->sec[id];
        if (s->present) {
            return fail(m, PSE_ERR_CORRUPT, "Duplicate section");
        }
        if ((off & 7u) != 0 || off > fsize
            || count > (fsize - off) / esize)
        {
            snprintf(m->detail, sizeof(m->detail),
                     "Section %u extends past the end of the file",
                     (unsigned)id);
            return PSE_ERR_CORRUPT;
        }
        s->offset = off;
        s->count = count;
        s->esize = esize;
        s->present = 1;
    }
    return PSE_OK;
}

/*
 *  ok = valid_utf8(p, n);
 *
 *    1 when the n bytes at p are well-formed UTF-8 (no overlongs, no
 *    surrogates, nothing above U+10FFFF), so that every reader can decode
 *    every string of a validated map.
 */
static int
valid_utf8(
    const uint8_t      *p,
    size_t              n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = p[i];
        size_t len, k;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return 0;
        }
        if (n - i < len) {
            return 0;
        }
        for (k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
            || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        {
            return 0;
        }
        i += len;
    }
    return 1;
}

/*
 *  status = check_strings(m);
 *
 *    Offsets ascend inside STRDATA, string 0 is empty, strings are in
 *    strictly ascending byte order (find_string relies on it).
 */
static int
check_strings(
    pse_ctxmap_t       *m)
{
    uint64_t noff, ndata;
    uint32_t i;

    GET(PSE_CTXMAP_SEC_STROFF, 4, 1, m->stroff, &noff);
    GET(PSE_CTXMAP_SEC_STRDATA, 1, 1, m->strdata, &ndata);
    if (noff < 2 || check_count(m, noff, "strings") != PSE_OK) {
        return fail(m, PSE_ERR_CORRUPT, "Bad string table");
    }
    m->nstr = (uint32_t)(noff - 1);
    if (m->stroff[0] != 0 || m->stroff[1] != 0
        || m->stroff[m->nstr] != ndata)
    {
        return fail(m, PSE_ERR_CORRUPT, "Bad string table offsets");
    }
    if (!valid_utf8(m->strdata, (size_t)ndata)
        || memchr(m->strdata, 0, (size_t)ndata) != NULL)
    {
        return fail(m, PSE_ERR_CORRUPT, "String table is not UTF-8 text");
    }
    for (i = 1; i < m->nstr; i++) {
        uint32_t a0 = m->stroff[i], a1 = m->stroff[i + 1];
        uint32_t p0 = m->stroff[i - 1];
        size_t la, lp, lmin;
        int c;

        if (a1 < a0) {
            return fail(m, PSE_ERR_CORRUPT, "Bad string table offsets");
        }
        la = a1 - a0;
        lp = a0 - p0;
        lmin = la < lp ? la : lp;
        c = memcmp(m->strdata + p0, m->strdata + a0, lmin);
        if (c > 0 || (c == 0 && lp >= la)) {
            return fail(m, PSE_ERR_CORRUPT, "String table is not sorted");
        }
    }
    return PSE_OK;
}

/*
 *  status = check_contexts(m);
 *
 *    FIELDS, CTX and GROUP tables: every id and reference in range, each
 *    CTX column used in one way only.
 */
static int
check_contexts(
    pse_ctxmap_t       *m)
{
    uint64_t count;
    uint32_t col_group[256];
    uint32_t g, f, c, i;
    const uint32_t *ctx;

    GET(PSE_CTXMAP_SEC_FIELDS, 16, 1, m->fields, &count);
    if (check_count(m, count, "fields") != PSE_OK) {
        return PSE_ERR_CORRUPT;
    }
    m->nfields = (uint32_t)count;
    if (m->ctx_width < 1 || m->ctx_width > 256) {
        return fail(m, PSE_ERR_CORRUPT, "Bad context width");
    }
    GET(PSE_CTXMAP_SEC_CTX, 4 * m->ctx_width, 1, ctx, &count);
    if (check_count(m, count, "contexts") != PSE_OK
        || count > CTX_MASK)
    {
        return fail(m, PSE_ERR_CORRUPT, "Too many contexts");
    }
    m->ctx = ctx;
    m->nctx = (uint32_t)count;
    for (g = 1; g < PSE_CTXMAP_MAX_GROUPS; g++) {
        const ctxmap_section_t *s = &m->sec[PSE_CTXMAP_SEC_GROUP + g];
        uint64_t k;

        if (!s->present) {
            continue;
        }
        if (s->esize % 4 != 0) {
            return fail(m, PSE_ERR_CORRUPT, "Bad group table");
        }
        GET(PSE_CTXMAP_SEC_GROUP + g, 0, 1, m->group[g], &count);
        if (check_count(m, count, "group rows") != PSE_OK) {
            return PSE_ERR_CORRUPT;
        }
        m->group_n[g] = (uint32_t)count;
        m->group_w[g] = s->esize / 4;
        for (k = 0; k < count * m->group_w[g]; k++) {
            if (m->group[g][k] >= m->nstr) {
                return fail(m, PSE_ERR_CORRUPT,
                            "Group table refers to a missing string");
            }
        }
    }
    /* Column classes: 0 = meta, 0xFFFFFFFF = string id, g = group ref. */
    for (c = 0; c < m->ctx_width; c++) {
        col_group[c] = (c == 0) ? 0 : 0xFFFFFFFFu;
    }
    for (f = 0; f < m->nfields; f++) {
        const uint32_t *fe = m->fields + 4 * (size_t)f;
        uint32_t want;

        if (fe[0] >= m->nstr || fe[1] >= PSE_CTXMAP_MAX_GROUPS
            || fe[2] == 0 || fe[2] >= m->ctx_width)
        {
            return fail(m, PSE_ERR_CORRUPT, "Bad field catalogue entry");
        }
        if (fe[1] != 0 && (m->group[fe[1]] == NULL
                           || fe[3] >= m->group_w[fe[1]]))
        {
            return fail(m, PSE_ERR_CORRUPT, "Bad field catalogue entry");
        }
        want = (fe[1] == 0) ? 0xFFFFFFFFu : fe[1];
        if (col_group[fe[2]] != 0xFFFFFFFFu && col_group[fe[2]] != want) {
            return fail(m, PSE_ERR_CORRUPT, "Context column used twice");
        }
        col_group[fe[2]] = want;
    }
    for (i = 0; i < m->nctx; i++) {
        const uint32_t *row = ctx + (size_t)i * m->ctx_width;

        if ((row[0] & 0xFFu) >= PSE_CTXMAP_NREL) {
            return fail(m, PSE_ERR_CORRUPT, "Context has a bad relation");
        }
        for (c = 1; c < m->ctx_width; c++) {
            uint32_t limit = (col_group[c] == 0xFFFFFFFFu)
                ? m->nstr : m->group_n[col_group[c]];
            if (row[c] >= limit) {
                return fail(m, PSE_ERR_CORRUPT,
                            "Context refers to a missing value");
            }
        }
    }
    return PSE_OK;
}

/*
 *  status = check_addresses(m);
 *
 *    ADDR4/ADDR6 strictly ascending; START4/START6 strictly ascending and
 *    contiguous over BIND; every BIND row well formed.
 */
static int
check_addresses(
    pse_ctxmap_t       *m)
{
    uint64_t n, ns, nb;
    uint32_t i;

    GET(PSE_CTXMAP_SEC_BIND, 16, 1, m->bind, &nb);
    if (check_count(m, nb, "bindings") != PSE_OK) {
        return PSE_ERR_CORRUPT;
    }
    m->nbind = (uint32_t)nb;
    GET(PSE_CTXMAP_SEC_ADDR4, 4, 1, m->addr4, &n);
    GET(PSE_CTXMAP_SEC_START4, 4, 1, m->start4, &ns);
    if (ns != n + 1 || check_count(m, n, "addresses") != PSE_OK) {
        return fail(m, PSE_ERR_CORRUPT, "Bad IPv4 address index");
    }
    m->n4 = (uint32_t)n;
    GET(PSE_CTXMAP_SEC_ADDR6, 16, 1, m->addr6, &n);
    GET(PSE_CTXMAP_SEC_START6, 4, 1, m->start6, &ns);
    if (ns != n + 1 || check_count(m, n, "addresses") != PSE_OK) {
        return fail(m, PSE_ERR_CORRUPT, "Bad IPv6 address index");
    }
    m->n6 = (uint32_t)n;
    if (m->start4[0] != 0 || m->start4[m->n4] != m->start6[0]
        || m->start6[m->n6] != m->nbind)
    {
        return fail(m, PSE_ERR_CORRUPT, "Address index does not cover BIND");
    }
    for (i = 0; i < m->n4; i++) {
        if (m->start4[i + 1] <= m->start4[i]
            || (i > 0 && m->addr4[i] <= m->addr4[i - 1]))
        {
            return fail(m, PSE_ERR_CORRUPT, "IPv4 address index not sorted");
        }
    }
    for (i = 0; i < m->n6; i++) {
        if (m->start6[i + 1] <= m->start6[i]
            || (i > 0 && le128(m->addr6[2 * i], m->addr6[2 * i + 1],
                               m->addr6[2 * i - 2], m->addr6[2 * i - 1])))
        {
            return fail(m, PSE_ERR_CORRUPT, "IPv6 address index not sorted");
        }
    }
    for (i = 0; i < m->nbind; i++) {
        const uint32_t *row = m->bind + 4 * (size_t)i;
        uint32_t rel = row[3] >> REL_SHIFT, ctx = row[3] & CTX_MASK;

        if (row[0] >= m->nstr || row[1] > row[2] || ctx >= m->nctx
            || rel >= PSE_CTXMAP_REL_RANGE
            || (m->ctx[(size_t)ctx * m->ctx_width] & 0xFFu) != rel)
        {
            return fail(m, PSE_ERR_CORRUPT, "Bad binding row");
        }
    }
    return PSE_OK;
}

/*
 *  status = check_ranges(m);
 *
 *    RANGE4/RANGE6 ascending and disjoint, contexts of relation RANGE.
 */
static int
check_ranges(
    pse_ctxmap_t       *m)
{
    uint64_t n;
    uint32_t i;

    GET(PSE_CTXMAP_SEC_RANGE4, 12, 0, m->range4, &n);
    if (check_count(m, n, "ranges") != PSE_OK) {
        return PSE_ERR_CORRUPT;
    }
    m->nrange4 = (uint32_t)n;
    for (i = 0; i < m->nrange4; i++) {
        const uint32_t *r = m->range4 + 3 * (size_t)i;
        if (r[0] > r[1] || r[2] >= m->nctx
            || (m->ctx[(size_t)r[2] * m->ctx_width] & 0xFFu)
               != PSE_CTXMAP_REL_RANGE
            || (i > 0 && r[0] <= r[-2]))
        {
            return fail(m, PSE_ERR_CORRUPT, "Bad IPv4 range table");
        }
    }
    GET(PSE_CTXMAP_SEC_RANGE6, 40, 0, m->range6, &n);
    if (check_count(m, n, "ranges") != PSE_OK) {
        return PSE_ERR_CORRUPT;
    }
    m->nrange6 = (uint32_t)n;
    for (i = 0; i < m->nrange6; i++) {
        const uint64_t *r = m->range6 + 5 * (size_t)i;
        uint32_t ctx = (uint32_t)(r[4] & 0xFFFFFFFFu);
        if (!le128(r[0], r[1], r[2], r[3]) || ctx >= m->nctx
            || (r[4] >> 32) != 0
            || (m->ctx[(size_t)ctx * m->ctx_width] & 0xFFu)
               != PSE_CTXMAP_REL_RANGE
            || (i > 0 && le128(r[0], r[1], r[-3], r[-2])))
        {
            return fail(m, PSE_ERR_CORRUPT, "Bad IPv6 range table");
        }
    }
    return PSE_OK;
}

/*
 *  table = bucket_table(a, n, stride);
 *
 *    table[b] = number of elements of the ascending array 'a' below
 *    b.0.0 (the /16 of b), for b = 0 .. 65536: the elements of /16 b are
 *    table[b] .. table[b + 1] - 1.  NULL when out of memory.
 */
static uint32_t *
bucket_table(
    const uint32_t     *a,
    uint32_t            n,
    size_t              stride)
{
    uint32_t *t = (uint32_t *)malloc((NBUCKET + 1) * sizeof(uint32_t));
    uint32_t b, i = 0;

    if (t == NULL) {
        return NULL;
    }
    for (b = 0; b < NBUCKET; b++) {
        while (i < n && (a[(size_t)i * stride] >> 16) < b) {
            i++;
        }
        t[b] = i;
    }
    t[NBUCKET] = n;
    return t;
}

/*
 *  status = make_buckets(m);
 *
 *    For tables of BUCKET_MIN or more IPv4 entries (addresses; ip-ranges
 *    rows), index them by the top 16 bits, so that a search starts inside
 *    one /16 instead of the whole table.  Costs 256 KiB per table and
 *    handle; smaller tables stay cache-resident without it.
 */
static int
make_buckets(
    pse_ctxmap_t       *m)
{
    if (m->n4 >= BUCKET_MIN
        && (m->bucket4 = bucket_table(m->addr4, m->n4, 1)) == NULL)
    {
        return fail(m, PSE_ERR_NOMEM, "No memory for the address index");
    }
    if (m->nrange4 >= BUCKET_MIN
        && (m->rbucket4 = bucket_table(m->range4, m->nrange4, 3)) == NULL)
    {
        return fail(m, PSE_ERR_NOMEM, "No memory for the range index");
    }
    return PSE_OK;
}

/*
 *  status = pse_ctxmap_open(map, buf, len);
 *
 *    Validate the whole image; see pse_ctxmap.h.
 */
int
pse_ctxmap_open(
    pse_ctxmap_t       *map,
    const uint8_t      *buf,
    size_t              len)
{
    static const uint16_t one = 1;
    int st;

    if (map == NULL || (buf == NULL && len != 0)) {
        return PSE_ERR_ARG;
    }
    free(map->bucket4);
    free(map->rbucket4);
    memset(map, 0, sizeof(*map));
    map->buf = buf;
    map->len = len;
    if (*(const uint8_t *)&one != 1) {
        return fail(map, PSE_ERR_UNSUPPORTED, "Big-endian hosts");
    }
    if (((uintptr_t)buf & 7u) != 0) {
        return fail(map, PSE_ERR_ARG, "Map buffer is not 8-byte aligned");
    }
    if ((st = read_header(map)) != PSE_OK
        || (st = check_strings(map)) != PSE_OK
        || (st = check_contexts(map)) != PSE_OK
        || (st = check_addresses(map)) != PSE_OK
        || (st = check_ranges(map)) != PSE_OK)
    {
        return st;
    }
    if ((st = make_buckets(map)) != PSE_OK) {
        return st;
    }
    map->opened = 1;
    return PSE_OK;
}

/*
 *  status = pse_ctxmap_section(map, id, &offset, &count, &elem_size);
 */
int
pse_ctxmap_section(
    const pse_ctxmap_t *map,
    uint32_t            id,
    uint64_t           *offset,
    uint64_t           *count,
    uint32_t           *elem_size)
{
    if (map == NULL || !map->opened || id >= MAX_SECTION_ID) {
        return PSE_ERR_ARG;
    }
    *offset = map->sec[id].present ? map->sec[id].offset : 0;
    *count = map->sec[id].present ? map->sec[id].count : 0;
    *elem_size = map->sec[id].present ? map->sec[id].esize : 0;
    return PSE_OK;
}

/* ------------------------------------------------------------------ */
/* Lookups                                                             */
/* ------------------------------------------------------------------ */

/*
 *  choose(m, lo, hi, t, scope, out, flags);
 *
 *    Apply the time and scope rules to the BIND rows [lo, hi) of one
 *    address; write the chosen row per relation and the flags.
 */
static void
choose(
    const pse_ctxmap_t *m,
    uint32_t            lo,
    uint32_t            hi,
    uint32_t            t,
    uint32_t            scope,
    int32_t            *out,
    uint8_t            *flags)
{
    const uint32_t *b = m->bind;
    uint32_t i, eff = 0, seen = 0;
    int have = 0, nseen = 0, r;

    if (scope != PSE_CTXMAP_SCOPE_ANY) {
        for (i = lo; i < hi && !have; i++) {
            const uint32_t *row = b + 4 * (size_t)i;
            have = row[1] <= t && (row[0] == scope || row[0] == 0);
        }
        eff = scope;
    }
    if (!have) {
        /* Unscoped rule: the distinct VPC scopes bound by time t. */
        for (i = lo; i < hi; i++) {
            const uint32_t *row = b + 4 * (size_t)i;
            if (row[1] > t || row[0] == 0) {
                continue;
            }
            if (nseen == 0) {
                seen = row[0];
                nseen = 1;
            } else if (row[0] != seen) {
                nseen = 2;
                break;
            }
        }
        if (nseen == 2) {
            for (i = lo; i < hi; i++) {
                const uint32_t *row = b + 4 * (size_t)i;
                if (row[1] <= t) {
                    out[row[3] >> REL_SHIFT] = PSE_CTXMAP_ROW_AMBIGUOUS;
                }
            }
            *flags |= PSE_CTXMAP_FLAG_AMBIGUOUS;
            return;
        }
        eff = (nseen == 1) ? seen : 0;
    }
    for (i = lo; i < hi; i++) {
        const uint32_t *row = b + 4 * (size_t)i;
        int32_t cur;
        int take;

        if (row[1] > t || (row[0] != eff && row[0] != 0)) {
            continue;
        }
        r = (int)(row[3] >> REL_SHIFT);
        cur = out[r];
        if (cur < 0) {
            take = 1;
        } else {
            const uint32_t *crow = b + 4 * (size_t)cur;
            int inside = row[2] >= t, cinside = crow[2] >= t;
            if (inside != cinside) {
                take = inside;
            } else if (inside) {
                take = row[1] > crow[1];     /* started last */
            } else {
                take = row[2] > crow[2];     /* seen last */
            }
        }
        if (take) {
            out[r] = (int32_t)i;
        }
    }
    for (r = 0; r < PSE_CTXMAP_REL_RANGE; r++) {
        if (out[r] >= 0 && b[4 * (size_t)out[r] + 2] < t) {
            *flags |= (uint8_t)(1u << r);
        }
    }
}

/*
 *  span4(m, v, &lo, &len);
 *
 *    The part of ADDR4 that can hold IPv4 address 'v'.
 */
static inline void
span4(
    const pse_ctxmap_t *m,
    uint32_t            v,
    size_t             *lo,
    size_t             *len)
{
    if (m->bucket4 != NULL) {
        *lo = m->bucket4[v >> 16];
        *len = m->bucket4[(v >> 16) + 1] - *lo;
    } else {
        *lo = 0;
        *len = m->n4;
    }
}

/*
 *  rspan4(m, v, &lo, &len);
 *
 *    The part of RANGE4 that can hold the floor of 'v': from the last
 *    range starting before v's /16 to the last one starting inside it.
 */
static inline void
rspan4(
    const pse_ctxmap_t *m,
    uint32_t            v,
    size_t             *lo,
    size_t             *len)
{
    if (m->rbucket4 != NULL) {
        size_t below = m->rbucket4[v >> 16];
        *lo = below ? below - 1 : 0;
        *len = m->rbucket4[(v >> 16) + 1] - *lo;
    } else {
        *lo = 0;
        *len = m->nrange4;
    }
}

/*
 *  lookup_one(m, addr, time, scope, out, flags);
 *
 *    One address: find its BIND rows and its ip-ranges row.
 */
static inline void
lookup_one(
    const pse_ctxmap_t *m,
    const uint8_t      *a,
    int64_t             time,
    uint32_t            scope,
    int32_t            *out,
    uint8_t            *flags)
{
    int64_t i;
    int r;

    for (r = 0; r < NREL; r++) {
        out[r] = PSE_CTXMAP_ROW_NONE;
    }
    *flags = 0;
    if (is_v4mapped(a)) {
        uint32_t v = load_be32(a + 12);
        size_t lo, len;

        rspan4(m, v, &lo, &len);
        search_group(m->range4, 3, &v, &lo, &len, &i, 1, 0);
        if (i >= 0 && m->range4[3 * i + 1] >= v) {
            out[PSE_CTXMAP_REL_RANGE] = (int32_t)i;
        }
        span4(m, v, &lo, &len);
        search_group(m->addr4, 1, &v, &lo, &len, &i, 1, 1);
        if (i >= 0) {
            choose(m, m->start4[i], m->start4[i + 1], clamp_time(time),
                   scope, out, flags);
        }
    } else {
        uint64_t h = load_be64(a), l = load_be64(a + 8);

        i = floor_u128(m->range6, m->nrange6, 5, h, l);
        if (i >= 0 && le128(h, l, m->range6[5 * i + 2], m->range6[5 * i + 3])) {
            out[PSE_CTXMAP_REL_RANGE] = (int32_t)(m->nrange4 + (uint64_t)i);
        }
        i = floor_u128(m->addr6, m->n6, 2, h, l);
        if (i >= 0 && m->addr6[2 * i] == h && m->addr6[2 * i + 1] == l) {
            choose(m, m->start6[i], m->start6[i + 1], clamp_time(time),
                   scope, out, flags);
        }
    }
}

/*
 *  lookup_group(m, addrs, g, times, tstep, scopes, sstep, out, flags);
 *
 *    Up to PSE_CTXMAP_GROUP lookups: the IPv4 ones search the address
 *    and range tables in lock step (floor_u32_group); IPv6 ones go one
 *    by one through lookup_one().
 */
static void
lookup_group(
    const pse_ctxmap_t *m,
    const uint8_t      *addrs,
    size_t              g,
    const int64_t      *times,
    size_t              tstep,
    const uint32_t     *scopes,
    size_t              sstep,
    int32_t            *out,
    uint8_t            *flags)
{
    uint32_t keys[PSE_CTXMAP_GROUP];
    size_t which[PSE_CTXMAP_GROUP];
    int64_t ai[PSE_CTXMAP_GROUP], ri[PSE_CTXMAP_GROUP];
    size_t lo[PSE_CTXMAP_GROUP], len[PSE_CTXMAP_GROUP];
    size_t k, nv4 = 0;
    int r;

    for (k = 0; k < g; k++) {
        const uint8_t *a = addrs + 16 * k;
        if (is_v4mapped(a)) {
            keys[nv4] = load_be32(a + 12);
            which[nv4++] = k;
        } else {
            lookup_one(m, a, times[k * tstep], scopes[k * sstep],
                       out + (size_t)NREL * k, flags + k);
        }
    }
    if (nv4 == 0) {
        return;
    }
    for (k = 0; k < nv4; k++) {
        span4(m, keys[k], lo + k, len + k);
    }
    search_group(m->addr4, 1, keys, lo, len, ai, nv4, 1);
    for (k = 0; k < nv4; k++) {
        if (ai[k] >= 0) {
            __builtin_prefetch(m->start4 + ai[k]);
        }
    }
    for (k = 0; k < nv4; k++) {
        rspan4(m, keys[k], lo + k, len + k);
    }
    search_group(m->range4, 3, keys, lo, len, ri, nv4, 0);
    for (k = 0; k < nv4; k++) {
        if (ai[k] >= 0) {
            __builtin_prefetch(m->bind + 4 * (size_t)m->start4[ai[k]]);
        }
    }
    for (k = 0; k < nv4; k++) {
        size_t j = which[k];
        int32_t *o = out + (size_t)NREL * j;

        for (r = 0; r < NREL; r++) {
            o[r] = PSE_CTXMAP_ROW_NONE;
        }
        flags[j] = 0;
        if (ri[k] >= 0 && m->range4[3 * ri[k] + 1] >= keys[k]) {
            o[PSE_CTXMAP_REL_RANGE] = (int32_t)ri[k];
        }
        if (ai[k] >= 0) {
            choose(m, m->start4[ai[k]], m->start4[ai[k] + 1],
                   clamp_time(times[j * tstep]), scopes[j * sstep], o,
                   flags + j);
        }
    }
}

/*
 *  status = pse_ctxmap_lookup(...);  see pse_ctxmap.h
 */
int
pse_ctxmap_lookup(
    const pse_ctxmap_t *map,
    const uint8_t      *addrs,
    size_t              naddrs,
    const int64_t      *times,
    size_t              ntimes,
    const uint32_t     *scopes,
    size_t              nscopes,
    int32_t            *rows,
    uint8_t            *flags)
{
    size_t i;
    size_t tstep = (ntimes == 1) ? 0 : 1;
    size_t sstep = (nscopes == 1) ? 0 : 1;

    if (map == NULL || !map->opened) {
        return PSE_ERR_ARG;
    }
    if (naddrs == 0) {
        return PSE_OK;
    }
    if ((ntimes != 1 && ntimes != naddrs)
        || (nscopes != 1 && nscopes != naddrs)
        || addrs == NULL || times == NULL || scopes == NULL
        || rows == NULL || flags == NULL)
    {
        return PSE_ERR_ARG;
    }
    for (i = 0; i < naddrs; i += PSE_CTXMAP_GROUP) {
        size_t g = naddrs - i < PSE_CTXMAP_GROUP ? naddrs - i
                                                 : PSE_CTXMAP_GROUP;
        lookup_group(map, addrs + 16 * i, g, times + i * tstep, tstep,
                     scopes + i * sstep, sstep, rows + (size_t)NREL * i,
                     flags + i);
    }
    return PSE_OK;
}

/*
 *  status = pse_ctxmap_lookup_pair(...);  see pse_ctxmap.h
 */
int
pse_ctxmap_lookup_pair(
    const pse_ctxmap_t *map,
    const uint8_t      *sip_dip,
    int64_t             time,
    uint32_t            scope,
    int32_t            *rows,
    uint8_t            *flags)
{
    if (map == NULL || !map->opened || sip_dip == NULL || rows == NULL
        || flags == NULL)
    {
        return PSE_ERR_ARG;
    }
    lookup_one(map, sip_dip, time, scope, rows, flags);
    lookup_one(map, sip_dip + 16, time, scope, rows + NREL, flags + 1);
    return PSE_OK;
}

/*
 *  ctx = range_ctx(m, row);
 *
 *    Context of a RANGE result row: RANGE4 rows come first, then RANGE6.
 */
static inline uint32_t
range_ctx(
    const pse_ctxmap_t *m,
    uint32_t            row)
{
    if (row < m->nrange4) {
        return m->range4[3 * (size_t)row + 2];
    }
    return (uint32_t)m->range6[5 * (size_t)(row - m->nrange4) + 4];
}

static inline uint32_t
field_value(
    const pse_ctxmap_t *m,
    uint32_t            ctx,
    const uint32_t     *fe)
{
    uint32_t v = m->ctx[(size_t)ctx * m->ctx_width + fe[2]];

    if (fe[1] != 0) {
        v = m->group[fe[1]][(size_t)v * m->group_w[fe[1]] + fe[3]];
    }
    return v;
}

/*
 *  value = resolve_one(m, rows, flags, fe);
 *
 *    The precedence rule for one field of one unambiguous lookup result
 *    (rows chosen in one scope): a current binding beats a stale one;
 *    among current ones interface > inventory > service; among stale
 *    ones the most recently seen; ip-ranges last.
 */
static inline uint32_t
resolve_one(
    const pse_ctxmap_t *m,
    const int32_t      *rows,
    uint8_t             flags,
    const uint32_t     *fe)
{
    static const int order[3] = {
        PSE_CTXMAP_REL_IFACE, PSE_CTXMAP_REL_ENI, PSE_CTXMAP_REL_SVC
    };
    uint32_t best = 0, best_last = 0;
    int k, have = 0;

    for (k = 0; k < 3; k++) {
        int r = order[k];
        int32_t row = rows[r];
        const uint32_t *b;
        uint32_t v;

        if (row < 0) {
            continue;
        }
        b = m->bind + 4 * (size_t)row;
        v = field_value(m, b[3] & CTX_MASK, fe);
        if (v == 0) {
            continue;
        }
        if (!(flags & (1u << r))) {
            return v;
        }
        if (!have || b[2] > best_last) {
            best = v;
            best_last = b[2];
            have = 1;
        }
    }
    if (have) {
        return best;
    }
    if (rows[PSE_CTXMAP_REL_RANGE] >= 0) {
        return field_value(
            m, range_ctx(m, (uint32_t)rows[PSE_CTXMAP_REL_RANGE]), fe);
    }
    return 0;
}

/*
 *  mask_rows(rows, relations);
 *
 *    Forget the answers of relations whose bit is clear in 'relations'.
 */
static inline void
mask_rows(
    int32_t            *rows,
    uint32_t            relations)
{
    int r;

    for (r = 0; r < NREL; r++) {
        if (!(relations & (1u << r))) {
            rows[r] = PSE_CTXMAP_ROW_NONE;
        }
    }
}

/*
 *  found = address_span(m, addr, &lo, &hi);
 *
 *    The BIND rows [lo, hi) of address 'addr'; 0 when it has none.
 */
static int
address_span(
    const pse_ctxmap_t *m,
    const uint8_t      *a,
    uint32_t           *lo,
    uint32_t           *hi)
{
    int64_t i;

    if (is_v4mapped(a)) {
        uint32_t v = load_be32(a + 12);
        size_t from, len;

        span4(m, v, &from, &len);
        search_group(m->addr4, 1, &v, &from, &len, &i, 1, 1);
        if (i < 0) {
            return 0;
        }
        *lo = m->start4[i];
        *hi = m->start4[i + 1];
    } else {
        uint64_t h = load_be64(a), l = load_be64(a + 8);

        i = floor_u128(m->addr6, m->n6, 2, h, l);
        if (i < 0 || m->addr6[2 * i] != h || m->addr6[2 * i + 1] != l) {
            return 0;
        }
        *lo = m->start6[i];
        *hi = m->start6[i + 1];
    }
    return 1;
}

/*
 *  resolve_candidates(m, addr, t, range_row, relations, fields, nfields,
 *                     values);
 *
 *    Fields of an address that an unscoped lookup found bound in several
 *    VPCs.  Each such VPC is a candidate, answered as a lookup scoped to
 *    it would be (its bindings and the global ones, then ip-ranges); a
 *    field gets the value every candidate gives -- "no value" included --
 *    and PSE_CTXMAP_VALUE_AMBIGUOUS only when candidates disagree.  One
 *    choose() per candidate, whatever the number of fields.
 */
static void
resolve_candidates(
    const pse_ctxmap_t *m,
    const uint8_t      *a,
    uint32_t            t,
    int32_t             range_row,
    uint32_t            relations,
    const uint32_t     *fields,
    size_t              nfields,
    uint32_t           *values)
{
    uint32_t lo, hi, i, prev = 0;
    int first = 1;
    size_t k;

    if (!address_span(m, a, &lo, &hi)) {
        /* Unreachable for a flagged result; answer "ambiguous". */
        for (k = 0; k < nfields; k++) {
            values[k] = PSE_CTXMAP_VALUE_AMBIGUOUS;
        }
        return;
    }
    for (i = lo; i < hi; i++) {
        const uint32_t *row = m->bind + 4 * (size_t)i;
        int32_t rows[NREL];
        uint8_t flags = 0;
        int r;

        /* Rows are sorted by scope within an address, so each VPC is
         * met once; were they not, a repeat would only agree again. */
        if (row[0] == 0 || row[1] > t || row[0] == prev) {
            continue;
        }
        prev = row[0];
        for (r = 0; r < NREL; r++) {
            rows[r] = PSE_CTXMAP_ROW_NONE;
        }
        rows[PSE_CTXMAP_REL_RANGE] = range_row;
        choose(m, lo, hi, t, row[0], rows, &flags);
        mask_rows(rows, relations);
        for (k = 0; k < nfields; k++) {
            uint32_t v = resolve_one(m, rows, flags,
                                     m->fields + 4 * (size_t)fields[k]);
            if (first) {
                values[k] = v;
            } else if (values[k] != v) {
                values[k] = PSE_CTXMAP_VALUE_AMBIGUOUS;
            }
        }
        first = 0;
    }
}

/*
 *  address_values(m, addr, t, rows, flags, relations, fields, nfields,
 *                 values);
 *
 *    Resolve 'nfields' fields of one lookup result ('rows' and 'flags'
 *    of address 'addr' at time 't'; 'rows' may be modified).
 */
static inline void
address_values(
    const pse_ctxmap_t *m,
    const uint8_t      *a,
    uint32_t            t,
    int32_t            *rows,
    uint8_t             flags,
    uint32_t            relations,
    const uint32_t     *fields,
    size_t              nfields,
    uint32_t           *values)
{
    size_t k;

    if (flags & PSE_CTXMAP_FLAG_AMBIGUOUS) {
        resolve_candidates(m, a, t, rows[PSE_CTXMAP_REL_RANGE], relations,
                           fields, nfields, values);
        return;
    }
    if (relations != PSE_CTXMAP_RESOLVE_ALL) {
        mask_rows(rows, relations);
    }
    for (k = 0; k < nfields; k++) {
        values[k] = resolve_one(m, rows, flags,
                                m->fields + 4 * (size_t)fields[k]);
    }
}

static int
check_fields(
    const pse_ctxmap_t *map,
    const uint32_t     *fields,
    size_t              nfields)
{
    size_t k;

    for (k = 0; k < nfields; k++) {
        if (fields[k] >= map->nfields) {
            return PSE_ERR_ARG;
        }
    }
    return PSE_OK;
}

/*
 *  status = pse_ctxmap_values(...);  see pse_ctxmap.h
 */
int
pse_ctxmap_values(
    const pse_ctxmap_t *map,
    const uint8_t      *addrs,
    size_t              naddrs,
    const int64_t      *times,
    size_t              ntimes,
    const uint32_t     *scopes,
    size_t              nscopes,
    const uint32_t     *fields,
    size_t              nfields,
    uint32_t            relations,
    uint32_t           *values)
{
    int32_t rows[PSE_CTXMAP_GROUP * NREL];
    uint8_t flags[PSE_CTXMAP_GROUP];
    size_t i, k;
    size_t tstep = (ntimes == 1) ? 0 : 1;
    size_t sstep = (nscopes == 1) ? 0 : 1;

    if (map == NULL || !map->opened
        || (relations & ~((1u << NREL) - 1u)) != 0)
    {
        return PSE_ERR_ARG;
    }
    if (naddrs == 0 || nfields == 0) {
        return PSE_OK;
    }
    if ((ntimes != 1 && ntimes != naddrs)
        || (nscopes != 1 && nscopes != naddrs)
        || addrs == NULL || times == NULL || scopes == NULL
        || fields == NULL || values == NULL
        || check_fields(map, fields, nfields) != PSE_OK)
    {
        return PSE_ERR_ARG;
    }
    for (i = 0; i < naddrs; i += PSE_CTXMAP_GROUP) {
        size_t g = naddrs - i < PSE_CTXMAP_GROUP ? naddrs - i
                                                 : PSE_CTXMAP_GROUP;
        lookup_group(map, addrs + 16 * i, g, times + i * tstep, tstep,
                     scopes + i * sstep, sstep, rows, flags);
        for (k = 0; k < g; k++) {
            size_t j = i + k;
            address_values(map, addrs + 16 * j,
                           clamp_time(times[j * tstep]),
                           rows + (size_t)NREL * k, flags[k], relations,
                           fields, nfields, values + j * nfields);
        }
    }
    return PSE_OK;
}

/*
 *  status = pse_ctxmap_pair_values(...);  see pse_ctxmap.h
 */
int
pse_ctxmap_pair_values(
    const pse_ctxmap_t *map,
    const uint8_t      *sip_dip,
    int64_t             time,
    uint32_t            scope,
    const uint32_t     *fields,
    size_t              nfields,
    uint32_t           *values)
{
    int32_t rows[2 * NREL];
    uint8_t flags[2];
    uint32_t t = clamp_time(time);

    if (map == NULL || !map->opened || sip_dip == NULL
        || (nfields != 0 && (fields == NULL || values == NULL))
        || check_fields(map, fields, nfields) != PSE_OK)
    {
        return PSE_ERR_ARG;
    }
    lookup_one(map, sip_dip, time, scope, rows, flags);
    lookup_one(map, sip_dip + 16, time, scope, rows + NREL, flags + 1);
    address_values(map, sip_dip, t, rows, flags[0], PSE_CTXMAP_RESOLVE_ALL,
                   fields, nfields, values);
    address_values(map, sip_dip + 16, t, rows + NREL, flags[1],
                   PSE_CTXMAP_RESOLVE_ALL, fields, nfields,
                   values + nfields);
    return PSE_OK;
}

/*
 *  c = cmp_string(m, sid, text, len);
 *
 *    Byte order comparison of string 'sid' with 'text'.
 */
static int
cmp_string(
    const pse_ctxmap_t *m,
    uint32_t            sid,
    const uint8_t      *text,
    size_t              len)
{
    size_t sl = m->stroff[sid + 1] - m->stroff[sid];
    size_t lmin = sl < len ? sl : len;
    int c = (lmin == 0) ? 0 : memcmp(m->strdata + m->stroff[sid], text, lmin);

    if (c != 0) {
        return c;
    }
    return (sl < len) ? -1 : (sl > len);
}

/*
 *  status = pse_ctxmap_find_string(...);  see pse_ctxmap.h
 */
int
pse_ctxmap_find_string(
    const pse_ctxmap_t *map,
    const uint8_t      *text,
    size_t              len,
    uint32_t           *sid)
{
    uint32_t lo, hi;

    if (map == NULL || !map->opened || sid == NULL
        || (text == NULL && len != 0))
    {
        return PSE_ERR_ARG;
    }
    lo = 0;
    hi = map->nstr;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = cmp_string(map, mid, text, len);
        if (c == 0) {
            *sid = mid;
            return PSE_OK;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *sid = PSE_CTXMAP_NOT_FOUND;
    return PSE_OK;
}

/*
 *  status = pse_ctxmap_value_rows(...);  see pse_ctxmap.h
 *
 *    Two sequential passes, no index: mark the contexts (of the asked
 *    relations) holding the value, then collect the BIND rows of marked
 *    contexts.  Value queries serve exports and start-up, not records.
 */
int
pse_ctxmap_value_rows(
    const pse_ctxmap_t *map,
    uint32_t            field,
    uint32_t            value,
    uint32_t            relations,
    uint32_t           *rows,
    size_t              cap,
    size_t             *needed)
{
    const uint32_t *fe;
    uint8_t *marked;
    uint32_t c, i;
    size_t n = 0, hits = 0;

    if (map == NULL || !map->opened || needed == NULL
        || field >= map->nfields || (cap != 0 && rows == NULL))
    {
        return PSE_ERR_ARG;
    }
    *needed = 0;
    if (value == 0 || map->nctx == 0 || map->nbind == 0) {
        return PSE_OK;      /* "no value" is not indexed: no rows */
    }
    marked = (uint8_t *)calloc(((size_t)map->nctx + 7) / 8, 1);
    if (marked == NULL) {
        return PSE_ERR_NOMEM;
    }
    fe = map->fields + 4 * (size_t)field;
    for (c = 0; c < map->nctx; c++) {
        uint32_t rel = map->ctx[(size_t)c * map->ctx_width] & 0xFFu;
        if ((relations & (1u << rel)) && field_value(map, c, fe) == value) {
            marked[c >> 3] |= (uint8_t)(1u << (c & 7));
            hits++;
        }
    }
    for (i = 0; hits != 0 && i < map->nbind; i++) {
        c = map->bind[4 * (size_t)i + 3] & CTX_MASK;
        if (marked[c >> 3] & (1u << (c & 7))) {
            if (n < cap) {
                rows[n] = i;
            }
            n++;
        }
    }
    free(marked);
    *needed = n;
    return PSE_OK;
}

/*
 *  status = pse_ctxmap_row_addresses(...);  see pse_ctxmap.h
 */
int
pse_ctxmap_row_addresses(
    const pse_ctxmap_t *map,
    const uint32_t     *rows,
    size_t              n,
    uint8_t            *addrs)
{
    size_t i;

    if (map == NULL || !map->opened
        || (n != 0 && (rows == NULL || addrs == NULL)))
    {
        return PSE_ERR_ARG;
    }
    for (i = 0; i < n; i++) {
        uint32_t row = rows[i];
        uint8_t *a = addrs + 16 * i;
        int64_t j;

        if (row >= map->nbind) {
            return PSE_ERR_ARG;
        }
        if (row < map->start6[0]) {
            j = floor_u32(map->start4, map->n4, 1, row);
            memset(a, 0, 10);
            a[10] = 0xFF;
            a[11] = 0xFF;
            store_be32(a + 12, map->addr4[j]);
        } else {
            j = floor_u32(map->start6, map->n6, 1, row);
            store_be64(a, map->addr6[2 * j]);
            store_be64(a + 8, map->addr6[2 * j + 1]);
        }
    }
    return PSE_OK;
}
