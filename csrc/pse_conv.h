/* SPDX-License-Identifier: MIT */
/*
 *  pse_conv.h -- public C API of module pysilk_ext._conv: the per-record
 *  steps of rwvpc2silk's conversion (pysilk_ext/convert), one pass over a
 *  batch instead of some fifty NumPy passes.
 *
 *  Records are FLOW_DTYPE rows (pysilk_ext/silkfmt/flowrec.py): 88 bytes,
 *  little-endian fields, addresses as 16 bytes in network order with IPv4
 *  as ::ffff:a.b.c.d.  The Python modules decide what the values mean
 *  (pysilk_ext/convert/layout.py, records.py, classify.py); this file only
 *  applies those decisions fast.  Every function takes the caller's
 *  arrays and retains nothing.
 */
#ifndef PSE_CONV_H
#define PSE_CONV_H

#include "pse.h"

/* Size of one FLOW_DTYPE record. */
#define PSE_CONV_RECORD_SIZE 88

/* Counters of pse_conv_records (RecordIssues reasons, records.py). */
enum pse_conv_issue_en {
    PSE_CONV_LONG_DURATION = 0,  /* duration above 49.7 days */
    PSE_CONV_PROTO_MISSING,      /* protocol - */
    PSE_CONV_SPORT_MISSING,      /* srcport - */
    PSE_CONV_DPORT_MISSING,      /* dstport - */
    PSE_CONV_BOTH_REWRITTEN,     /* srcaddr and dstaddr both differ */
    PSE_CONV_PKT_ADDR_MISSING,   /* pkt-srcaddr or pkt-dstaddr - */
    PSE_CONV_BAD_PACKETS,        /* packets 0 or - (stored as 1) */
    PSE_CONV_PATH_ZERO,          /* traffic-path 0 */
    PSE_CONV_UNKNOWN_REASON,     /* unknown reject-reason */
    PSE_CONV_ISSUES              /* number of counters */
};

/*
 *  The columns of the n selected rows.  INT columns are int64_t with -1
 *  for a '-'; a NULL pointer means the log has no such field.  Addresses
 *  are n x 16 bytes with one family byte per row (0 missing, 4, 6).
 */
struct pse_conv_columns {
    const int64_t  *start;          /* required */
    const int64_t  *end;            /* required */
    const int64_t  *protocol;
    const int64_t  *srcport;
    const int64_t  *dstport;
    const int64_t  *tcp_flags;
    const int64_t  *packets;
    const int64_t  *bytes;
    const int64_t  *traffic_path;
    const int64_t  *type;
    const uint32_t *reason_codes;   /* reject-reason string codes */
    const uint16_t *reason_table;   /* code -> RejectReason */
    const uint32_t *src_service;    /* pkt-src-aws-service codes */
    const uint32_t *dst_service;    /* pkt-dst-aws-service codes */
    const uint8_t  *sip;            /* packet-level endpoints: required */
    const uint8_t  *sip_family;
    const uint8_t  *dip;
    const uint8_t  *dip_family;
    const uint8_t  *src;            /* logged srcaddr/dstaddr: required */
    const uint8_t  *src_family;
    const uint8_t  *dst;
    const uint8_t  *dst_family;
    const uint8_t  *src_rewritten;  /* bool per row: required */
    const uint8_t  *dst_rewritten;
    const uint8_t  *direction;      /* input code per row: required */
    const uint8_t  *inferred;       /* bool per row: required */
    int             pkt_logged;     /* pkt-srcaddr or pkt-dstaddr logged */
};

/**
 *  status = pse_conv_records(cols, n, recs, packets, bytes, issues);
 *
 *    Fill n FLOW_DTYPE records (recs, n * 88 bytes, every byte written)
 *    as records.py's to_records documents: flowtype 255, sensor 65535,
 *    packets and bytes 0 -- their 64-bit values go to packets[] and
 *    bytes[] for the overflow policy.  issues[PSE_CONV_ISSUES] receives
 *    the counts of values SiLK cannot hold as they were.
 */
int
pse_conv_records(
    const struct pse_conv_columns  *cols,
    size_t                          n,
    uint8_t                        *recs,
    int64_t                        *packets,
    int64_t                        *bytes,
    int64_t                        *issues);

/*
 *  The per-record facts pse_conv_classify computes, as bits of an index
 *  into the caller's rule table (classify.py builds it from its rules).
 */
#define PSE_CONV_FACT_REJECT      0x001
#define PSE_CONV_FACT_INGRESS     0x002  /* input == 1 */
#define PSE_CONV_FACT_EGRESS      0x004  /* input == 2 */
#define PSE_CONV_FACT_WEB         0x008  /* TCP, sPort or dPort a web port */
#define PSE_CONV_FACT_ICMP        0x010  /* proto 1, or 58 in IPv6 */
#define PSE_CONV_FACT_SRC_INT     0x020
#define PSE_CONV_FACT_DST_INT     0x040
#define PSE_CONV_FACT_SRC_AWS     0x080
#define PSE_CONV_FACT_DST_AWS     0x100
#define PSE_CONV_FACT_SRC_NONE    0x200  /* on no network */
#define PSE_CONV_FACT_DST_NONE    0x400
#define PSE_CONV_FACTS            2048   /* rule table entries */

/*
 *  What classification looks up: the rule table, the web ports (a
 *  65536-bit map, bit p of byte p / 8) and the interface addresses
 *  learned so far, sorted (IPv4 as host-order uint32, others as 16-byte
 *  rows in memcmp order).
 */
struct pse_conv_lookup {
    const uint8_t  *rules;          /* PSE_CONV_FACTS flowtype ids */
    const uint8_t  *web_ports;      /* 8192 bytes */
    const uint32_t *own_v4;
    size_t          n_own_v4;
    const uint8_t  *own_v6;
    size_t          n_own_v6;
};

/**
 *  status = pse_conv_classify(lookup, recs, n, reject, src_int, dst_int,
 *                             src_aws, dst_aws);
 *
 *    Set the flowtype byte of n records from their facts.  An endpoint is
 *    internal when it is a learned interface address or its src_int /
 *    dst_int byte is set, AWS-service when its memo bit (0x200 / 0x400)
 *    or its src_aws / dst_aws byte is set; those four arrays may be NULL
 *    (nothing more known).  reject holds one bool per record.
 */
int
pse_conv_classify(
    const struct pse_conv_lookup   *lookup,
    uint8_t                        *recs,
    size_t                          n,
    const uint8_t                  *reject,
    const uint8_t                  *src_int,
    const uint8_t                  *dst_int,
    const uint8_t                  *src_aws,
    const uint8_t                  *dst_aws);

#endif /* PSE_CONV_H */
