/* SPDX-License-Identifier: MIT */
/*
 *  pse_vpc.h -- public C API of module pysilk_ext._vpc: the batch
 *  tokeniser of AWS VPC Flow Log text.
 *
 *  One call turns a buffer of whole lines into typed columns (caller-
 *  allocated arrays, one stride of `cap` rows per column) plus a list of
 *  line events (bad lines, header lines, Transit Gateway records).  The
 *  layout of a line (which field is in which column, and its kind) is
 *  compiled once into an opaque parser handle; pysilk_ext/fields.py is
 *  the one table the Python side derives layouts from.
 *
 *  The handle owns the string dictionaries of its STR columns.  They
 *  copy each distinct value once and live as long as the handle, so that
 *  a value seen in an earlier call costs no Python work again: values of
 *  all STR columns are numbered together ("uids", 1, 2, ... in order of
 *  arrival; 0 = missing) and the caller keeps their text by uid, asking
 *  only for new ones (pse_vpc_dict_size, pse_vpc_dict_join).  Rows do
 *  not carry uids but per-batch codes: the caller starts each batch with
 *  pse_vpc_dict_begin, and the codes of that batch count 1, 2, ... per
 *  column in order of first use (0 = missing); pse_vpc_dict_batch maps
 *  them to uids.  So a batch's value list is as small as the batch,
 *  whatever the handle has seen before.  A handle must not be used by
 *  two threads at once.
 */
#ifndef PSE_VPC_H
#define PSE_VPC_H

#include "pse.h"

/* Column kinds; the first four equal fields.FieldKind. */
enum pse_vpc_kind_en {
    PSE_VPC_KIND_SKIP = 0,      /* token is ignored */
    PSE_VPC_KIND_INT = 1,       /* int64, -1 = missing */
    PSE_VPC_KIND_ADDR = 2,      /* 16 bytes + family (0, 4, 6) */
    PSE_VPC_KIND_ENUM = 3,      /* uint8 code, 0 = missing */
    PSE_VPC_KIND_STR = 4        /* uint32 dictionary code, 0 = missing */
};

/* Enumerations an ENUM column is parsed against. */
enum pse_vpc_enum_en {
    PSE_VPC_ENUM_ACTION = 1,
    PSE_VPC_ENUM_LOG_STATUS = 2,
    PSE_VPC_ENUM_FLOW_DIRECTION = 3,
    PSE_VPC_ENUM_ADDR_TYPE = 4
};

/* Enumeration codes; must equal the IntEnums of fields.py. */
enum pse_vpc_code_en {
    PSE_VPC_ACTION_ACCEPT = 1,
    PSE_VPC_ACTION_REJECT = 2,
    PSE_VPC_LOG_STATUS_OK = 1,
    PSE_VPC_LOG_STATUS_NODATA = 2,
    PSE_VPC_LOG_STATUS_SKIPDATA = 3,
    PSE_VPC_FLOW_DIRECTION_INGRESS = 1,
    PSE_VPC_FLOW_DIRECTION_EGRESS = 2,
    PSE_VPC_ADDR_TYPE_IPV4 = 1,
    PSE_VPC_ADDR_TYPE_IPV6 = 2,
    PSE_VPC_ADDR_TYPE_EFA = 3
};

/* Special meaning of an INT column. */
enum pse_vpc_role_en {
    PSE_VPC_ROLE_NONE = 0,
    PSE_VPC_ROLE_VERSION = 1,   /* checked against the declared version */
    PSE_VPC_ROLE_TIME = 2       /* epoch seconds; > 2^31-1 means ms */
};

/* Line events.  Codes >= PSE_VPC_EV_BAD_FIRST are bad lines. */
enum pse_vpc_event_en {
    PSE_VPC_EV_HEADER = 1,          /* a header line: parsing stops */
    PSE_VPC_EV_TGW = 2,             /* a Transit Gateway record */
    PSE_VPC_EV_BAD_FIRST = 3,
    PSE_VPC_EV_FIELD_COUNT = 3,     /* token count != column count */
    PSE_VPC_EV_BAD_INTEGER = 4,     /* not a decimal integer */
    PSE_VPC_EV_OUT_OF_RANGE = 5,    /* integer outside [lo, hi] */
    PSE_VPC_EV_BAD_ADDRESS = 6,     /* not an IPv4/IPv6 address */
    PSE_VPC_EV_BAD_ENUM = 7,        /* not a value of the enumeration */
    PSE_VPC_EV_NUL_BYTE = 8,        /* line holds a NUL byte */
    PSE_VPC_EV_LINE_TOO_LONG = 9,   /* line longer than max_line */
    PSE_VPC_EV_UNKNOWN_VERSION = 10,/* version value not a VPC version */
    PSE_VPC_EV_UNDECLARED_VERSION = 11, /* version above the format's */
    PSE_VPC_EV_BAD_UTF8 = 12        /* string field not valid UTF-8 */
};

/* Why pse_vpc_parse returned (pse_vpc_out_t.stop). */
enum pse_vpc_stop_en {
    PSE_VPC_STOP_END = 0,       /* the whole buffer was consumed */
    PSE_VPC_STOP_HEADER = 1,    /* after a header line (last event) */
    PSE_VPC_STOP_EVENTS = 2,    /* the event array is full */
    PSE_VPC_STOP_ROWS = 3       /* the row arrays are full */
};

/* Layout flags. */
#define PSE_VPC_F_TGW       0x01u   /* every record is a TGW record */
#define PSE_VPC_F_FUTURE    0x02u   /* format has unknown (newer) fields */
#define PSE_VPC_F_BASELINE  0x04u   /* portable code only (tests compare) */
#define PSE_VPC_F_NO_AVX512 0x08u   /* AVX2 at most (tests compare) */

/* Threshold above which start/end are read as milliseconds. */
#define PSE_VPC_SECONDS_MAX 2147483647LL

/* One column of a layout. */
typedef struct pse_vpc_column_st {
    uint8_t             kind;       /* pse_vpc_kind_en */
    uint8_t             enum_id;    /* pse_vpc_enum_en for ENUM */
    uint8_t             role;       /* pse_vpc_role_en for INT */
    uint8_t             reserved;
    uint32_t            slot;       /* index among columns of its kind */
    int64_t             lo;         /* INT: smallest valid value */
    int64_t             hi;         /* INT: largest valid value */
} pse_vpc_column_t;

/* One line event.  Offsets are relative to the buffer start. */
typedef struct pse_vpc_event_st {
    uint64_t            lineno;     /* line number of the line */
    uint64_t            line_off;   /* the line (without newline/CR) */
    uint64_t            tok_off;    /* the offending token, if any */
    uint32_t            line_len;
    uint32_t            tok_len;
    int32_t             column;     /* offending column, -1 for the line */
    uint32_t            code;       /* pse_vpc_event_en */
} pse_vpc_event_t;

/*
 *  Outputs and resumable state of pse_vpc_parse.  The caller allocates
 *  every array; column `slot` of a kind starts at `base + slot * cap`
 *  (addresses: `addrs + slot * cap * 16`).  `rows`, `n_events`, `pos`,
 *  `lineno`, `lines` and `ms_times` are carried across calls.
 */
typedef struct pse_vpc_out_st {
    int64_t            *ints;
    uint8_t            *addrs;
    uint8_t            *fams;
    uint8_t            *enums;
    uint32_t           *strs;
    uint64_t           *linenos;    /* per row: its line number */
    uint64_t            cap;        /* rows available per column */
    uint64_t            rows;       /* rows written so far */
    pse_vpc_event_t    *events;
    uint32_t            ev_cap;
    uint32_t            n_events;
    uint64_t            pos;        /* offset of the next line */
    uint64_t            lineno;     /* its line number */
    uint64_t            lines;      /* lines consumed (all kinds) */
    uint64_t            ms_times;   /* records with ms start/end */
    uint32_t            stop;       /* pse_vpc_stop_en */
    uint32_t            reserved;
} pse_vpc_out_t;

typedef struct pse_vpc_parser_st pse_vpc_parser_t;

/*
 *  status = pse_vpc_parser_create(&parser, cols, ncols, names, names_len,
 *                                 declared_version, vpc_versions,
 *                                 tgw_versions, flags, max_line);
 *
 *    Compile a layout of `ncols` columns.  `names` holds every field
 *    name that may appear in a header line, separated by spaces; a line
 *    whose tokens are mostly such names is reported as a header.
 *    `vpc_versions` and `tgw_versions` are bit sets (bit v = version v).
 *    A record whose version column holds a TGW version is a TGW record;
 *    one that is not a VPC version, or exceeds `declared_version`, is bad
 *    (versions above `declared_version` pass when PSE_VPC_F_FUTURE is
 *    set).  Lines longer than `max_line` bytes are bad.  The caller
 *    frees the handle with pse_vpc_parser_free.
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
    uint32_t            max_line);

/*
 *  pse_vpc_parser_free(parser);
 *
 *    Free a handle and its dictionaries; accepts NULL.
 */
void
pse_vpc_parser_free(
    pse_vpc_parser_t   *parser);

/*
 *  status = pse_vpc_parse(parser, buf, len, out);
 *
 *    Parse lines of buf[out->pos, len) until the buffer ends, a header
 *    line is seen, or an output array is full (out->stop says which).
 *    Good records are appended at row out->rows; other lines add an
 *    event.  Empty lines are skipped (but counted in out->lines).  The
 *    buffer may be freed once the call returns (nothing refers to it).
 *    PSE_ERR_NOMEM (or PSE_ERR_RANGE) when a dictionary cannot grow.
 */
int
pse_vpc_parse(
    pse_vpc_parser_t   *parser,
    const uint8_t      *buf,
    size_t              len,
    pse_vpc_out_t      *out);

/*
 *  pse_vpc_dict_begin(parser);
 *
 *    Start a batch: the next rows' STR codes count from 1 again.  (The
 *    dictionaries keep their values.)
 */
void
pse_vpc_dict_begin(
    pse_vpc_parser_t   *parser);

/*
 *  pse_vpc_dict_reset(parser);
 *
 *    Forget every value of every STR column (to bound memory), and start
 *    a batch.  Uids are given from 1 again.
 */
void
pse_vpc_dict_reset(
    pse_vpc_parser_t   *parser);

/*
 *  count = pse_vpc_dict_size(parser);
 *
 *    Return the number of uids given so far, 0 (missing) included.
 */
uint32_t
pse_vpc_dict_size(
    const pse_vpc_parser_t *parser);

/*
 *  status = pse_vpc_dict_join(parser, first, dst, cap, &needed);
 *
 *    Copy the values of uids first.. (first >= 1), joined by newlines,
 *    into dst.  *needed receives the size; PSE_ERR_BUFFER when cap is
 *    smaller.  (One copy and one decode per batch of new values beats a
 *    decode per value.)
 */
int
pse_vpc_dict_join(
    const pse_vpc_parser_t *parser,
    uint32_t            first,
    uint8_t            *dst,
    size_t              cap,
    size_t             *needed);

/*
 *  status = pse_vpc_dict_batch(parser, counts, uids, cap, &needed);
 *
 *    Describe the current batch's codes: counts[k] receives the number
 *    of codes of STR column k (code 0 included), and uids[] the uid of
 *    each code, column after column (code 0: uid 0).  *needed receives
 *    the number of uids; PSE_ERR_BUFFER when cap is smaller (counts are
 *    written anyway).
 */
int
pse_vpc_dict_batch(
    const pse_vpc_parser_t *parser,
    uint32_t           *counts,
    uint32_t           *uids,
    uint64_t            cap,
    uint64_t           *needed);

/*
 *  n = pse_vpc_count_lines(buf, len);
 *
 *    Return the number of lines in buf (a last line without newline
 *    counts), so that the caller can size its row arrays.
 */
uint64_t
pse_vpc_count_lines(
    const uint8_t      *buf,
    size_t              len);

/*
 *  nbad = pse_vpc_parse_addrs(buf, len, n, addrs, fams, bad);
 *
 *    Parse `n` newline-separated address texts ("-" or empty = missing)
 *    into addrs (n * 16 bytes) and fams; bad[i] = 1 marks an invalid
 *    text (stored as missing).  Return the number of invalid texts, or
 *    UINT64_MAX if buf holds fewer than n lines.
 */
uint64_t
pse_vpc_parse_addrs(
    const uint8_t      *buf,
    size_t              len,
    uint64_t            n,
    uint8_t            *addrs,
    uint8_t            *fams,
    uint8_t            *bad);

#endif /* PSE_VPC_H */
