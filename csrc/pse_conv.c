/* SPDX-License-Identifier: MIT */
/*
 *  pse_conv.c -- per-record conversion steps of rwvpc2silk (pse_conv.h).
 *
 *  Both functions mirror Python code that documents the meaning:
 *  pse_conv_records is records.py's to_records, pse_conv_classify the
 *  fact gathering of converter.py / classify.py (the rules themselves
 *  are a table the caller builds).  Constants below are layout.py's.
 */
#include <string.h>

#include "pse.h"
#include "pse_conv.h"

/* FLOW_DTYPE field offsets (flowrec.py). */
enum {
    OFF_STIME = 0, OFF_ELAPSED = 8, OFF_SPORT = 12, OFF_DPORT = 14,
    OFF_PROTO = 16, OFF_FLOWTYPE = 17, OFF_SENSOR = 18, OFF_FLAGS = 20,
    OFF_TCP_STATE = 23, OFF_MEMO = 26, OFF_INPUT = 28, OFF_OUTPUT = 30,
    OFF_SIP = 40, OFF_DIP = 56, OFF_NHIP = 72
};

/* layout.py */
#define MEMO_TCP_FLAGS_MISSING  0x0010u
#define MEMO_BYTES_MISSING      0x0020u
#define MEMO_DIRECTION_INFERRED 0x0040u
#define MEMO_NH_SRC             0x0080u
#define MEMO_NH_DST             0x0100u
#define MEMO_SRC_AWS_SERVICE    0x0200u
#define MEMO_DST_AWS_SERVICE    0x0400u
#define MEMO_ICMP_PORTS_SWAPPED 0x0800u
#define MEMO_TYPE_SHIFT         2
#define TYPE_FAMILY             0u
#define TYPE_EFA                1u
#define TYPE_MISSING            2u
#define TYPE_OTHER_FAMILY       3u
#define REASON_OTHER            3u
#define INPUT_INGRESS           1u
#define INPUT_EGRESS            2u
#define TCP_STATE_IPV6          0x80u
#define U32_MAX                 INT64_C(0xFFFFFFFF)
/* fields.py AddrType */
#define ADDR_TYPE_IPV4          1
#define ADDR_TYPE_IPV6          2
#define ADDR_TYPE_EFA           3

static inline void
put_le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void
put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t
get_le16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

/* An INT column's value, or `absent` when the log has no such field. */
static inline int64_t
col_or(const int64_t *col, size_t i, int64_t absent)
{
    return col != NULL ? col[i] : absent;
}

int
pse_conv_records(
    const struct pse_conv_columns  *c,
    size_t                          n,
    uint8_t                        *recs,
    int64_t                        *packets,
    int64_t                        *bytes,
    int64_t                        *issues)
{
    static const uint8_t v4_prefix[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF
    };
    size_t i;

    if (c == NULL || recs == NULL || packets == NULL || bytes == NULL
        || issues == NULL || c->start == NULL || c->end == NULL
        || c->sip == NULL || c->sip_family == NULL || c->dip == NULL
        || c->dip_family == NULL || c->src == NULL
        || c->src_family == NULL || c->dst == NULL
        || c->dst_family == NULL || c->src_rewritten == NULL
        || c->dst_rewritten == NULL || c->direction == NULL
        || c->inferred == NULL
        || (c->reason_codes != NULL && c->reason_table == NULL))
    {
        return PSE_ERR_ARG;
    }
    memset(issues, 0, sizeof(int64_t) * PSE_CONV_ISSUES);
    for (i = 0; i < n; ++i) {
        uint8_t *r = recs + i * PSE_CONV_RECORD_SIZE;
        uint32_t memo = 0;
        int64_t start = c->start[i];
        /* wrapping like NumPy's int64 arithmetic (no signed overflow) */
        int64_t elapsed =
            (int64_t)(((uint64_t)c->end[i] - (uint64_t)start) * 1000u);
        int64_t proto = col_or(c->protocol, i, 0);
        int64_t sport = col_or(c->srcport, i, 0);
        int64_t dport = col_or(c->dstport, i, 0);
        int64_t value;
        int nh_src = c->src_rewritten[i] != 0;
        int nh_dst = c->dst_rewritten[i] != 0;
        int egress = c->direction[i] == INPUT_EGRESS;
        int nh_family;
        int ipv6;
        int swap;

        memset(r, 0, PSE_CONV_RECORD_SIZE);
        put_le64(r + OFF_STIME, (uint64_t)start * 1000u);
        if (elapsed > U32_MAX) {
            issues[PSE_CONV_LONG_DURATION] += 1;
            elapsed = U32_MAX;
        }
        put_le32(r + OFF_ELAPSED, (uint32_t)elapsed);
        if (proto < 0) {
            issues[PSE_CONV_PROTO_MISSING] += 1;
            proto = 0;
        }
        if (sport < 0) {
            issues[PSE_CONV_SPORT_MISSING] += 1;
            sport = 0;
        }
        if (dport < 0) {
            issues[PSE_CONV_DPORT_MISSING] += 1;
            dport = 0;
        }
        r[OFF_PROTO] = (uint8_t)proto;
        r[OFF_FLOWTYPE] = 255;
        put_le16(r + OFF_SENSOR, 65535);

        /* addresses: nhIP is the interface side that AWS rewrote */
        if (nh_src && nh_dst) {
            issues[PSE_CONV_BOTH_REWRITTEN] += 1;
            nh_src = egress;
            nh_dst = !egress;
        }
        if (c->pkt_logged
            && (c->sip_family[i] == 0 || c->dip_family[i] == 0))
        {
            issues[PSE_CONV_PKT_ADDR_MISSING] += 1;
        }
        nh_family = nh_src ? c->src_family[i]
                           : (nh_dst ? c->dst_family[i] : 4);
        ipv6 = c->sip_family[i] == 6 || c->dip_family[i] == 6
               || nh_family == 6;
        memcpy(r + OFF_SIP, c->sip + i * 16, 16);
        memcpy(r + OFF_DIP, c->dip + i * 16, 16);
        if (nh_src) {
            memcpy(r + OFF_NHIP, c->src + i * 16, 16);
            memo |= MEMO_NH_SRC;
        } else if (nh_dst) {
            memcpy(r + OFF_NHIP, c->dst + i * 16, 16);
            memo |= MEMO_NH_DST;
        } else if (!ipv6) {
            memcpy(r + OFF_NHIP, v4_prefix, sizeof(v4_prefix));
        }
        r[OFF_TCP_STATE] = ipv6 ? TCP_STATE_IPV6 : 0;

        /* ICMP ports SiLK's reader would swap */
        swap = (proto == 1 || (proto == 58 && ipv6))
               && sport != 0 && dport == 0;
        if (swap) {
            memo |= MEMO_ICMP_PORTS_SWAPPED;
            dport = sport;
            sport = 0;
        }
        put_le16(r + OFF_SPORT, (uint32_t)sport);
        put_le16(r + OFF_DPORT, (uint32_t)dport);

        value = col_or(c->tcp_flags, i, -1);
        if (value < 0) {
            memo |= MEMO_TCP_FLAGS_MISSING;
        } else {
            r[OFF_FLAGS] = (uint8_t)(value & 0xFF);
        }

        value = col_or(c->packets, i, -1);
        if (value < 1) {
            issues[PSE_CONV_BAD_PACKETS] += 1;
            value = 1;
        }
        packets[i] = value;
        value = col_or(c->bytes, i, -1);
        if (value < 0) {
            memo |= MEMO_BYTES_MISSING;
            value = 0;
        }
        bytes[i] = value;

        put_le16(r + OFF_INPUT, c->direction[i]);
        if (c->inferred[i]) {
            memo |= MEMO_DIRECTION_INFERRED;
        }
        if (c->traffic_path != NULL) {
            value = c->traffic_path[i];
            if (value == 0) {
                issues[PSE_CONV_PATH_ZERO] += 1;
            }
            value = value < 0 ? 0 : (value > 65535 ? 65535 : value);
            put_le16(r + OFF_OUTPUT, (uint32_t)value);
        }
        if (c->type != NULL) {
            int64_t own = ipv6 ? ADDR_TYPE_IPV6 : ADDR_TYPE_IPV4;
            uint32_t code;

            value = c->type[i];
            if (value == 0) {
                code = TYPE_MISSING;
            } else if (value == ADDR_TYPE_EFA) {
                code = TYPE_EFA;
            } else if (value == own) {
                code = TYPE_FAMILY;
            } else {
                code = TYPE_OTHER_FAMILY;
            }
            memo |= code << MEMO_TYPE_SHIFT;
        }
        if (c->reason_codes != NULL) {
            uint32_t reason = c->reason_table[c->reason_codes[i]];

            if (reason == REASON_OTHER) {
                issues[PSE_CONV_UNKNOWN_REASON] += 1;
            }
            memo |= reason;
        }
        if (c->src_service != NULL && c->src_service[i] != 0) {
            memo |= MEMO_SRC_AWS_SERVICE;
        }
        if (c->dst_service != NULL && c->dst_service[i] != 0) {
            memo |= MEMO_DST_AWS_SERVICE;
        }
        put_le16(r + OFF_MEMO, memo);
    }
    return PSE_OK;
}

/* ::ffff:a.b.c.d? */
static inline int
is_v4_mapped(const uint8_t *a)
{
    static const uint8_t prefix[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF
    };
    return memcmp(a, prefix, sizeof(prefix)) == 0;
}

static inline uint32_t
v4_value(const uint8_t *a)
{
    return ((uint32_t)a[12] << 24) | ((uint32_t)a[13] << 16)
           | ((uint32_t)a[14] << 8) | (uint32_t)a[15];
}

/* classify.py's _NO_NETWORK: 0.0.0.0, 224.0.0.0/4, 255.255.255.255, ::,
 * ff00::/8. */
static int
on_no_network(const uint8_t *a)
{
    static const uint8_t zero[16] = {0};

    if (is_v4_mapped(a)) {
        uint32_t v = v4_value(a);
        return v == 0 || (v >> 28) == 0xE || v == 0xFFFFFFFFu;
    }
    return a[0] == 0xFF || memcmp(a, zero, sizeof(zero)) == 0;
}

static int
member_v4(const uint32_t *set, size_t n, uint32_t v)
{
    size_t lo = 0;
    size_t hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set[mid] < v) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && set[lo] == v;
}

static int
member_v6(const uint8_t *set, size_t n, const uint8_t *a)
{
    size_t lo = 0;
    size_t hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = memcmp(set + mid * 16, a, 16);
        if (cmp == 0) {
            return 1;
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 0;
}

static int
is_own(const struct pse_conv_lookup *k, const uint8_t *a)
{
    if (is_v4_mapped(a)) {
        return k->n_own_v4 != 0 && member_v4(k->own_v4, k->n_own_v4,
                                             v4_value(a));
    }
    return k->n_own_v6 != 0 && member_v6(k->own_v6, k->n_own_v6, a);
}

int
pse_conv_classify(
    const struct pse_conv_lookup   *k,
    uint8_t                        *recs,
    size_t                          n,
    const uint8_t                  *reject,
    const uint8_t                  *src_int,
    const uint8_t                  *dst_int,
    const uint8_t                  *src_aws,
    const uint8_t                  *dst_aws)
{
    size_t i;

    if (k == NULL || k->rules == NULL || k->web_ports == NULL
        || (k->n_own_v4 != 0 && k->own_v4 == NULL)
        || (k->n_own_v6 != 0 && k->own_v6 == NULL)
        || recs == NULL || reject == NULL)
    {
        return PSE_ERR_ARG;
    }
    for (i = 0; i < n; ++i) {
        uint8_t *r = recs + i * PSE_CONV_RECORD_SIZE;
        const uint8_t *sip = r + OFF_SIP;
        const uint8_t *dip = r + OFF_DIP;
        uint32_t proto = r[OFF_PROTO];
        uint32_t sport = get_le16(r + OFF_SPORT);
        uint32_t dport = get_le16(r + OFF_DPORT);
        uint32_t input = get_le16(r + OFF_INPUT);
        uint32_t memo = get_le16(r + OFF_MEMO);
        unsigned facts = 0;

        if (reject[i]) {
            facts |= PSE_CONV_FACT_REJECT;
        }
        if (input == INPUT_INGRESS) {
            facts |= PSE_CONV_FACT_INGRESS;
        } else if (input == INPUT_EGRESS) {
            facts |= PSE_CONV_FACT_EGRESS;
        }
        if (proto == 6
            && ((k->web_ports[sport >> 3] >> (sport & 7)) & 1
                || (k->web_ports[dport >> 3] >> (dport & 7)) & 1))
        {
            facts |= PSE_CONV_FACT_WEB;
        }
        if (proto == 1
            || (proto == 58 && (r[OFF_TCP_STATE] & TCP_STATE_IPV6)))
        {
            facts |= PSE_CONV_FACT_ICMP;
        }
        if ((src_int != NULL && src_int[i]) || is_own(k, sip)) {
            facts |= PSE_CONV_FACT_SRC_INT;
        }
        if ((dst_int != NULL && dst_int[i]) || is_own(k, dip)) {
            facts |= PSE_CONV_FACT_DST_INT;
        }
        if ((memo & MEMO_SRC_AWS_SERVICE) || (src_aws != NULL && src_aws[i])) {
            facts |= PSE_CONV_FACT_SRC_AWS;
        }
        if ((memo & MEMO_DST_AWS_SERVICE) || (dst_aws != NULL && dst_aws[i])) {
            facts |= PSE_CONV_FACT_DST_AWS;
        }
        if (on_no_network(sip)) {
            facts |= PSE_CONV_FACT_SRC_NONE;
        }
        if (on_no_network(dip)) {
            facts |= PSE_CONV_FACT_DST_NONE;
        }
        r[OFF_FLOWTYPE] = k->rules[facts];
    }
    return PSE_OK;
}
