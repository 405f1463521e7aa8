/* SPDX-License-Identifier: MIT */
/*
 *  pse_flow.h -- public C API of module pysilk_ext._flow: batch encode and
 *  decode of SiLK flow records.
 *
 *  The in-memory record is the 88-byte row of FLOW_DTYPE
 *  (pysilk_ext/silkfmt/flowrec.py): the FT_RWIPV6ROUTING v1 layout in
 *  little-endian order, addresses 16 bytes in network order, IPv4 records
 *  held as ::ffff:a.b.c.d with bit 7 of tcp_state clear.  The C reads and
 *  writes those rows with explicit little-endian accesses, so it is correct
 *  on any host.
 *
 *  Every function works on a whole batch (one cffi call per batch), never
 *  allocates, never prints, and keeps no state between calls.  Memory is
 *  owned by the caller: 'out' buffers are allocated by Python (numpy).
 */
#ifndef PSE_FLOW_H
#define PSE_FLOW_H

#include "pse.h"

/* Size of one FLOW_DTYPE row. */
#define PSE_FLOW_ROW_SIZE 88

/* A layout is (file format id << 8) | record version. */
#define PSE_FLOW_LAYOUT(fmt, ver) (((fmt) << 8) | (ver))
enum pse_flow_layout_en {
    PSE_FLOW_IPV6ROUTING_V1 = 0x0C01,   /* 88 bytes; read + write */
    PSE_FLOW_IPV6ROUTING_V2 = 0x0C02,   /* 88 bytes; read (application=0) */
    PSE_FLOW_IPV6ROUTING_V3 = 0x0C03,   /* 100 bytes; read (clamped) */
    PSE_FLOW_IPV6_V1 = 0x0B01,          /* 68 bytes; read + write */
    PSE_FLOW_GENERIC_V0 = 0x1600,       /* 40 bytes; read */
    PSE_FLOW_GENERIC_V1 = 0x1601,       /* 37 bytes; read */
    PSE_FLOW_GENERIC_V2 = 0x1602,       /* 48 bytes; read */
    PSE_FLOW_GENERIC_V3 = 0x1603,       /* 56 bytes; read */
    PSE_FLOW_GENERIC_V4 = 0x1604,       /* 56 bytes; read */
    PSE_FLOW_GENERIC_V5 = 0x1605        /* 52 bytes; read + write */
};

/*
 *  Options (bit field).  The IPv6 policy occupies bits 0-3 and means what
 *  SiLK's --ipv6-policy means; bit 4 turns off the ICMP sPort repair
 *  (SILK_ICMP_SPORT_HANDLER=none).
 */
enum pse_flow_option_en {
    PSE_FLOW_V6_MIX = 0,        /* keep IPv4 and IPv6 records as they are */
    PSE_FLOW_V6_IGNORE = 1,     /* drop IPv6 records */
    PSE_FLOW_V6_ASV4 = 2,       /* ::ffff: records -> IPv4, drop others */
    PSE_FLOW_V6_FORCE = 3,      /* IPv4 records -> IPv6 (::ffff:) */
    PSE_FLOW_V6_ONLY = 4,       /* drop IPv4 records */
    PSE_FLOW_V6_MASK = 0x0F,
    PSE_FLOW_ICMP_NOCHANGE = 0x10
};

/*
 *  What a batch call did; every counter is added to (callers may sum over
 *  batches).  first_refused is the input index of the first record an
 *  encoder refused (meaningful when the call returned PSE_ERR_RANGE).
 */
typedef struct pse_flow_stats_st {
    uint64_t    records_in;         /* records read from the input */
    uint64_t    records_out;        /* records written to the output */
    uint64_t    expanded_cleared;   /* read: stale EXPANDED bit cleared */
    uint64_t    icmp_repaired;      /* read: ICMP sPort moved to dPort */
    uint64_t    clamped;            /* read v3: values clamped to width */
    uint64_t    ipv6_converted;     /* ::ffff: IPv6 records made IPv4 */
    uint64_t    ipv4_converted;     /* IPv4 records made IPv6 (force) */
    uint64_t    ipv6_dropped;       /* IPv6 records dropped by policy */
    uint64_t    ipv4_dropped;       /* IPv4 records dropped by policy */
    uint64_t    first_refused;      /* encode: index of a refused record */
} pse_flow_stats_t;

/*
 *  size = pse_flow_record_size(layout);
 *
 *    Bytes per record of 'layout', or 0 when the layout is unknown.
 */
size_t
pse_flow_record_size(
    int                 layout);

/*
 *  status = pse_flow_decode(layout, big_endian, options, in, nrecs, out,
 *                           &nout, &stats);
 *
 *    Decode 'nrecs' records of 'layout' from 'in' (nrecs * record size
 *    bytes, file order big-endian when 'big_endian' is non-zero) into
 *    FLOW_DTYPE rows at 'out' (room for nrecs rows).  Applies SiLK's
 *    read-side adjustments: EXPANDED fix-up, ICMP sPort repair (unless
 *    PSE_FLOW_ICMP_NOCHANGE), v2 application := 0, v3 clamping, then the
 *    IPv6 policy, which may drop records.  '*nout' receives the number of
 *    rows written.  Returns PSE_OK, or PSE_ERR_ARG for an unknown layout.
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
    pse_flow_stats_t   *stats);

/*
 *  status = pse_flow_encode(layout, big_endian, options, in, nrecs, out,
 *                           &nout, &stats);
 *
 *    Encode 'nrecs' FLOW_DTYPE rows at 'in' into records of 'layout'
 *    (a writable layout) at 'out' (room for nrecs records).  IPv4 rows are
 *    written with the full ::ffff: prefix in 16-byte address fields.
 *
 *    FT_RWGENERIC v5 holds IPv4 only.  Options PSE_FLOW_V6_MIX (default,
 *    like a plain SiLK write) refuses any IPv6 row: the call stops with
 *    PSE_ERR_RANGE, stats->first_refused = its index and '*nout' = rows
 *    encoded before it.  PSE_FLOW_V6_ASV4 (like rwcat --ipv4-output)
 *    converts rows whose three addresses are in ::ffff:0:0/96 and drops
 *    (counts) the others.  PSE_FLOW_V6_IGNORE drops every IPv6 row.
 *    The IPv6-capable layouts store every row (policies IGNORE/ASV4/
 *    FORCE/ONLY apply as on read).
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
    pse_flow_stats_t   *stats);

/*
 *  pse_flow_normalize(rows, nrows, &stats);
 *
 *    Apply rwtuc's write-side rule to FLOW_DTYPE rows in place: TCP rows
 *    with initFlags or restFlags set get flags = init|rest and EXPANDED;
 *    other rows get init = rest = 0 and EXPANDED clear.  Also clears the
 *    unused tcp_state bits 1-2 and puts the ::ffff: prefix on IPv4 rows.
 *    stats->expanded_cleared counts rows whose EXPANDED bit was cleared.
 */
void
pse_flow_normalize(
    uint8_t            *rows,
    size_t              nrows,
    pse_flow_stats_t   *stats);

#endif /* PSE_FLOW_H */
