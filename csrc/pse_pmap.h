/* SPDX-License-Identifier: MIT */
/*
 *  pse_pmap.h -- public C API of module pysilk_ext._pmap: the SiLK prefix
 *  map trie (build exactly like rwpmapbuild, validate, look up, walk) and
 *  the IPset payload codecs (normalise, CIDR decomposition, record
 *  versions 2, 3, 4 and 5).
 *
 *  Keys.  A 32-bit key is an IPv4 address or (protocol << 16 | port).  A
 *  128-bit key is passed as two uint64_t in native order, the upper half
 *  first ("hi, lo"); IPv4 in an IPv6 context is ::ffff:a.b.c.d.
 *
 *  IPset ranges.  A set is an array of n ranges of four uint64_t each:
 *  start_hi, start_lo, end_hi, end_lo (inclusive ends).  IPv4 sets use
 *  hi == 0 and values below 2^32.  Every function takes the caller's
 *  arrays; nothing is retained.
 *
 *  Memory.  The builder handle owns its node array; everything else is
 *  caller-allocated (two-call pattern: pass a NULL output to learn the
 *  size needed).
 */
#ifndef PSE_PMAP_H
#define PSE_PMAP_H

#include "pse.h"

/* Leaf marker of a prefix-map child word, and the "no value" leaf. */
#define PSE_PMAP_LEAF_BIT   0x80000000u
#define PSE_PMAP_NO_VALUE   0x7FFFFFFFu

/* Prefix-map builder (opaque). */
typedef struct pse_pmap_builder_st pse_pmap_builder_t;

/**
 *  status = pse_pmap_builder_create(&builder, key_bits);
 *
 *    Create a builder for 32- or 128-bit keys holding rwpmapbuild's
 *    initial tree: one node whose children are both leaf(0x7FFFFFFF).
 *    The caller frees it with pse_pmap_builder_free().
 */
int
pse_pmap_builder_create(
    pse_pmap_builder_t    **out,
    uint32_t                key_bits);

/**
 *  pse_pmap_builder_free(builder);
 *
 *    Free the builder; NULL is accepted.
 */
void
pse_pmap_builder_free(
    pse_pmap_builder_t     *builder);

/**
 *  status = pse_pmap_builder_set_default(builder, value);
 *
 *    Set both children of the root to leaf(value).  PSE_ERR_ARG when
 *    the tree is no longer untouched (SiLK's rule) or value > 0x7FFFFFFF.
 */
int
pse_pmap_builder_set_default(
    pse_pmap_builder_t     *builder,
    uint32_t                value);

/**
 *  status = pse_pmap_builder_add32(builder, lo, hi, values, n, &done);
 *
 *    Insert n ranges [lo[i], hi[i]] with label values[i], in order, with
 *    rwpmapbuild's algorithm (spec 4.3).  'done' receives the number
 *    inserted; on PSE_ERR_ARG range 'done' is invalid (lo > hi or value
 *    too large) and nothing after it was inserted.
 */
int
pse_pmap_builder_add32(
    pse_pmap_builder_t     *builder,
    const uint32_t         *lo,
    const uint32_t         *hi,
    const uint32_t         *values,
    size_t                  n,
    size_t                 *done);

/**
 *  status = pse_pmap_builder_add128(builder, lo, hi, values, n, &done);
 *
 *    As pse_pmap_builder_add32() for 128-bit keys; lo and hi hold 2*n
 *    uint64_t (hi half first).
 */
int
pse_pmap_builder_add128(
    pse_pmap_builder_t     *builder,
    const uint64_t         *lo,
    const uint64_t         *hi,
    const uint32_t         *values,
    size_t                  n,
    size_t                 *done);

/**
 *  count = pse_pmap_builder_node_count(builder);
 */
size_t
pse_pmap_builder_node_count(
    const pse_pmap_builder_t   *builder);

/**
 *  status = pse_pmap_builder_export(builder, out, cap_words, swap);
 *
 *    Copy the 2*N child words (left, right per node, node 0 first) into
 *    'out' (cap_words uint32_t), byte-swapped when 'swap' is non-zero.
 */
int
pse_pmap_builder_export(
    const pse_pmap_builder_t   *builder,
    uint32_t                   *out,
    size_t                      cap_words,
    int                         swap);

/**
 *  status = pse_pmap_validate(words, n_nodes, key_bits, &used, &bad);
 *
 *    Check a tree read from a file (words in native order) the way SiLK
 *    3.19.1 does: trailing unreferenced nodes after the first node with
 *    an out-of-range child are dropped ('used' = nodes kept); every
 *    reachable child must be < used; no path may be deeper than
 *    key_bits levels.  PSE_ERR_CORRUPT for a bad child (bad = node
 *    index), PSE_ERR_RANGE for a path too deep or a cycle (bad = node).
 */
int
pse_pmap_validate(
    const uint32_t         *words,
    size_t                  n_nodes,
    uint32_t                key_bits,
    size_t                 *used,
    size_t                 *bad);

/**
 *  status = pse_pmap_lookup32(words, n_nodes, keys, n, values, depths);
 *
 *    Look up n 32-bit keys in a validated tree.  values[i] = leaf value
 *    (0x7FFFFFFF = no value), depths[i] = the leaf's depth = CIDR prefix
 *    length of the block holding the key.
 */
int
pse_pmap_lookup32(
    const uint32_t         *words,
    size_t                  n_nodes,
    const uint32_t         *keys,
    size_t                  n,
    uint32_t               *values,
    uint8_t                *depths);

/**
 *  status = pse_pmap_lookup128(words, n_nodes, keys, n, values, depths);
 *
 *    As pse_pmap_lookup32() for 128-bit keys (2*n uint64_t).
 */
int
pse_pmap_lookup128(
    const uint32_t         *words,
    size_t                  n_nodes,
    const uint64_t         *keys,
    size_t                  n,
    uint32_t               *values,
    uint8_t                *depths);

/**
 *  status = pse_pmap_ranges(words, n_nodes, key_bits, merge,
 *                           starts, ends, values, cap, &count);
 *
 *    Walk the leaves of a validated tree in key order and emit ranges
 *    (2 uint64_t per start/end, hi half first; 32-bit keys have hi 0).
 *    With 'merge' adjacent leaves of equal value form one range, as
 *    rwpmapcat's iterator does.  With NULL outputs only 'count' is set.
 *    PSE_ERR_BUFFER when cap is too small.
 */
int
pse_pmap_ranges(
    const uint32_t         *words,
    size_t                  n_nodes,
    uint32_t                key_bits,
    int                     merge,
    uint64_t               *starts,
    uint64_t               *ends,
    uint32_t               *values,
    size_t                  cap,
    size_t                 *count);

/**
 *  status = pse_ipset_normalize(ranges, n, &n_out);
 *
 *    Sort the n ranges by start and merge overlapping or adjacent ones,
 *    in place; n_out receives the new count.  PSE_ERR_ARG when a range
 *    has start > end.
 */
int
pse_ipset_normalize(
    uint64_t               *ranges,
    size_t                  n,
    size_t                 *n_out);

/**
 *  status = pse_ipset_cidr(ranges, n, key_bits, addrs, prefixes, cap,
 *                          &count);
 *
 *    The canonical CIDR decomposition of normalised ranges: maximal
 *    aligned blocks in ascending order.  addrs gets 2 uint64_t per block,
 *    prefixes the prefix length relative to key_bits (32 or 128).  NULL
 *    outputs: count only.
 */
int
pse_ipset_cidr(
    const uint64_t         *ranges,
    size_t                  n,
    uint32_t                key_bits,
    uint64_t               *addrs,
    uint8_t                *prefixes,
    size_t                  cap,
    size_t                 *count);

/**
 *  status = pse_ipset_encode(ranges, n, version, is_v6, swap, out, cap,
 *                            &len);
 *
 *    Encode normalised ranges as the payload of IPset record version 2
 *    (IPv4 only), 4 or 5 (IPv6 only), choosing CIDR and bitmap items as
 *    rwsetbuild does.  'swap' writes file-order integers byte-swapped
 *    relative to the host.  out NULL: len = bytes needed.
 */
int
pse_ipset_encode(
    const uint64_t         *ranges,
    size_t                  n,
    int                     version,
    int                     is_v6,
    int                     swap,
    uint8_t                *out,
    size_t                  cap,
    size_t                 *len);

/**
 *  status = pse_ipset_decode(buf, len, version, is_v6, swap, ranges, cap,
 *                            &count, &err_offset, &err_value);
 *
 *    Decode an IPset payload of record version 2 (0 and 1 alike), 3
 *    (the leaf array only: pass the bytes after the nodes), 4 or 5 into
 *    ranges in file order (not normalised).  ranges NULL: count only.
 *    PSE_ERR_SHORT for a truncated item, PSE_ERR_FORMAT for an invalid
 *    prefix byte (err_value) or item sequence; err_offset = payload
 *    offset of the offending item.
 */
int
pse_ipset_decode(
    const uint8_t          *buf,
    size_t                  len,
    int                     version,
    int                     is_v6,
    int                     swap,
    uint64_t               *ranges,
    size_t                  cap,
    size_t                 *count,
    size_t                 *err_offset,
    uint32_t               *err_value);

/**
 *  status = pse_ipset_contains(ranges, n, keys, nkeys, out);
 *
 *    Membership of nkeys 128-bit keys (2 uint64_t each) in normalised
 *    ranges: out[i] = 1 or 0.
 */
int
pse_ipset_contains(
    const uint64_t         *ranges,
    size_t                  n,
    const uint64_t         *keys,
    size_t                  nkeys,
    uint8_t                *out);

#endif /* PSE_PMAP_H */
