/* SPDX-License-Identifier: MIT */
/*
 *  pse_ctxmap.h -- public C API of module pysilk_ext._ctxmap: lookups in a
 *  memory-mapped cloud-context map (".vpcmap" file).
 *
 *  The map is built and written by pysilk_ext.ctxmap (Python); this C core
 *  only reads it.  The caller owns the buffer (usually an mmap of the file)
 *  and keeps it alive and unchanged while the handle is in use; the handle
 *  never copies or frees it.  pse_ctxmap_open() validates every table and
 *  every cross reference once, so that later lookups need no bounds checks
 *  and a truncated, corrupt or foreign file gives a status, never a crash.
 *
 *  FILE FORMAT, version 2 (all integers little-endian)
 *
 *    offset  size  field
 *         0     8  magic "\x89VPCMAP\n"
 *         8     4  format version (2)
 *        12     4  header size (64)
 *        16     8  file size in bytes (catches truncation)
 *        24     4  number of sections in the directory
 *        28     4  CRC-32 (zlib polynomial) of the directory bytes
 *        32     8  directory offset
 *        40     4  ctx width W (u32 columns per context row)
 *        44    20  reserved, zero
 *
 *    Directory: one 32-byte entry per section
 *         0     4  section id (PSE_CTXMAP_SEC_*)
 *         4     4  element size in bytes
 *         8     8  offset of the section (multiple of 8)
 *        16     8  element count
 *        24     8  reserved, zero
 *
 *    Sections (element layout):
 *      STROFF   u32 [nstr+1]   byte offsets into STRDATA; string 0 is ""
 *      STRDATA  u8  []         UTF-8 strings, sorted (bytewise), no NULs
 *      FIELDS   {name, group, ctx_col, grp_col} u32 x4 per field: value of
 *               field f for context c is CTX[c][ctx_col] when group == 0,
 *               else GROUP_g[CTX[c][ctx_col]][grp_col]
 *      CTX      u32 [nctx][W]  column 0 = relation | kind << 8; the others
 *               are string ids or group row references (per FIELDS)
 *      GROUP+g  u32 [n][w]     tuples of string ids shared by contexts
 *      ADDR4    u32 [n4]       distinct IPv4 addresses, ascending
 *      START4   u32 [n4+1]     first BIND row of each IPv4 address
 *      ADDR6    u64 [n6][2]    distinct IPv6 addresses (high, low) asc.
 *      START6   u32 [n6+1]     first BIND row of each IPv6 address
 *      BIND     {scope, first, last, ref} u32 x4: scope = string id of the
 *               VPC (0 = global), first/last seen (epoch seconds),
 *               ref = relation << 28 | context
 *      RANGE4   {lo, hi, ctx} u32 x3, ascending, disjoint (ip-ranges)
 *      RANGE6   {lo_hi, lo_lo, hi_hi, hi_lo} u64 x4 + {ctx, 0} u32 x2
 *      META     u8  []         JSON text describing the build
 *
 *    Section ids 12-15 held version 1's value index (INVDIR, INVPOST,
 *    CTXSTART, CTXBIND); version 2 drops it (value -> address queries
 *    scan CTX and BIND, see pse_ctxmap_value_rows()) and keeps the ids
 *    unused.
 *
 *  Resident size per binding: 16 (BIND) + 8 (ADDR4 and START4) for IPv4
 *  or + 20 for IPv6, plus the contexts (4 * W bytes each, 24 as written
 *  by pysilk_ext; shared by every binding with the same interface,
 *  instance, service and place) and strings.
 *
 *  Lookups search ADDR4 (exact) and RANGE4 (floor) in groups of 16 in
 *  lock step with prefetching, starting inside the /16 bucket of the
 *  address, so that big maps stay fast; IPv6 searches are plain binary
 *  searches (IPv6 addresses are few in VPC logs).
 */
#ifndef PSE_CTXMAP_H
#define PSE_CTXMAP_H

#include "pse.h"

#define PSE_CTXMAP_FORMAT_VERSION 2
#define PSE_CTXMAP_HEADER_SIZE 64
#define PSE_CTXMAP_DIRENT_SIZE 32

/* Relations, in the order of the columns of a lookup result. */
enum pse_ctxmap_relation_en {
    PSE_CTXMAP_REL_IFACE = 0,   /* interface's own address (logs) */
    PSE_CTXMAP_REL_PKT = 1,     /* packet address seen at an interface */
    PSE_CTXMAP_REL_SVC = 2,     /* AWS-service label from logs */
    PSE_CTXMAP_REL_ENI = 3,     /* ENI inventory (describe-network-...) */
    PSE_CTXMAP_REL_RANGE = 4,   /* ip-ranges.json prefix (no time) */
    PSE_CTXMAP_NREL = 5
};

/* Section ids of the directory. */
enum pse_ctxmap_section_en {
    PSE_CTXMAP_SEC_STROFF = 1,
    PSE_CTXMAP_SEC_STRDATA = 2,
    PSE_CTXMAP_SEC_FIELDS = 3,
    PSE_CTXMAP_SEC_CTX = 4,
    PSE_CTXMAP_SEC_ADDR4 = 5,
    PSE_CTXMAP_SEC_START4 = 6,
    PSE_CTXMAP_SEC_ADDR6 = 7,
    PSE_CTXMAP_SEC_START6 = 8,
    PSE_CTXMAP_SEC_BIND = 9,
    PSE_CTXMAP_SEC_RANGE4 = 10,
    PSE_CTXMAP_SEC_RANGE6 = 11,
    PSE_CTXMAP_SEC_META = 16,      /* 12-15: version 1 only, unused */
    PSE_CTXMAP_SEC_GROUP = 32,     /* + group number (1..7) */
    PSE_CTXMAP_MAX_GROUPS = 8
};

/* Special values of lookup results. */
#define PSE_CTXMAP_ROW_NONE (-1)         /* no binding at that time */
#define PSE_CTXMAP_ROW_AMBIGUOUS (-2)    /* bound in several VPCs (see
                                            pse_ctxmap_values()) */
#define PSE_CTXMAP_SCOPE_ANY 0xFFFFFFFFu /* unscoped lookup */
#define PSE_CTXMAP_SCOPE_NONE 0xFFFFFFFEu /* a scope not in the map */
#define PSE_CTXMAP_VALUE_AMBIGUOUS 0xFFFFFFFFu  /* candidates disagree */
/* Relations mask of pse_ctxmap_values(): every relation that supplies
 * values (interface, service, inventory, ip-ranges). */
#define PSE_CTXMAP_RESOLVE_ALL 0x1Du
#define PSE_CTXMAP_NOT_FOUND 0xFFFFFFFFu
/* Bit of a lookup's flags byte set when the address is ambiguous; bit r
 * (r < PSE_CTXMAP_RANGE) is set when relation r's answer is stale. */
#define PSE_CTXMAP_FLAG_AMBIGUOUS 0x80u

typedef struct pse_ctxmap_st pse_ctxmap_t;

/*
 *  status = pse_ctxmap_new(&map);
 *
 *    Allocate an empty handle.  Free it with pse_ctxmap_free().
 */
int
pse_ctxmap_new(
    pse_ctxmap_t      **out);

/*
 *  pse_ctxmap_free(map);
 *
 *    Free a handle (not the buffer it reads).  Accepts NULL.
 */
void
pse_ctxmap_free(
    pse_ctxmap_t       *map);

/*
 *  status = pse_ctxmap_open(map, buf, len);
 *
 *    Attach the handle to the map image 'buf' of 'len' bytes (owned by the
 *    caller, 8-byte aligned, kept alive and unchanged while in use) and
 *    validate it (one pass over the image).  For an IPv4 address table or
 *    ip-ranges table of 1024 or more entries the handle also allocates a
 *    /16 bucket index (256 KiB each), freed by pse_ctxmap_free().  Returns
 *    PSE_ERR_FORMAT (not a map), PSE_ERR_UNSUPPORTED (newer version),
 *    PSE_ERR_SHORT (truncated) or PSE_ERR_CORRUPT (inconsistent); then
 *    pse_ctxmap_detail() says what failed.
 */
int
pse_ctxmap_open(
    pse_ctxmap_t       *map,
    const uint8_t      *buf,
    size_t              len);

/*
 *  text = pse_ctxmap_detail(map);
 *
 *    The detail of the last failure of pse_ctxmap_open(); "" if none.
 *    Owned by the handle.
 */
const char *
pse_ctxmap_detail(
    const pse_ctxmap_t *map);

/*
 *  status = pse_ctxmap_section(map, id, &offset, &count, &elem_size);
 *
 *    Where section 'id' lies in the buffer (offset 0, count 0 when the
 *    section is absent).  Lets the Python side make zero-copy views.
 */
int
pse_ctxmap_section(
    const pse_ctxmap_t *map,
    uint32_t            id,
    uint64_t           *offset,
    uint64_t           *count,
    uint32_t           *elem_size);

/*
 *  status = pse_ctxmap_lookup(map, addrs, naddrs, times, ntimes, scopes,
 *                             nscopes, rows, flags);
 *
 *    Look up 'naddrs' addresses (16 bytes each, network order, IPv4 as
 *    ::ffff:a.b.c.d) at 'times' (epoch seconds) in 'scopes' (string id of
 *    a VPC, PSE_CTXMAP_SCOPE_ANY or PSE_CTXMAP_SCOPE_NONE).  'ntimes' and
 *    'nscopes' are either naddrs or 1 (one value for all).
 *
 *    Writes rows[i * PSE_CTXMAP_NREL + r]: the BIND row answering relation
 *    r (for PSE_CTXMAP_REL_RANGE: the RANGE4/RANGE6 row), or
 *    PSE_CTXMAP_ROW_NONE / PSE_CTXMAP_ROW_AMBIGUOUS; and flags[i].
 *
 *    Rules: a binding whose [first, last] holds the time answers (the one
 *    that started last when several do); otherwise the binding seen most
 *    recently before the time answers, flagged stale (it holds until the
 *    address is re-bound); before an address's first binding, none.  A
 *    scoped lookup uses the scope's bindings and global ones; when it has
 *    none it answers as an unscoped lookup.  An unscoped lookup of an
 *    address bound in more than one VPC by that time is ambiguous: every
 *    relation with a binding by then gets PSE_CTXMAP_ROW_AMBIGUOUS and
 *    the flag PSE_CTXMAP_FLAG_AMBIGUOUS is set (rows cannot hold one
 *    answer per VPC: resolve fields with pse_ctxmap_values(), which
 *    decides ambiguity per field).
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
    uint8_t            *flags);

/*
 *  status = pse_ctxmap_lookup_pair(map, sip_dip, time, scope, rows, flags);
 *
 *    One flow record: 'sip_dip' holds sIP then dIP (32 bytes).  Writes
 *    2 * PSE_CTXMAP_NREL rows (source first) and 2 flags.
 */
int
pse_ctxmap_lookup_pair(
    const pse_ctxmap_t *map,
    const uint8_t      *sip_dip,
    int64_t             time,
    uint32_t            scope,
    int32_t            *rows,
    uint8_t            *flags);

/*
 *  status = pse_ctxmap_values(map, addrs, naddrs, times, ntimes, scopes,
 *                             nscopes, fields, nfields, relations,
 *                             values);
 *
 *    Look up 'naddrs' addresses as pse_ctxmap_lookup() does and resolve
 *    'nfields' fields (indices into FIELDS) of each: values[i * nfields
 *    + k] = string id, 0 when no source has a value, or
 *    PSE_CTXMAP_VALUE_AMBIGUOUS.  'relations' is a mask of the relations
 *    allowed to supply values (bit 1 << r; PSE_CTXMAP_RESOLVE_ALL for
 *    the full rule; the packet relation never supplies one).
 *
 *    Precedence: a current binding beats a stale one; among equals
 *    interface (logs) > ENI inventory > service (logs); among stale ones
 *    the most recently seen; ip-ranges last.
 *
 *    Ambiguity is decided per field: when an unscoped lookup finds the
 *    address bound in several VPCs, each of those VPCs is a candidate,
 *    answered as a lookup scoped to it would be; a field gets the value
 *    all candidates agree on ("no value" included) and
 *    PSE_CTXMAP_VALUE_AMBIGUOUS only when they disagree.
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
    uint32_t           *values);

/*
 *  status = pse_ctxmap_pair_values(map, sip_dip, time, scope, fields,
 *                                  nfields, values);
 *
 *    pse_ctxmap_values() for one flow record in one call (the plug-in's
 *    per-record entry): values[k] for the source and values[nfields + k]
 *    for the destination, every relation allowed.
 */
int
pse_ctxmap_pair_values(
    const pse_ctxmap_t *map,
    const uint8_t      *sip_dip,
    int64_t             time,
    uint32_t            scope,
    const uint32_t     *fields,
    size_t              nfields,
    uint32_t           *values);

/*
 *  status = pse_ctxmap_find_string(map, text, len, &sid);
 *
 *    String id of 'text' (binary search), PSE_CTXMAP_NOT_FOUND if absent.
 */
int
pse_ctxmap_find_string(
    const pse_ctxmap_t *map,
    const uint8_t      *text,
    size_t              len,
    uint32_t           *sid);

/*
 *  status = pse_ctxmap_value_rows(map, field, value, relations, rows, cap,
 *                                 &needed);
 *
 *    The BIND rows (ascending) whose context holds string 'value' in
 *    field 'field', for the relations whose bit (1 << relation) is set
 *    in 'relations' -- leave PSE_CTXMAP_REL_PKT out to get only
 *    addresses owned by (or labelled with) the value.  Writes up to
 *    'cap' rows and sets 'needed' to the total; call again with a larger
 *    buffer when needed > cap.  There is no value index: each call scans
 *    the contexts and the BIND rows once (a few milliseconds per million
 *    bindings) and allocates one bit per context (PSE_ERR_NOMEM).
 */
int
pse_ctxmap_value_rows(
    const pse_ctxmap_t *map,
    uint32_t            field,
    uint32_t            value,
    uint32_t            relations,
    uint32_t           *rows,
    size_t              cap,
    size_t             *needed);

/*
 *  status = pse_ctxmap_row_addresses(map, rows, n, addrs);
 *
 *    The address (16 bytes) of each BIND row.  PSE_ERR_ARG for a row out
 *    of range.
 */
int
pse_ctxmap_row_addresses(
    const pse_ctxmap_t *map,
    const uint32_t     *rows,
    size_t              n,
    uint8_t            *addrs);

#endif /* PSE_CTXMAP_H */
