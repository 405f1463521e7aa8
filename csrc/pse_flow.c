/* SPDX-License-Identifier: MIT */
/*
 *  pse_flow.c -- batch encode/decode of SiLK flow records (module
 *  pysilk_ext._flow).  Layouts: spec sections 3.3-3.5; read-side
 *  adjustments: spec 3.7.
 *
 *  The in-memory row (FLOW_DTYPE) is FT_RWIPV6ROUTING v1 in little-endian
 *  order, so that layout in a little-endian file is a copy plus the IPv4
 *  prefix fix-up, and a big-endian file reverses the bytes of each
 *  multi-byte integer field.  Rows and records are read and written with
 *  memcpy-based accessors: no alignment assumptions, no host-order
 *  assumptions.
 */
#include <string.h>

#include "pse_flow.h"

/*
 *  FLOW_DTYPE row layout (88 bytes), identical to FT_RWIPV6ROUTING v1:
 *
 *    0  i64 stime      16 u8  proto      24 u16 application
 *    8  u32 elapsed    17 u8  flowtype   26 u16 memo
 *   12  u16 sport      18 u16 sensor     28 u16 input
 *   14  u16 dport      20 u8  flags      30 u16 output
 *                      21 u8  init_flags 32 u32 packets
 *                      22 u8  rest_flags 36 u32 bytes
 *                      23 u8  tcp_state  40 sip[16] 56 dip[16] 72 nhip[16]
 */
#define R_STIME     0
#define R_ELAPSED   8
#define R_SPORT     12
#define R_DPORT     14
#define R_PROTO     16
#define R_FLOWTYPE  17
#define R_SENSOR    18
#define R_FLAGS     20
#define R_INIT      21
#define R_REST      22
#define R_STATE     23
#define R_APP       24
#define R_MEMO      26
#define R_INPUT     28
#define R_OUTPUT    30
#define R_PKTS      32
#define R_BYTES     36
#define R_SIP       40
#define R_DIP       56
#define R_NHIP      72

#define STATE_EXPANDED  0x01
#define STATE_UNUSED    0x06
#define STATE_IPV6      0x80
#define PROTO_ICMP      1
#define PROTO_TCP       6
#define PROTO_ICMPV6    58

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BE 1
#else
#define HOST_BE 0
#endif

/* ---------------------------------------------------------------------
 *  Accessors: ldN/stN take 'be' = 1 for big-endian bytes, 0 for little.
 */
static inline uint16_t
ld16(const uint8_t *p, int be)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return (be != HOST_BE) ? __builtin_bswap16(v) : v;
}

static inline uint32_t
ld32(const uint8_t *p, int be)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return (be != HOST_BE) ? __builtin_bswap32(v) : v;
}

static inline uint64_t
ld64(const uint8_t *p, int be)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return (be != HOST_BE) ? __builtin_bswap64(v) : v;
}

static inline void
st16(uint8_t *p, uint16_t v, int be)
{
    if (be != HOST_BE) {
        v = __builtin_bswap16(v);
    }
    memcpy(p, &v, 2);
}

static inline void
st32(uint8_t *p, uint32_t v, int be)
{
    if (be != HOST_BE) {
        v = __builtin_bswap32(v);
    }
    memcpy(p, &v, 4);
}

static inline void
st64(uint8_t *p, uint64_t v, int be)
{
    if (be != HOST_BE) {
        v = __builtin_bswap64(v);
    }
    memcpy(p, &v, 8);
}

/* Reverse the bytes of an n-byte field in place. */
static inline void
rev16(uint8_t *p)
{
    st16(p, ld16(p, 0), 1);
}

static inline void
rev32(uint8_t *p)
{
    st32(p, ld32(p, 0), 1);
}

static inline void
rev64(uint8_t *p)
{
    st64(p, ld64(p, 0), 1);
}

/*
 *  Byte-reverse the integer fields of the common 28-byte head shared by
 *  FT_RWIPV6ROUTING, FT_RWIPV6 and FT_RWGENERIC v5 (sTime .. memo).
 */
static inline void
reverse_head(uint8_t *p)
{
    rev64(p + R_STIME);
    rev32(p + R_ELAPSED);
    rev16(p + R_SPORT);
    rev16(p + R_DPORT);
    rev16(p + R_SENSOR);
    rev16(p + R_APP);
    rev16(p + R_MEMO);
}

/* Put the ::ffff: prefix before the last 4 bytes of a 16-byte field. */
static inline void
fix_mapped(uint8_t *addr)
{
    memset(addr, 0, 10);
    addr[10] = 0xFF;
    addr[11] = 0xFF;
}

/* Write ::ffff:<a.b.c.d> (a 16-byte field) from an IPv4 value. */
static inline void
put_mapped(uint8_t *addr, uint32_t ipv4)
{
    fix_mapped(addr);
    st32(addr + 12, ipv4, 1);
}

static inline int
is_mapped(const uint8_t *addr)
{
    static const uint8_t prefix[12] =
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    return 0 == memcmp(addr, prefix, 12);
}

/* ---------------------------------------------------------------------
 *  Read-side adjustments common to all layouts.  Returns 1 to keep the
 *  row, 0 to drop it (IPv6 policy).
 */
static inline int
finish_row(
    uint8_t            *row,
    unsigned int        options,
    pse_flow_stats_t   *stats)
{
    uint8_t state = row[R_STATE];
    uint8_t proto = row[R_PROTO];
    int v6 = (state & STATE_IPV6) != 0;

    /* EXPANDED fix-up for files written before SiLK 3.6 */
    if ((state & STATE_EXPANDED)
        && (proto != PROTO_TCP || (row[R_INIT] == 0 && row[R_REST] == 0)))
    {
        row[R_STATE] = state = (uint8_t)(state & ~STATE_EXPANDED);
        row[R_INIT] = 0;
        row[R_REST] = 0;
        ++stats->expanded_cleared;
    }

    /* ICMP type/code that landed in sPort */
    if (!(options & PSE_FLOW_ICMP_NOCHANGE)
        && (proto == PROTO_ICMP || (v6 && proto == PROTO_ICMPV6)))
    {
        uint16_t sport = ld16(row + R_SPORT, 0);
        if (sport != 0 && ld16(row + R_DPORT, 0) == 0) {
            st16(row + R_DPORT, sport, 0);
            st16(row + R_SPORT, 0, 0);
            ++stats->icmp_repaired;
        }
    }

    switch (options & PSE_FLOW_V6_MASK) {
      case PSE_FLOW_V6_IGNORE:
        if (v6) {
            ++stats->ipv6_dropped;
            return 0;
        }
        break;
      case PSE_FLOW_V6_ASV4:
        if (v6) {
            if (!is_mapped(row + R_SIP) || !is_mapped(row + R_DIP)
                || !is_mapped(row + R_NHIP))
            {
                ++stats->ipv6_dropped;
                return 0;
            }
            row[R_STATE] = (uint8_t)(state & ~STATE_IPV6);
            ++stats->ipv6_converted;
        }
        break;
      case PSE_FLOW_V6_FORCE:
        if (!v6) {
            row[R_STATE] = (uint8_t)(state | STATE_IPV6);
            ++stats->ipv4_converted;
        }
        break;
      case PSE_FLOW_V6_ONLY:
        if (!v6) {
            ++stats->ipv4_dropped;
            return 0;
        }
        break;
      default:
        break;
    }
    return 1;
}

/* ---------------------------------------------------------------------
 *  Decoders: one record 'r' -> one row 'row'.  'be' is the file order.
 */
static inline void
dec_ipv6routing_v1(const uint8_t *r, uint8_t *row, int be)
{
    memcpy(row, r, PSE_FLOW_ROW_SIZE);
    if (be) {
        reverse_head(row);
        rev16(row + R_INPUT);
        rev16(row + R_OUTPUT);
        rev32(row + R_PKTS);
        rev32(row + R_BYTES);
    }
    if (!(row[R_STATE] & STATE_IPV6)) {
        /* SiLK reads only the last 4 bytes of an IPv4 record's address */
        fix_mapped(row + R_SIP);
        fix_mapped(row + R_DIP);
        fix_mapped(row + R_NHIP);
    }
}

static inline uint16_t
clamp16(uint32_t v, pse_flow_stats_t *stats)
{
    if (v > UINT16_MAX) {
        ++stats->clamped;
        return UINT16_MAX;
    }
    return (uint16_t)v;
}

static inline uint32_t
clamp32(uint64_t v, pse_flow_stats_t *stats)
{
    if (v > UINT32_MAX) {
        ++stats->clamped;
        return UINT32_MAX;
    }
    return (uint32_t)v;
}

static inline void
dec_ipv6routing_v3(
    const uint8_t      *r,
    uint8_t            *row,
    int                 be,
    pse_flow_stats_t   *stats)
{
    memcpy(row, r, 28);
    if (be) {
        reverse_head(row);
    }
    st16(row + R_INPUT, clamp16(ld32(r + 28, be), stats), 0);
    st16(row + R_OUTPUT, clamp16(ld32(r + 96, be), stats), 0);
    st32(row + R_PKTS, clamp32(ld64(r + 32, be), stats), 0);
    st32(row + R_BYTES, clamp32(ld64(r + 40, be), stats), 0);
    if (row[R_STATE] & STATE_IPV6) {
        memcpy(row + R_SIP, r + 48, 16);
        memcpy(row + R_DIP, r + 64, 16);
        memcpy(row + R_NHIP, r + 80, 16);
    } else {
        put_mapped(row + R_SIP, ld32(r + 60, 1));
        put_mapped(row + R_DIP, ld32(r + 76, 1));
        put_mapped(row + R_NHIP, ld32(r + 92, 1));
    }
}

static inline void
dec_ipv6_v1(const uint8_t *r, uint8_t *row, int be)
{
    memcpy(row, r, 28);
    if (be) {
        reverse_head(row);
    }
    st16(row + R_INPUT, 0, 0);
    st16(row + R_OUTPUT, 0, 0);
    st32(row + R_PKTS, ld32(r + 28, be), 0);
    st32(row + R_BYTES, ld32(r + 32, be), 0);
    if (row[R_STATE] & STATE_IPV6) {
        memcpy(row + R_SIP, r + 36, 16);
        memcpy(row + R_DIP, r + 52, 16);
        memset(row + R_NHIP, 0, 16);
    } else {
        put_mapped(row + R_SIP, ld32(r + 48, 1));
        put_mapped(row + R_DIP, ld32(r + 64, 1));
        put_mapped(row + R_NHIP, 0);
    }
}

static inline void
dec_generic_v5(const uint8_t *r, uint8_t *row, int be)
{
    memcpy(row, r, 40);
    if (be) {
        reverse_head(row);
        rev16(row + R_INPUT);
        rev16(row + R_OUTPUT);
        rev32(row + R_PKTS);
        rev32(row + R_BYTES);
    }
    row[R_STATE] = (uint8_t)(row[R_STATE] & ~STATE_IPV6);
    put_mapped(row + R_SIP, ld32(r + 40, be));
    put_mapped(row + R_DIP, ld32(r + 44, be));
    put_mapped(row + R_NHIP, ld32(r + 48, be));
}

/* FT_RWGENERIC v2 (48 bytes) and v3/v4 (56 bytes, ms parts + app). */
static inline void
dec_generic_v2to4(const uint8_t *r, uint8_t *row, int be, int has_msec)
{
    uint32_t stime_s = ld32(r + 20, be);
    uint32_t elapsed_s = ld32(r + 24, be);
    uint16_t stime_ms = has_msec ? ld16(r + 48, be) : 0;
    uint16_t elapsed_ms = has_msec ? ld16(r + 50, be) : 0;

    memset(row, 0, PSE_FLOW_ROW_SIZE);
    put_mapped(row + R_SIP, ld32(r + 0, be));
    put_mapped(row + R_DIP, ld32(r + 4, be));
    st16(row + R_SPORT, ld16(r + 8, be), 0);
    st16(row + R_DPORT, ld16(r + 10, be), 0);
    put_mapped(row + R_NHIP, ld32(r + 12, be));
    st16(row + R_INPUT, ld16(r + 16, be), 0);
    st16(row + R_OUTPUT, ld16(r + 18, be), 0);
    st64(row + R_STIME, (uint64_t)stime_s * 1000u + stime_ms, 0);
    /* 32-bit arithmetic, as SiLK computes it */
    st32(row + R_ELAPSED, (uint32_t)(1000u * elapsed_s + elapsed_ms), 0);
    st32(row + R_PKTS, ld32(r + 28, be), 0);
    st32(row + R_BYTES, ld32(r + 32, be), 0);
    row[R_PROTO] = r[36];
    row[R_FLOWTYPE] = r[37];
    st16(row + R_SENSOR, ld16(r + 38, be), 0);
    row[R_FLAGS] = r[40];
    row[R_INIT] = r[41];
    row[R_REST] = r[42];
    row[R_STATE] = (uint8_t)(r[43] & ~STATE_IPV6);
    if (has_msec) {
        st16(row + R_APP, ld16(r + 52, be), 0);
    }
}

/* FT_RWGENERIC v0 (40 bytes) and v1 (37 bytes): seconds, 8-bit fields. */
static inline void
dec_generic_v0v1(const uint8_t *r, uint8_t *row, int be)
{
    memset(row, 0, PSE_FLOW_ROW_SIZE);
    put_mapped(row + R_SIP, ld32(r + 0, be));
    put_mapped(row + R_DIP, ld32(r + 4, be));
    st16(row + R_SPORT, ld16(r + 8, be), 0);
    st16(row + R_DPORT, ld16(r + 10, be), 0);
    row[R_PROTO] = r[12];
    row[R_FLAGS] = r[13];
    st16(row + R_INPUT, r[14], 0);
    st16(row + R_OUTPUT, r[15], 0);
    put_mapped(row + R_NHIP, ld32(r + 16, be));
    st64(row + R_STIME, (uint64_t)ld32(r + 20, be) * 1000u, 0);
    st32(row + R_PKTS, ld32(r + 24, be), 0);
    st32(row + R_BYTES, ld32(r + 28, be), 0);
    st32(row + R_ELAPSED, (uint32_t)(1000u * ld32(r + 32, be)), 0);
    st16(row + R_SENSOR, r[36], 0);
    row[R_FLOWTYPE] = 0xFF;     /* not stored: invalid flowtype */
}

size_t
pse_flow_record_size(
    int                 layout)
{
    switch (layout) {
      case PSE_FLOW_IPV6ROUTING_V1:
      case PSE_FLOW_IPV6ROUTING_V2: return 88;
      case PSE_FLOW_IPV6ROUTING_V3: return 100;
      case PSE_FLOW_IPV6_V1:        return 68;
      case PSE_FLOW_GENERIC_V0:     return 40;
      case PSE_FLOW_GENERIC_V1:     return 37;
      case PSE_FLOW_GENERIC_V2:     return 48;
      case PSE_FLOW_GENERIC_V3:
      case PSE_FLOW_GENERIC_V4:     return 56;
      case PSE_FLOW_GENERIC_V5:     return 52;
    }
    return 0;
}

/*
 *  The decode loop, instantiated per layout and byte order so that the
 *  compiler sees constants ('always_inline' + constant arguments).
 */
static inline __attribute__((always_inline)) size_t
decode_loop(
    int                 layout,
    int                 be,
    unsigned int        options,
    const uint8_t      *in,
    size_t              nrecs,
    uint8_t            *out,
    pse_flow_stats_t   *stats)
{
    size_t rsize = pse_flow_record_size(layout);
    size_t nout = 0;
    size_t i;

    for (i = 0; i < nrecs; ++i) {
        const uint8_t *r = in + i * rsize;
        uint8_t *row = out + nout * PSE_FLOW_ROW_SIZE;

        switch (layout) {
          case PSE_FLOW_IPV6ROUTING_V1:
            dec_ipv6routing_v1(r, row, be);
            break;
          case PSE_FLOW_IPV6ROUTING_V2:
            dec_ipv6routing_v1(r, row, be);
            st16(row + R_APP, 0, 0);
            break;
          case PSE_FLOW_IPV6ROUTING_V3:
            dec_ipv6routing_v3(r, row, be, stats);
            break;
          case PSE_FLOW_IPV6_V1:
            dec_ipv6_v1(r, row, be);
            break;
          case PSE_FLOW_GENERIC_V5:
            dec_generic_v5(r, row, be);
            break;
          case PSE_FLOW_GENERIC_V3:
          case PSE_FLOW_GENERIC_V4:
            dec_generic_v2to4(r, row, be, 1);
            break;
          case PSE_FLOW_GENERIC_V2:
            dec_generic_v2to4(r, row, be, 0);
            break;
          default:              /* GENERIC_V0, GENERIC_V1 */
            dec_generic_v0v1(r, row, be);
            break;
        }
        /* (v0/v1 have no tcp_state, so the EXPANDED fix-up is a no-op) */
        nout += (size_t)finish_row(row, options, stats);
    }
    return nout;
}

#define DECODE_CASE(m_layout)                                           \
    case m_layout:                                                      \
      n = (big_endian                                                   \
           ? decode_loop(m_layout, 1, options, in, nrecs, out, stats)   \
           : decode_loop(m_layout, 0, options, in, nrecs, out, stats)); \
      break

/*
 *  status = pse_flow_decode(...);  see pse_flow.h.
 */
int
pse_flow_decode(
    int                 layout,
    int                 big_endian,
    unsigned int        options,
    const uint8_t      *in,
    size_t              nrecs,
    uint8_t            *out,
    size_t             *nout,
    pse_flow_stats_t   *stats)
{
    size_t n = 0;

    *nout = 0;
    if ((options & PSE_FLOW_V6_MASK) > PSE_FLOW_V6_ONLY) {
        return PSE_ERR_ARG;
    }
    switch (layout) {
        DECODE_CASE(PSE_FLOW_IPV6ROUTING_V1);
        DECODE_CASE(PSE_FLOW_IPV6ROUTING_V2);
        DECODE_CASE(PSE_FLOW_IPV6ROUTING_V3);
        DECODE_CASE(PSE_FLOW_IPV6_V1);
        DECODE_CASE(PSE_FLOW_GENERIC_V0);
        DECODE_CASE(PSE_FLOW_GENERIC_V1);
        DECODE_CASE(PSE_FLOW_GENERIC_V2);
        DECODE_CASE(PSE_FLOW_GENERIC_V3);
        DECODE_CASE(PSE_FLOW_GENERIC_V4);
        DECODE_CASE(PSE_FLOW_GENERIC_V5);
      default:
        return PSE_ERR_ARG;
    }
    stats->records_in += nrecs;
    stats->records_out += n;
    *nout = n;
    return PSE_OK;
}

/* ---------------------------------------------------------------------
 *  Encoders: one row -> one record.
 */
static inline void
enc_ipv6routing_v1(const uint8_t *row, uint8_t *r, int be)
{
    memcpy(r, row, PSE_FLOW_ROW_SIZE);
    if (be) {
        reverse_head(r);
        rev16(r + R_INPUT);
        rev16(r + R_OUTPUT);
        rev32(r + R_PKTS);
        rev32(r + R_BYTES);
    }
    if (!(r[R_STATE] & STATE_IPV6)) {
        fix_mapped(r + R_SIP);
        fix_mapped(r + R_DIP);
        fix_mapped(r + R_NHIP);
    }
}

static inline void
enc_ipv6_v1(const uint8_t *row, uint8_t *r, int be)
{
    memcpy(r, row, 28);
    if (be) {
        reverse_head(r);
    }
    st32(r + 28, ld32(row + R_PKTS, 0), be);
    st32(r + 32, ld32(row + R_BYTES, 0), be);
    memcpy(r + 36, row + R_SIP, 16);
    memcpy(r + 52, row + R_DIP, 16);
    if (!(r[R_STATE] & STATE_IPV6)) {
        fix_mapped(r + 36);
        fix_mapped(r + 52);
    }
}

static inline void
enc_generic_v5(const uint8_t *row, uint8_t *r, int be)
{
    memcpy(r, row, 40);
    if (be) {
        reverse_head(r);
        rev16(r + R_INPUT);
        rev16(r + R_OUTPUT);
        rev32(r + R_PKTS);
        rev32(r + R_BYTES);
    }
    r[R_STATE] = (uint8_t)(r[R_STATE] & ~STATE_IPV6);
    st32(r + 40, ld32(row + R_SIP + 12, 1), be);
    st32(r + 44, ld32(row + R_DIP + 12, 1), be);
    st32(r + 48, ld32(row + R_NHIP + 12, 1), be);
}

/*
 *  Decide what the write path does with one row under 'policy'; the row
 *  may be copied to 'tmp' and modified.  Returns the row to encode, NULL
 *  to drop it, or 'refuse' (a sentinel) when the layout cannot hold it.
 */
static inline const uint8_t *
write_policy(
    const uint8_t      *row,
    uint8_t            *tmp,
    unsigned int        policy,
    int                 v4_only,
    const uint8_t      *refuse,
    pse_flow_stats_t   *stats)
{
    int v6 = (row[R_STATE] & STATE_IPV6) != 0;

    if (v6) {
        switch (policy) {
          case PSE_FLOW_V6_IGNORE:
            ++stats->ipv6_dropped;
            return NULL;
          case PSE_FLOW_V6_ASV4:
            if (!is_mapped(row + R_SIP) || !is_mapped(row + R_DIP)
                || !is_mapped(row + R_NHIP))
            {
                ++stats->ipv6_dropped;
                return NULL;
            }
            memcpy(tmp, row, PSE_FLOW_ROW_SIZE);
            tmp[R_STATE] = (uint8_t)(tmp[R_STATE] & ~STATE_IPV6);
            ++stats->ipv6_converted;
            return tmp;
          default:
            return v4_only ? refuse : row;
        }
    }
    switch (policy) {
      case PSE_FLOW_V6_ONLY:
        ++stats->ipv4_dropped;
        return NULL;
      case PSE_FLOW_V6_FORCE:
        if (v4_only) {
            return refuse;
        }
        memcpy(tmp, row, PSE_FLOW_ROW_SIZE);
        tmp[R_STATE] = (uint8_t)(tmp[R_STATE] | STATE_IPV6);
        fix_mapped(tmp + R_SIP);
        fix_mapped(tmp + R_DIP);
        fix_mapped(tmp + R_NHIP);
        ++stats->ipv4_converted;
        return tmp;
      default:
        return row;
    }
}

static inline __attribute__((always_inline)) int
encode_loop(
    int                 layout,
    int                 be,
    unsigned int        policy,
    const uint8_t      *in,
    size_t              nrecs,
    uint8_t            *out,
    size_t             *nout,
    pse_flow_stats_t   *stats)
{
    size_t rsize = pse_flow_record_size(layout);
    int v4_only = (layout == PSE_FLOW_GENERIC_V5);
    uint8_t tmp[PSE_FLOW_ROW_SIZE];
    const uint8_t refuse_mark = 0;
    size_t n = 0;
    size_t i;

    for (i = 0; i < nrecs; ++i) {
        const uint8_t *row = in + i * PSE_FLOW_ROW_SIZE;
        uint8_t *r = out + n * rsize;

        if (policy != PSE_FLOW_V6_MIX || v4_only) {
            row = write_policy(row, tmp, policy, v4_only, &refuse_mark,
                               stats);
            if (row == NULL) {
                continue;
            }
            if (row == &refuse_mark) {
                stats->first_refused = i;
                stats->records_in += i;
                stats->records_out += n;
                *nout = n;
                return PSE_ERR_RANGE;
            }
        }
        switch (layout) {
          case PSE_FLOW_IPV6ROUTING_V1:
            enc_ipv6routing_v1(row, r, be);
            break;
          case PSE_FLOW_IPV6_V1:
            enc_ipv6_v1(row, r, be);
            break;
          default:              /* PSE_FLOW_GENERIC_V5 */
            enc_generic_v5(row, r, be);
            break;
        }
        ++n;
    }
    stats->records_in += nrecs;
    stats->records_out += n;
    *nout = n;
    return PSE_OK;
}

#define ENCODE_CASE(m_layout)                                           \
    case m_layout:                                                      \
      return (big_endian                                                \
              ? encode_loop(m_layout, 1, policy, in, nrecs, out, nout,  \
                            stats)                                      \
              : encode_loop(m_layout, 0, policy, in, nrecs, out, nout,  \
                            stats))

/*
 *  status = pse_flow_encode(...);  see pse_flow.h.
 */
int
pse_flow_encode(
    int                 layout,
    int                 big_endian,
    unsigned int        options,
    const uint8_t      *in,
    size_t              nrecs,
    uint8_t            *out,
    size_t             *nout,
    pse_flow_stats_t   *stats)
{
    unsigned int policy = options & PSE_FLOW_V6_MASK;

    *nout = 0;
    if (policy > PSE_FLOW_V6_ONLY) {
        return PSE_ERR_ARG;
    }
    switch (layout) {
        ENCODE_CASE(PSE_FLOW_IPV6ROUTING_V1);
        ENCODE_CASE(PSE_FLOW_IPV6_V1);
        ENCODE_CASE(PSE_FLOW_GENERIC_V5);
      default:
        return PSE_ERR_UNSUPPORTED;
    }
}

/*
 *  pse_flow_normalize(rows, nrows, &stats);  see pse_flow.h.
 */
void
pse_flow_normalize(
    uint8_t            *rows,
    size_t              nrows,
    pse_flow_stats_t   *stats)
{
    size_t i;

    for (i = 0; i < nrows; ++i) {
        uint8_t *row = rows + i * PSE_FLOW_ROW_SIZE;
        uint8_t state = (uint8_t)(row[R_STATE] & ~STATE_UNUSED);

        if (row[R_PROTO] == PROTO_TCP && (row[R_INIT] | row[R_REST])) {
            row[R_FLAGS] = (uint8_t)(row[R_INIT] | row[R_REST]);
            state |= STATE_EXPANDED;
        } else {
            if (state & STATE_EXPANDED) {
                ++stats->expanded_cleared;
            }
            state = (uint8_t)(state & ~STATE_EXPANDED);
            row[R_INIT] = 0;
            row[R_REST] = 0;
        }
        row[R_STATE] = state;
        if (!(state & STATE_IPV6)) {
            fix_mapped(row + R_SIP);
            fix_mapped(row + R_DIP);
            fix_mapped(row + R_NHIP);
        }
        ++stats->records_in;
        ++stats->records_out;
    }
}
