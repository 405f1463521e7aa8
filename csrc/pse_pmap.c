/* SPDX-License-Identifier: MIT */
/*
 *  pse_pmap.c -- C core of module pysilk_ext._pmap.
 *
 *  Two jobs that share 32/128-bit key arithmetic:
 *
 *  1. SiLK prefix maps (spec section 4): the trie builder reproduces
 *     rwpmapbuild's insertion order node for node (so files are
 *     byte-identical), plus validation, batch lookup and the ordered walk
 *     of leaves that rwpmapcat prints.
 *
 *  2. IPset payloads (spec section 5): normalisation (sort + merge), the
 *     canonical CIDR decomposition, and the encoders/decoders of record
 *     versions 2, 3 (leaves), 4 and 5.
 *
 *  Everything here works on caller-owned buffers, never prints, never
 *  exits and keeps no global state (it may run inside rwfilter).
 *  128-bit keys use the compiler's unsigned __int128 (GCC and Clang on
 *  64-bit targets).
 */
#include "pse_pmap.h"

#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

#define U128(hi, lo)  (((u128)(hi) << 64) | (u128)(lo))
#define U128_HI(x)    ((uint64_t)((x) >> 64))
#define U128_LO(x)    ((uint64_t)(x))
#define U128_MAX      (~(u128)0)

/* Largest node index a child word can hold. */
#define PMAP_MAX_NODES  ((size_t)PSE_PMAP_LEAF_BIT)

/* The bitmap item marker of IPset v4/v5 and the /64 marker of v5. */
#define IPSET_MAP256    0x81
#define IPSET_SLASH64   0x82


static inline uint32_t
bswap32(
    uint32_t            v)
{
    return __builtin_bswap32(v);
}

static inline uint64_t
bswap64(
    uint64_t            v)
{
    return __builtin_bswap64(v);
}


/* ====================================================================
 *  Prefix-map builder
 */

struct pse_pmap_builder_st {
    /* two child words per node: words[2*i] = left, words[2*i+1] = right */
    uint32_t   *words;
    /* nodes in use and allocated */
    size_t      used;
    size_t      cap;
    /* 32 or 128 */
    uint32_t    key_bits;
};


/*
 *  status = builder_new_node(b, &index);
 *
 *    Append a node (contents set by the caller); grow the array by
 *    doubling.  PSE_ERR_RANGE when the index would not fit a child word.
 */
static int
builder_new_node(
    pse_pmap_builder_t     *b,
    uint32_t               *index)
{
    if (b->used == b->cap) {
        size_t new_cap = b->cap * 2;
        uint32_t *grown;

        if (new_cap > PMAP_MAX_NODES) {
            new_cap = PMAP_MAX_NODES;
        }
        if (new_cap <= b->used) {
            return PSE_ERR_RANGE;
        }
        grown = (uint32_t *)realloc(b->words,
                                    new_cap * 2 * sizeof(uint32_t));
        if (grown == NULL) {
            return PSE_ERR_NOMEM;
        }
        b->words = grown;
        b->cap = new_cap;
    }
    *index = (uint32_t)b->used;
    ++b->used;
    return PSE_OK;
}


/*
 *  status = builder_split(b, word_pos);
 *
 *    If the child word at words[word_pos] is a leaf, replace it by a new
 *    node whose two children are that leaf (rwpmapbuild's split).
 */
static int
builder_split(
    pse_pmap_builder_t     *b,
    size_t                  word_pos)
{
    uint32_t leaf = b->words[word_pos];
    uint32_t idx;
    int rv;

    if (!(leaf & PSE_PMAP_LEAF_BIT)) {
        return PSE_OK;
    }
    rv = builder_new_node(b, &idx);
    if (rv) {
        return rv;
    }
    b->words[2 * (size_t)idx] = leaf;
    b->words[2 * (size_t)idx + 1] = leaf;
    b->words[word_pos] = idx;
    return PSE_OK;
}


/*
 *  status = builder_add32(b, lo, hi, leaf, node, bit);
 *
 *    Set [lo, hi] below 'node' (which tests key bit 'bit') to 'leaf'.
 *    Left before right; a fully covered half becomes the leaf, dropping
 *    any subtree (its nodes stay in the array, as in SiLK).
 */
static int
builder_add32(
    pse_pmap_builder_t     *b,
    uint32_t                lo,
    uint32_t                hi,
    uint32_t                leaf,
    uint32_t                node,
    uint32_t                bit)
{
    const uint32_t below = (bit == 0) ? 0 : ((UINT32_C(1) << bit) - 1);
    const size_t left = 2 * (size_t)node;
    const size_t right = left + 1;
    int rv;

    if (0 == ((lo >> bit) & 1)) {
        if (0 == (lo & below)
            && (((hi >> bit) & 1) || (hi & below) == below))
        {
            b->words[left] = leaf;
        } else {
            rv = builder_split(b, left);
            if (rv) {
                return rv;
            }
            rv = builder_add32(b, lo, (((hi >> bit) & 1) ? (lo | below) : hi),
                               leaf, b->words[left], bit - 1);
            if (rv) {
                return rv;
            }
        }
    }
    if ((hi >> bit) & 1) {
        if ((hi & below) == below
            && (0 == ((lo >> bit) & 1) || 0 == (lo & below)))
        {
            b->words[right] = leaf;
        } else {
            rv = builder_split(b, right);
            if (rv) {
                return rv;
            }
            rv = builder_add32(b, (((lo >> bit) & 1) ? lo : (hi & ~below)),
                               hi, leaf, b->words[right], bit - 1);
            if (rv) {
                return rv;
            }
        }
    }
    return PSE_OK;
}


/*
 *  status = builder_add128(b, lo, hi, leaf, node, bit);
 *
 *    builder_add32() for 128-bit keys.
 */
static int
builder_add128(
    pse_pmap_builder_t     *b,
    u128                    lo,
    u128                    hi,
    uint32_t                leaf,
    uint32_t                node,
    uint32_t                bit)
{
    const u128 below = (bit == 0) ? 0 : (((u128)1 << bit) - 1);
    const size_t left = 2 * (size_t)node;
    const size_t right = left + 1;
    int rv;

    if (0 == ((lo >> bit) & 1)) {
        if (0 == (lo & below)
            && (((hi >> bit) & 1) || (hi & below) == below))
        {
            b->words[left] = leaf;
        } else {
            rv = builder_split(b, left);
            if (rv) {
                return rv;
            }
            rv = builder_add128(b, lo,
                                (((hi >> bit) & 1) ? (lo | below) : hi),
                                leaf, b->words[left], bit - 1);
            if (rv) {
                return rv;
            }
        }
    }
    if ((hi >> bit) & 1) {
        if ((hi & below) == below
            && (0 == ((lo >> bit) & 1) || 0 == (lo & below)))
        {
            b->words[right] = leaf;
        } else {
            rv = builder_split(b, right);
            if (rv) {
                return rv;
            }
            rv = builder_add128(b, (((lo >> bit) & 1) ? lo : (hi & ~below)),
                                hi, leaf, b->words[right], bit - 1);
            if (rv) {
                return rv;
            }
        }
    }
    return PSE_OK;
}


/*
 *  status = pse_pmap_builder_create(&builder, key_bits);
 */
int
pse_pmap_builder_create(
    pse_pmap_builder_t    **out,
    uint32_t                key_bits)
{
    pse_pmap_builder_t *b;

    if (out == NULL || (key_bits != 32 && key_bits != 128)) {
        return PSE_ERR_ARG;
    }
    *out = NULL;
    b = (pse_pmap_builder_t *)calloc(1, sizeof(*b));
    if (b == NULL) {
        return PSE_ERR_NOMEM;
    }
    b->cap = 1024;
    b->words = (uint32_t *)malloc(b->cap * 2 * sizeof(uint32_t));
    if (b->words == NULL) {
        free(b);
        return PSE_ERR_NOMEM;
    }
    b->words[0] = PSE_PMAP_LEAF_BIT | PSE_PMAP_NO_VALUE;
    b->words[1] = PSE_PMAP_LEAF_BIT | PSE_PMAP_NO_VALUE;
    b->used = 1;
    b->key_bits = key_bits;
    *out = b;
    return PSE_OK;
}


/*
 *  pse_pmap_builder_free(builder);
 */
void
pse_pmap_builder_free(
    pse_pmap_builder_t     *builder)
{
    if (builder) {
        free(builder->words);
        free(builder);
    }
}


/*
 *  status = pse_pmap_builder_set_default(builder, value);
 */
int
pse_pmap_builder_set_default(
    pse_pmap_builder_t     *builder,
    uint32_t                value)
{
    const uint32_t none = PSE_PMAP_LEAF_BIT | PSE_PMAP_NO_VALUE;

    if (builder == NULL || value > PSE_PMAP_NO_VALUE) {
        return PSE_ERR_ARG;
    }
    if (builder->used > 1
        || builder->words[0] != none || builder->words[1] != none)
    {
        return PSE_ERR_ARG;
    }
    builder->words[0] = PSE_PMAP_LEAF_BIT | value;
    builder->words[1] = PSE_PMAP_LEAF_BIT | value;
    return PSE_OK;
}


/*
 *  status = pse_pmap_builder_add32(builder, lo, hi, values, n, &done);
 */
int
pse_pmap_builder_add32(
    pse_pmap_builder_t     *builder,
    const uint32_t         *lo,
    const uint32_t         *hi,
    const uint32_t         *values,
    size_t                  n,
    size_t                 *done)
{
    size_t i;
    int rv;

    if (done) {
        *done = 0;
    }
    if (builder == NULL || builder->key_bits != 32
        || (n && (lo == NULL || hi == NULL || values == NULL)))
    {
        return PSE_ERR_ARG;
    }
    for (i = 0; i < n; ++i) {
        if (lo[i] > hi[i] || values[i] > PSE_PMAP_NO_VALUE) {
            return PSE_ERR_ARG;
        }
        rv = builder_add32(builder, lo[i], hi[i],
                           PSE_PMAP_LEAF_BIT | values[i], 0, 31);
        if (rv) {
            return rv;
        }
        if (done) {
            *done = i + 1;
        }
    }
    return PSE_OK;
}


/*
 *  status = pse_pmap_builder_add128(builder, lo, hi, values, n, &done);
 */
int
pse_pmap_builder_add128(
    pse_pmap_builder_t     *builder,
    const uint64_t         *lo,
    const uint64_t         *hi,
    const uint32_t         *values,
    size_t                  n,
    size_t                 *done)
{
    size_t i;
    int rv;

    if (done) {
        *done = 0;
    }
    if (builder == NULL || builder->key_bits != 128
        || (n && (lo == NULL || hi == NULL || values == NULL)))
    {
        return PSE_ERR_ARG;
    }
    for (i = 0; i < n; ++i) {
        u128 l = U128(lo[2 * i], lo[2 * i + 1]);
        u128 h = U128(hi[2 * i], hi[2 * i + 1]);

        if (l > h || values[i] > PSE_PMAP_NO_VALUE) {
            return PSE_ERR_ARG;
        }
        rv = builder_add128(builder, l, h, PSE_PMAP_LEAF_BIT | values[i],
                            0, 127);
        if (rv) {
            return rv;
        }
        if (done) {
            *done = i + 1;
        }
    }
    return PSE_OK;
}


/*
 *  count = pse_pmap_builder_node_count(builder);
 */
size_t
pse_pmap_builder_node_count(
    const pse_pmap_builder_t   *builder)
{
    return builder ? builder->used : 0;
}


/*
 *  status = pse_pmap_builder_export(builder, out, cap_words, swap);
 */
int
pse_pmap_builder_export(
    const pse_pmap_builder_t   *builder,
    uint32_t                   *out,
    size_t                      cap_words,
    int                         swap)
{
    size_t i;
    size_t n;

    if (builder == NULL || out == NULL) {
        return PSE_ERR_ARG;
    }
    n = 2 * builder->used;
    if (cap_words < n) {
        return PSE_ERR_BUFFER;
    }
    if (swap) {
        for (i = 0; i < n; ++i) {
            out[i] = bswap32(builder->words[i]);
        }
    } else {
        memcpy(out, builder->words, n * sizeof(uint32_t));
    }
    return PSE_OK;
}


/* ====================================================================
 *  Prefix-map reading: validation, lookup, ordered walk
 */

/*
 *  status = pse_pmap_validate(words, n_nodes, key_bits, &used, &bad);
 *
 *    The depth check is a memoised post-order walk, so a file whose
 *    nodes share subtrees (legal) or loop (corrupt) costs O(N), never an
 *    exponential walk or a hang.
 */
int
pse_pmap_validate(
    const uint32_t         *words,
    size_t                  n_nodes,
    uint32_t                key_bits,
    size_t                 *used,
    size_t                 *bad)
{
    /* per node: 0 = unvisited, 1 = on the current path, else 2 + height */
    uint8_t *state = NULL;
    uint32_t stack_node[130];
    uint8_t stack_side[130];
    uint8_t stack_height[130];
    size_t max_key = 0;
    size_t n = n_nodes;
    size_t i;
    int top;
    int rv = PSE_OK;

    if (used) {
        *used = 0;
    }
    if (bad) {
        *bad = 0;
    }
    if (words == NULL || n_nodes == 0 || (key_bits != 32 && key_bits != 128))
    {
        return PSE_ERR_ARG;
    }

    /* Pass 1 (SiLK's rule): stop at the first node with a child beyond
     * the array; the tree is the nodes before it, provided no earlier
     * node points at or past that node. */
    for (i = 0; i < n_nodes; ++i) {
        uint32_t l = words[2 * i];
        uint32_t r = words[2 * i + 1];
        int broke = 0;

        if (!(l & PSE_PMAP_LEAF_BIT) && l > max_key) {
            if (l >= n_nodes) {
                broke = 1;
            } else {
                max_key = l;
            }
        }
        if (!broke && !(r & PSE_PMAP_LEAF_BIT) && r > max_key) {
            if (r >= n_nodes) {
                broke = 1;
            } else {
                max_key = r;
            }
        }
        if (broke) {
            break;
        }
    }
    if (i < n_nodes) {
        if (max_key >= i || i == 0) {
            if (bad) {
                *bad = i;
            }
            return PSE_ERR_CORRUPT;
        }
        n = i;
    }
    if (used) {
        *used = n;
    }

    /* Pass 2: longest root-to-leaf path (in nodes) must be <= key_bits;
     * a node met again on the current path is a cycle. */
    state = (uint8_t *)calloc(n, 1);
    if (state == NULL) {
        return PSE_ERR_NOMEM;
    }
    top = 0;
    stack_node[0] = 0;
    stack_side[0] = 0;
    stack_height[0] = 1;
    state[0] = 1;
    while (top >= 0) {
        uint32_t node = stack_node[top];
        uint32_t child;

        if (stack_side[top] == 2) {
            /* both children done: record height, pop */
            uint8_t h = stack_height[top];
            state[node] = (uint8_t)(2 + h);
            --top;
            if (top >= 0 && (uint8_t)(h + 1) > stack_height[top]) {
                stack_height[top] = (uint8_t)(h + 1);
            }
            continue;
        }
        child = words[2 * (size_t)node + stack_side[top]];
        ++stack_side[top];
        if (child & PSE_PMAP_LEAF_BIT) {
            continue;
        }
        if (child >= n) {
            if (bad) {
                *bad = node;
            }
            rv = PSE_ERR_CORRUPT;
            goto END;
        }
        if (state[child] == 1) {
            if (bad) {
                *bad = child;
            }
            rv = PSE_ERR_RANGE;
            goto END;
        }
        if (state[child] >= 2) {
            uint32_t h = (uint32_t)(state[child] - 2) + 1;
            if ((uint32_t)top + h > key_bits) {
                if (bad) {
                    *bad = child;
                }
                rv = PSE_ERR_RANGE;
                goto END;
            }
            if (h > stack_height[top]) {
                stack_height[top] = (uint8_t)h;
            }
            continue;
        }
        /* descend: depth of the child (in nodes) is top + 2 */
        if ((uint32_t)top + 2 > key_bits) {
            if (bad) {
                *bad = child;
            }
            rv = PSE_ERR_RANGE;
            goto END;
        }
        ++top;
        stack_node[top] = child;
        stack_side[top] = 0;
        stack_height[top] = 1;
        state[child] = 1;
    }

  END:
    free(state);
    return rv;
}


/*
 *  status = pse_pmap_lookup32(words, n_nodes, keys, n, values, depths);
 */
int
pse_pmap_lookup32(
    const uint32_t         *words,
    size_t                  n_nodes,
    const uint32_t         *keys,
    size_t                  n,
    uint32_t               *values,
    uint8_t                *depths)
{
    size_t i;

    if (words == NULL || n_nodes == 0
        || (n && (keys == NULL || values == NULL)))
    {
        return PSE_ERR_ARG;
    }
    for (i = 0; i < n; ++i) {
        uint32_t key = keys[i];
        uint32_t node = 0;
        uint32_t depth = 0;
        uint32_t w;

        for (;;) {
            if (depth >= 32 || node >= n_nodes) {
                return PSE_ERR_CORRUPT;
            }
            w = words[2 * (size_t)node + ((key >> (31 - depth)) & 1)];
            ++depth;
            if (w & PSE_PMAP_LEAF_BIT) {
                break;
            }
            node = w;
        }
        values[i] = w & ~PSE_PMAP_LEAF_BIT;
        if (depths) {
            depths[i] = (uint8_t)depth;
        }
    }
    return PSE_OK;
}


/*
 *  status = pse_pmap_lookup128(words, n_nodes, keys, n, values, depths);
 */
int
pse_pmap_lookup128(
    const uint32_t         *words,
    size_t                  n_nodes,
    const uint64_t         *keys,
    size_t                  n,
    uint32_t               *values,
    uint8_t                *depths)
{
    size_t i;

    if (words == NULL || n_nodes == 0
        || (n && (keys == NULL || values == NULL)))
    {
        return PSE_ERR_ARG;
    }
    for (i = 0; i < n; ++i) {
        u128 key = U128(keys[2 * i], keys[2 * i + 1]);
        uint32_t node = 0;
        uint32_t depth = 0;
        uint32_t w;

        for (;;) {
            if (depth >= 128 || node >= n_nodes) {
                return PSE_ERR_CORRUPT;
            }
            w = words[2 * (size_t)node
                      + (unsigned)((key >> (127 - depth)) & 1)];
            ++depth;
            if (w & PSE_PMAP_LEAF_BIT) {
                break;
            }
            node = w;
        }
        values[i] = w & ~PSE_PMAP_LEAF_BIT;
        if (depths) {
            depths[i] = (uint8_t)depth;
        }
    }
    return PSE_OK;
}


/* Accumulates ranges for pse_pmap_ranges(). */
typedef struct range_out_st {
    uint64_t   *starts;
    uint64_t   *ends;
    uint32_t   *values;
    size_t      cap;
    size_t      count;
    int         merge;
    int         have;
    u128        cur_start;
    u128        cur_end;
    uint32_t    cur_value;
} range_out_t;

static void
range_out_flush(
    range_out_t        *ro)
{
    if (!ro->have) {
        return;
    }
    if (ro->starts && ro->count < ro->cap) {
        ro->starts[2 * ro->count] = U128_HI(ro->cur_start);
        ro->starts[2 * ro->count + 1] = U128_LO(ro->cur_start);
        ro->ends[2 * ro->count] = U128_HI(ro->cur_end);
        ro->ends[2 * ro->count + 1] = U128_LO(ro->cur_end);
        ro->values[ro->count] = ro->cur_value;
    }
    ++ro->count;
    ro->have = 0;
}

static void
range_out_leaf(
    range_out_t        *ro,
    u128                start,
    u128                end,
    uint32_t            value)
{
    if (ro->have && ro->merge && value == ro->cur_value) {
        ro->cur_end = end;
        return;
    }
    range_out_flush(ro);
    ro->have = 1;
    ro->cur_start = start;
    ro->cur_end = end;
    ro->cur_value = value;
}


/* Markers of uniform_values(); leaf values are <= 0x7FFFFFFF. */
#define UNI_UNSET       0xFFFFFFFFu
#define UNI_MIXED       0xFFFFFFFEu
#define UNI_BUSY        0xFFFFFFFDu

/*
 *  status = uniform_values(words, n_nodes, key_bits, uni);
 *
 *    uni[i] = the value of every leaf below node i when they all agree,
 *    UNI_MIXED otherwise.  Memoised, so a tree whose nodes share
 *    subtrees costs O(N) rather than one visit per path.
 */
static int
uniform_values(
    const uint32_t     *words,
    size_t              n_nodes,
    uint32_t            key_bits,
    uint32_t           *uni)
{
    uint32_t stack_node[130];
    uint8_t stack_side[130];
    size_t i;
    int top;

    for (i = 0; i < n_nodes; ++i) {
        uni[i] = UNI_UNSET;
    }
    top = 0;
    stack_node[0] = 0;
    stack_side[0] = 0;
    uni[0] = UNI_BUSY;
    while (top >= 0) {
        uint32_t node = stack_node[top];
        uint32_t a;
        uint32_t b;

        if (stack_side[top] < 2) {
            uint32_t w = words[2 * (size_t)node + stack_side[top]];

            ++stack_side[top];
            if (w & PSE_PMAP_LEAF_BIT) {
                continue;
            }
            if (w >= n_nodes || uni[w] == UNI_BUSY) {
                return PSE_ERR_CORRUPT;
            }
            if (uni[w] != UNI_UNSET) {
                continue;
            }
            if ((uint32_t)top + 1 >= key_bits) {
                return PSE_ERR_CORRUPT;
            }
            ++top;
            stack_node[top] = w;
            stack_side[top] = 0;
            uni[w] = UNI_BUSY;
            continue;
        }
        a = words[2 * (size_t)node];
        b = words[2 * (size_t)node + 1];
        a = (a & PSE_PMAP_LEAF_BIT) ? (a & ~PSE_PMAP_LEAF_BIT) : uni[a];
        b = (b & PSE_PMAP_LEAF_BIT) ? (b & ~PSE_PMAP_LEAF_BIT) : uni[b];
        uni[node] = (a == b) ? a : UNI_MIXED;
        --top;
    }
    return PSE_OK;
}


/*
 *  status = pse_pmap_ranges(words, n_nodes, key_bits, merge, starts, ends,
 *                           values, cap, &count);
 *
 *    With 'merge' a subtree whose leaves all carry one value is emitted
 *    as one block, so the walk costs O(N + ranges) even when nodes are
 *    shared (SiLK's own iterator would visit every leaf position).
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
    size_t                 *count)
{
    uint32_t stack_node[130];
    uint8_t stack_side[130];
    u128 stack_base[130];
    uint32_t *uni = NULL;
    range_out_t ro;
    int top;
    int rv;

    if (count) {
        *count = 0;
    }
    if (words == NULL || n_nodes == 0 || count == NULL
        || (key_bits != 32 && key_bits != 128)
        || (starts && (ends == NULL || values == NULL)))
    {
        return PSE_ERR_ARG;
    }
    if (merge) {
        uni = (uint32_t *)malloc(n_nodes * sizeof(uint32_t));
        if (uni == NULL) {
            return PSE_ERR_NOMEM;
        }
        rv = uniform_values(words, n_nodes, key_bits, uni);
        if (rv) {
            free(uni);
            return rv;
        }
    }
    memset(&ro, 0, sizeof(ro));
    ro.starts = starts;
    ro.ends = ends;
    ro.values = values;
    ro.cap = cap;
    ro.merge = merge;

    top = 0;
    stack_node[0] = 0;
    stack_side[0] = 0;
    stack_base[0] = 0;
    while (top >= 0) {
        uint32_t node = stack_node[top];
        uint32_t side = stack_side[top];
        /* the child at 'side' covers 2^span keys */
        uint32_t span = key_bits - 1 - (uint32_t)top;
        u128 base;
        uint32_t w;

        if (side == 2) {
            --top;
            continue;
        }
        ++stack_side[top];
        base = stack_base[top] | ((u128)side << span);
        w = words[2 * (size_t)node + side];
        if (!(w & PSE_PMAP_LEAF_BIT) && uni && w < n_nodes
            && uni[w] <= PSE_PMAP_NO_VALUE)
        {
            /* a uniform subtree: one block */
            w = PSE_PMAP_LEAF_BIT | uni[w];
        }
        if (w & PSE_PMAP_LEAF_BIT) {
            u128 end = base | (span == 0 ? 0 : (((u128)1 << span) - 1));
            range_out_leaf(&ro, base, end, w & ~PSE_PMAP_LEAF_BIT);
            continue;
        }
        if (w >= n_nodes || (uint32_t)top + 1 >= key_bits) {
            free(uni);
            return PSE_ERR_CORRUPT;
        }
        ++top;
        stack_node[top] = w;
        stack_side[top] = 0;
        stack_base[top] = base;
    }
    free(uni);
    range_out_flush(&ro);
    *count = ro.count;
    if (starts && ro.count > cap) {
        return PSE_ERR_BUFFER;
    }
    return PSE_OK;
}


/* ====================================================================
 *  IPsets
 */

/* One range: start and end as (hi, lo) pairs. */
typedef struct ipset_range_st {
    uint64_t    sh;
    uint64_t    sl;
    uint64_t    eh;
    uint64_t    el;
} ipset_range_t;

static int
range_cmp(
    const void         *va,
    const void         *vb)
{
    const ipset_range_t *a = (const ipset_range_t *)va;
    const ipset_range_t *b = (const ipset_range_t *)vb;

    if (a->sh != b->sh) {
        return (a->sh < b->sh) ? -1 : 1;
    }
    if (a->sl != b->sl) {
        return (a->sl < b->sl) ? -1 : 1;
    }
    return 0;
}


/*
 *  status = pse_ipset_normalize(ranges, n, &n_out);
 */
int
pse_ipset_normalize(
    uint64_t               *ranges,
    size_t                  n,
    size_t                 *n_out)
{
    ipset_range_t *r = (ipset_range_t *)ranges;
    size_t i;
    size_t k;
    int sorted = 1;
    u128 cur_end;

    if (n_out) {
        *n_out = 0;
    }
    if (n_out == NULL || (n && ranges == NULL)) {
        return PSE_ERR_ARG;
    }
    for (i = 0; i < n; ++i) {
        if (U128(r[i].sh, r[i].sl) > U128(r[i].eh, r[i].el)) {
            return PSE_ERR_ARG;
        }
        if (i && sorted && range_cmp(&r[i - 1], &r[i]) > 0) {
            sorted = 0;
        }
    }
    if (!sorted) {
        qsort(r, n, sizeof(ipset_range_t), range_cmp);
    }
    if (n == 0) {
        return PSE_OK;
    }
    k = 0;
    cur_end = U128(r[0].eh, r[0].el);
    for (i = 1; i < n; ++i) {
        u128 s = U128(r[i].sh, r[i].sl);
        u128 e = U128(r[i].eh, r[i].el);

        if (cur_end == U128_MAX || s <= cur_end + 1) {
            if (e > cur_end) {
                cur_end = e;
            }
            continue;
        }
        r[k].eh = U128_HI(cur_end);
        r[k].el = U128_LO(cur_end);
        ++k;
        r[k].sh = r[i].sh;
        r[k].sl = r[i].sl;
        cur_end = e;
    }
    r[k].eh = U128_HI(cur_end);
    r[k].el = U128_LO(cur_end);
    *n_out = k + 1;
    return PSE_OK;
}


/* Number of trailing zero bits of x (128 for 0). */
static inline uint32_t
ctz128(
    u128                x)
{
    uint64_t lo = U128_LO(x);
    uint64_t hi = U128_HI(x);

    if (lo) {
        return (uint32_t)__builtin_ctzll(lo);
    }
    if (hi) {
        return 64 + (uint32_t)__builtin_ctzll(hi);
    }
    return 128;
}

/*
 *  k = cidr_step(start, end, key_bits);
 *
 *    Size exponent of the largest aligned block that starts at 'start'
 *    and ends at or before 'end' (start <= end).
 */
static inline uint32_t
cidr_step(
    u128                start,
    u128                end,
    uint32_t            key_bits)
{
    uint32_t k = ctz128(start);

    if (k > key_bits) {
        k = key_bits;
    }
    while (k > 0) {
        if (k == 128) {
            if (start == 0 && end == U128_MAX) {
                break;
            }
        } else if (end - start >= (((u128)1 << k) - 1)) {
            break;
        }
        --k;
    }
    return k;
}

/* Iterates the canonical CIDR blocks of normalised ranges. */
typedef struct cidr_iter_st {
    const ipset_range_t *r;
    size_t      n;
    size_t      i;
    uint32_t    key_bits;
    int         in_range;
    u128        next;
    u128        end;
    /* give ::/0 as ::/1 + 8000::/1 (SiLK's IPv6 readers refuse prefix 0) */
    int         split_zero;
    int         second_half;
} cidr_iter_t;

static void
cidr_iter_init(
    cidr_iter_t        *it,
    const uint64_t     *ranges,
    size_t              n,
    uint32_t            key_bits)
{
    memset(it, 0, sizeof(*it));
    it->r = (const ipset_range_t *)ranges;
    it->n = n;
    it->key_bits = key_bits;
}

/* Return 1 and the next block, or 0 at the end. */
static int
cidr_iter_next(
    cidr_iter_t        *it,
    u128               *addr,
    uint32_t           *prefix)
{
    uint32_t k;

    if (it->second_half) {
        it->second_half = 0;
        *addr = (u128)1 << 127;
        *prefix = 1;
        return 1;
    }
    if (!it->in_range) {
        if (it->i >= it->n) {
            return 0;
        }
        it->next = U128(it->r[it->i].sh, it->r[it->i].sl);
        it->end = U128(it->r[it->i].eh, it->r[it->i].el);
        ++it->i;
        it->in_range = 1;
    }
    k = cidr_step(it->next, it->end, it->key_bits);
    *addr = it->next;
    *prefix = it->key_bits - k;
    if (k == 128) {
        it->in_range = 0;
        if (it->split_zero) {
            *prefix = 1;
            it->second_half = 1;
        }
        return 1;
    }
    {
        u128 last = it->next + (((u128)1 << k) - 1);
        if (last >= it->end) {
            it->in_range = 0;
        } else {
            it->next = last + 1;
        }
    }
    return 1;
}


/*
 *  status = pse_ipset_cidr(ranges, n, key_bits, addrs, prefixes, cap,
 *                          &count);
 */
int
pse_ipset_cidr(
    const uint64_t         *ranges,
    size_t                  n,
    uint32_t                key_bits,
    uint64_t               *addrs,
    uint8_t                *prefixes,
    size_t                  cap,
    size_t                 *count)
{
    cidr_iter_t it;
    u128 addr;
    uint32_t prefix;
    size_t c = 0;

    if (count) {
        *count = 0;
    }
    if (count == NULL || (n && ranges == NULL)
        || (key_bits != 32 && key_bits != 128)
        || (addrs && prefixes == NULL))
    {
        return PSE_ERR_ARG;
    }
    cidr_iter_init(&it, ranges, n, key_bits);
    while (cidr_iter_next(&it, &addr, &prefix)) {
        if (addrs && c < cap) {
            addrs[2 * c] = U128_HI(addr);
            addrs[2 * c + 1] = U128_LO(addr);
            prefixes[c] = (uint8_t)prefix;
        }
        ++c;
    }
    *count = c;
    if (addrs && c > cap) {
        return PSE_ERR_BUFFER;
    }
    return PSE_OK;
}


/* Output cursor: counts always, copies while there is room. */
typedef struct out_buf_st {
    uint8_t    *p;
    size_t      cap;
    size_t      len;
    int         swap;
} out_buf_t;

static inline void
out_bytes(
    out_buf_t          *o,
    const void         *src,
    size_t              n)
{
    if (o->p && o->len + n <= o->cap) {
        memcpy(o->p + o->len, src, n);
    }
    o->len += n;
}

static inline void
out_u8(
    out_buf_t          *o,
    uint8_t             v)
{
    out_bytes(o, &v, 1);
}

/* a u32 in file order */
static inline void
out_u32(
    out_buf_t          *o,
    uint32_t            v)
{
    if (o->swap) {
        v = bswap32(v);
    }
    out_bytes(o, &v, 4);
}

/* a u64 in file order */
static inline void
out_u64(
    out_buf_t          *o,
    uint64_t            v)
{
    if (o->swap) {
        v = bswap64(v);
    }
    out_bytes(o, &v, 8);
}

/* a 128-bit address in network order (IPset v4 never swaps it) */
static inline void
out_addr128(
    out_buf_t          *o,
    u128                a)
{
    uint64_t hi = __builtin_bswap64(U128_HI(a));
    uint64_t lo = __builtin_bswap64(U128_LO(a));

    /* the host is little-endian on every target we build for; detect it
     * at compile time and avoid the swap on a big-endian host */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    hi = U128_HI(a);
    lo = U128_LO(a);
#endif
    out_bytes(o, &hi, 8);
    out_bytes(o, &lo, 8);
}

static inline void
out_bitmap(
    out_buf_t          *o,
    const uint32_t      bmap[8])
{
    int i;

    for (i = 0; i < 8; ++i) {
        out_u32(o, bmap[i]);
    }
}

/* Set bits first..last (0..255 inclusive) of a 256-bit bitmap. */
static void
bitmap_set(
    uint32_t            bmap[8],
    uint32_t            first,
    uint32_t            last)
{
    while (first <= last) {
        uint32_t w = first >> 5;
        uint32_t b0 = first & 31;
        uint32_t b1 = ((last >> 5) == w) ? (last & 31) : 31;
        uint32_t nbits = b1 - b0 + 1;
        uint32_t mask = (nbits == 32) ? UINT32_MAX
            : (((UINT32_C(1) << nbits) - 1) << b0);

        bmap[w] |= mask;
        first = (w << 5) + b1 + 1;
        if (b1 == 31 && w == 7) {
            break;
        }
    }
}


/* Version 2: one 36-byte block per occupied /24, ascending. */
static void
encode_v2(
    const ipset_range_t    *r,
    size_t                  n,
    out_buf_t              *o)
{
    uint32_t bmap[8];
    uint64_t cur_base = UINT64_MAX;
    size_t i;

    for (i = 0; i < n; ++i) {
        uint64_t x = r[i].sl;
        uint64_t e = r[i].el;

        while (x <= e) {
            uint64_t base = x & ~UINT64_C(0xFF);
            uint64_t stop = (e < base + 255) ? e : base + 255;

            if (base != cur_base) {
                if (cur_base != UINT64_MAX) {
                    out_u32(o, (uint32_t)cur_base);
                    out_bitmap(o, bmap);
                }
                cur_base = base;
                memset(bmap, 0, sizeof(bmap));
            }
            bitmap_set(bmap, (uint32_t)(x - base), (uint32_t)(stop - base));
            x = stop + 1;
        }
    }
    if (cur_base != UINT64_MAX) {
        out_u32(o, (uint32_t)cur_base);
        out_bitmap(o, bmap);
    }
}


/* Version 4, IPv4: the IPTree writer of rwsetbuild: blocks of prefix
 * <= 24 are CIDR items, every partially filled /24 is a bitmap item. */
static void
encode_v4_ipv4(
    const uint64_t     *ranges,
    size_t              n,
    out_buf_t          *o)
{
    cidr_iter_t it;
    u128 addr;
    uint32_t prefix;
    uint32_t bmap[8];
    uint32_t cur_base = 0;
    int have = 0;

    cidr_iter_init(&it, ranges, n, 32);
    while (cidr_iter_next(&it, &addr, &prefix)) {
        uint32_t a = (uint32_t)addr;

        if (prefix <= 24) {
            if (have) {
                out_u32(o, cur_base);
                out_u8(o, IPSET_MAP256);
                out_bitmap(o, bmap);
                have = 0;
            }
            out_u32(o, a);
            out_u8(o, (uint8_t)prefix);
            continue;
        }
        if (have && (a & 0xFFFFFF00u) != cur_base) {
            out_u32(o, cur_base);
            out_u8(o, IPSET_MAP256);
            out_bitmap(o, bmap);
            have = 0;
        }
        if (!have) {
            have = 1;
            cur_base = a & 0xFFFFFF00u;
            memset(bmap, 0, sizeof(bmap));
        }
        bitmap_set(bmap, a & 0xFF, (a & 0xFF) + (1u << (32 - prefix)) - 1);
    }
    if (have) {
        out_u32(o, cur_base);
        out_u8(o, IPSET_MAP256);
        out_bitmap(o, bmap);
    }
}


/* State of the /120 grouping shared by the v4 (IPv6) and v5 writers. */
enum group_status_en {
    GROUP_EMPTY, GROUP_FIRST, GROUP_BITMAP
};

typedef struct group_st {
    enum group_status_en status;
    u128        base;
    uint32_t    prefix;
    uint32_t    bmap[8];
} group_t;

/* Turn a one-block group into a bitmap and add the block at 'addr'. */
static void
group_add(
    group_t            *g,
    u128                addr,
    uint32_t            prefix)
{
    uint32_t off;

    if (g->status == GROUP_FIRST) {
        off = (uint32_t)(U128_LO(g->base) & 0xFF);
        memset(g->bmap, 0, sizeof(g->bmap));
        bitmap_set(g->bmap, off, off + (1u << (128 - g->prefix)) - 1);
        g->base &= ~(u128)0xFF;
        g->status = GROUP_BITMAP;
    }
    off = (uint32_t)(U128_LO(addr) & 0xFF);
    bitmap_set(g->bmap, off, off + (1u << (128 - prefix)) - 1);
}

/* Whether 'addr' lies in another /120 than the group's. */
static inline int
group_other_slash120(
    const group_t      *g,
    u128                addr)
{
    return ((g->base ^ addr) >> 8) != 0;
}


/* Version 4, IPv6: the radix writer of rwsetbuild. */
static void
encode_v4_ipv6(
    const uint64_t     *ranges,
    size_t              n,
    out_buf_t          *o)
{
    cidr_iter_t it;
    group_t g;
    u128 addr;
    uint32_t prefix;

    memset(&g, 0, sizeof(g));
    cidr_iter_init(&it, ranges, n, 128);
    it.split_zero = 1;
    for (;;) {
        int more = cidr_iter_next(&it, &addr, &prefix);

        if (g.status != GROUP_EMPTY
            && (!more || prefix <= 120 || group_other_slash120(&g, addr)))
        {
            out_addr128(o, g.base);
            if (g.status == GROUP_FIRST) {
                out_u8(o, (uint8_t)g.prefix);
            } else {
                out_u8(o, IPSET_MAP256);
                out_bitmap(o, g.bmap);
            }
            g.status = GROUP_EMPTY;
        }
        if (!more) {
            break;
        }
        if (g.status == GROUP_EMPTY) {
            if (prefix <= 120) {
                out_addr128(o, addr);
                out_u8(o, (uint8_t)prefix);
            } else {
                g.status = GROUP_FIRST;
                g.base = addr;
                g.prefix = prefix;
            }
            continue;
        }
        group_add(&g, addr, prefix);
    }
}


/* Version 5 ("slash64"), IPv6 only: rwsetbuild's writer. */
static void
encode_v5(
    const uint64_t     *ranges,
    size_t              n,
    out_buf_t          *o)
{
    cidr_iter_t it;
    group_t g;
    u128 addr;
    uint32_t prefix;
    int is_last = 0;

    cidr_iter_init(&it, ranges, n, 128);
    it.split_zero = 1;
    if (!cidr_iter_next(&it, &addr, &prefix)) {
        return;
    }
    memset(&g, 0, sizeof(g));
    /* no current /64 group: an upper half that cannot match the first */
    g.base = ~addr;
    for (;;) {
        if (g.status != GROUP_EMPTY
            && (prefix <= 120 || group_other_slash120(&g, addr)))
        {
            out_u64(o, U128_LO(g.base));
            if (g.status == GROUP_FIRST) {
                out_u8(o, (uint8_t)g.prefix);
            } else {
                out_u8(o, IPSET_MAP256);
                out_bitmap(o, g.bmap);
            }
            g.status = GROUP_EMPTY;
        }
        if (g.status == GROUP_EMPTY) {
            if (prefix <= 64) {
                if (is_last) {
                    break;
                }
                out_u64(o, U128_HI(addr));
                out_u8(o, (uint8_t)prefix);
                g.base = U128(U128_HI(addr), U128_LO(g.base));
            } else {
                if (U128_HI(g.base) == U128_HI(addr)) {
                    g.base = addr;
                } else {
                    g.base = addr;
                    out_u64(o, U128_HI(addr));
                    out_u8(o, IPSET_SLASH64);
                }
                g.prefix = prefix;
                g.status = GROUP_FIRST;
            }
        } else {
            group_add(&g, addr, prefix);
        }
        if (!cidr_iter_next(&it, &addr, &prefix)) {
            prefix = 0;
            is_last = 1;
        }
    }
}


/*
 *  status = pse_ipset_encode(ranges, n, version, is_v6, swap, out, cap,
 *                            &len);
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
    size_t                 *len)
{
    out_buf_t o;

    if (len) {
        *len = 0;
    }
    if (len == NULL || (n && ranges == NULL)) {
        return PSE_ERR_ARG;
    }
    memset(&o, 0, sizeof(o));
    o.p = out;
    o.cap = cap;
    o.swap = swap;
    switch (version) {
      case 2:
        if (is_v6) {
            return PSE_ERR_ARG;
        }
        encode_v2((const ipset_range_t *)ranges, n, &o);
        break;
      case 4:
        if (is_v6) {
            encode_v4_ipv6(ranges, n, &o);
        } else {
            encode_v4_ipv4(ranges, n, &o);
        }
        break;
      case 5:
        if (!is_v6) {
            return PSE_ERR_ARG;
        }
        encode_v5(ranges, n, &o);
        break;
      default:
        return PSE_ERR_UNSUPPORTED;
    }
    *len = o.len;
    if (out && o.len > cap) {
        return PSE_ERR_BUFFER;
    }
    return PSE_OK;
}


/* Decoder output: ranges in file order; counts always. */
typedef struct dec_out_st {
    uint64_t   *ranges;
    size_t      cap;
    size_t      count;
} dec_out_t;

static inline void
dec_range(
    dec_out_t          *d,
    u128                start,
    u128                end)
{
    if (d->ranges && d->count < d->cap) {
        uint64_t *r = d->ranges + 4 * d->count;
        r[0] = U128_HI(start);
        r[1] = U128_LO(start);
        r[2] = U128_HI(end);
        r[3] = U128_LO(end);
    }
    ++d->count;
}

static inline void
dec_cidr(
    dec_out_t          *d,
    u128                addr,
    uint32_t            prefix,
    uint32_t            key_bits)
{
    uint32_t host = key_bits - prefix;
    u128 mask = (host == 128) ? U128_MAX : (((u128)1 << host) - 1);

    dec_range(d, addr & ~mask, addr | mask);
}

static inline uint32_t
in_u32(
    const uint8_t      *p,
    int                 swap)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return swap ? bswap32(v) : v;
}

static inline uint64_t
in_u64(
    const uint8_t      *p,
    int                 swap)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return swap ? bswap64(v) : v;
}

/* a 16-byte address in network order */
static inline u128
in_addr128(
    const uint8_t      *p)
{
    u128 v = 0;
    int i;

    for (i = 0; i < 16; ++i) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Emit the runs of set bits of a 256-bit bitmap (words in file order). */
static void
dec_bitmap(
    dec_out_t          *d,
    u128                base,
    const uint8_t      *p,
    int                 swap)
{
    uint32_t words[8];
    int run_start = -1;
    int bit;

    for (bit = 0; bit < 8; ++bit) {
        words[bit] = in_u32(p + 4 * bit, swap);
    }
    for (bit = 0; bit < 256; ++bit) {
        int set = (words[bit >> 5] >> (bit & 31)) & 1;

        if (set && run_start < 0) {
            run_start = bit;
        } else if (!set && run_start >= 0) {
            dec_range(d, base + (u128)run_start, base + (u128)(bit - 1));
            run_start = -1;
        }
    }
    if (run_start >= 0) {
        dec_range(d, base + (u128)run_start, base + 255);
    }
}


/*
 *  status = pse_ipset_decode(buf, len, version, is_v6, swap, ranges, cap,
 *                            &count, &err_offset, &err_value);
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
    uint32_t               *err_value)
{
    dec_out_t d;
    size_t pos = 0;
    int rv = PSE_OK;

    if (count) {
        *count = 0;
    }
    if (err_offset) {
        *err_offset = 0;
    }
    if (err_value) {
        *err_value = 0;
    }
    if (count == NULL || (len && buf == NULL)) {
        return PSE_ERR_ARG;
    }
    memset(&d, 0, sizeof(d));
    d.ranges = ranges;
    d.cap = cap;

#define DEC_FAIL(status, value)                         \
    do {                                                \
        rv = (status);                                  \
        if (err_offset) { *err_offset = pos; }          \
        if (err_value) { *err_value = (value); }        \
        goto END;                                       \
    } while (0)

    switch (version) {
      case 0:
      case 1:
      case 2:
        if (is_v6) {
            return PSE_ERR_ARG;
        }
        while (pos < len) {
            if (len - pos < 36) {
                DEC_FAIL(PSE_ERR_SHORT, 36);
            }
            dec_bitmap(&d, in_u32(buf + pos, swap) & 0xFFFFFF00u,
                       buf + pos + 4, swap);
            pos += 36;
        }
        break;

      case 3:
        /* the leaf array; leaf 0 is unused */
        if (is_v6) {
            if (len % 24) {
                pos = len - len % 24;
                DEC_FAIL(PSE_ERR_SHORT, 24);
            }
            for (pos = 24; pos < len; pos += 24) {
                uint32_t prefix = buf[pos];
                if (prefix == 0 || prefix > 128) {
                    DEC_FAIL(PSE_ERR_FORMAT, prefix);
                }
                dec_cidr(&d, U128(in_u64(buf + pos + 8, swap),
                                  in_u64(buf + pos + 16, swap)),
                         prefix, 128);
            }
        } else {
            if (len % 8) {
                pos = len - len % 8;
                DEC_FAIL(PSE_ERR_SHORT, 8);
            }
            for (pos = 8; pos < len; pos += 8) {
                uint32_t prefix = buf[pos];
                if (prefix > 32) {
                    DEC_FAIL(PSE_ERR_FORMAT, prefix);
                }
                dec_cidr(&d, in_u32(buf + pos + 4, swap), prefix, 32);
            }
        }
        break;

      case 4:
        if (is_v6) {
            while (pos < len) {
                uint32_t prefix;
                u128 addr;

                if (len - pos < 17) {
                    DEC_FAIL(PSE_ERR_SHORT, 17);
                }
                addr = in_addr128(buf + pos);
                prefix = buf[pos + 16];
                if (prefix >= 1 && prefix <= 128) {
                    dec_cidr(&d, addr, prefix, 128);
                    pos += 17;
                } else if (prefix == IPSET_MAP256) {
                    if (len - pos < 17 + 32) {
                        DEC_FAIL(PSE_ERR_SHORT, 17 + 32);
                    }
                    dec_bitmap(&d, addr & ~(u128)0xFF, buf + pos + 17, swap);
                    pos += 17 + 32;
                } else {
                    DEC_FAIL(PSE_ERR_FORMAT, prefix);
                }
            }
        } else {
            while (pos < len) {
                uint32_t prefix;
                uint32_t addr;

                if (len - pos < 5) {
                    DEC_FAIL(PSE_ERR_SHORT, 5);
                }
                addr = in_u32(buf + pos, swap);
                prefix = buf[pos + 4];
                if (prefix <= 32) {
                    dec_cidr(&d, addr, prefix, 32);
                    pos += 5;
                } else if (prefix == IPSET_MAP256) {
                    if (len - pos < 5 + 32) {
                        DEC_FAIL(PSE_ERR_SHORT, 5 + 32);
                    }
                    dec_bitmap(&d, addr & 0xFFFFFF00u, buf + pos + 5, swap);
                    pos += 5 + 32;
                } else {
                    DEC_FAIL(PSE_ERR_FORMAT, prefix);
                }
            }
        }
        break;

      case 5:
        {
            /* 0: an upper item required, 1: a lower item required,
             * 2: either */
            int state = 0;
            uint64_t upper = 0;

            if (!is_v6) {
                return PSE_ERR_ARG;
            }
            while (pos < len) {
                uint32_t prefix;
                uint64_t value;

                if (len - pos < 9) {
                    DEC_FAIL(PSE_ERR_SHORT, 9);
                }
                value = in_u64(buf + pos, swap);
                prefix = buf[pos + 8];
                if (prefix <= 64) {
                    if (state == 1 || prefix == 0) {
                        DEC_FAIL(PSE_ERR_FORMAT, prefix);
                    }
                    state = 0;
                    dec_cidr(&d, U128(value, 0), prefix, 128);
                    pos += 9;
                } else if (prefix <= 128) {
                    if (state == 0) {
                        DEC_FAIL(PSE_ERR_FORMAT, prefix);
                    }
                    state = 2;
                    dec_cidr(&d, U128(upper, value), prefix, 128);
                    pos += 9;
                } else if (prefix == IPSET_SLASH64) {
                    if (state == 1) {
                        DEC_FAIL(PSE_ERR_FORMAT, prefix);
                    }
                    state = 1;
                    upper = value;
                    pos += 9;
                } else if (prefix == IPSET_MAP256) {
                    if (state == 0) {
                        DEC_FAIL(PSE_ERR_FORMAT, prefix);
                    }
                    if (len - pos < 9 + 32) {
                        DEC_FAIL(PSE_ERR_SHORT, 9 + 32);
                    }
                    state = 2;
                    dec_bitmap(&d, U128(upper, value & ~UINT64_C(0xFF)),
                               buf + pos + 9, swap);
                    pos += 9 + 32;
                } else {
                    DEC_FAIL(PSE_ERR_FORMAT, prefix);
                }
            }
        }
        break;

      default:
        return PSE_ERR_UNSUPPORTED;
    }
#undef DEC_FAIL

  END:
    *count = d.count;
    if (rv == PSE_OK && ranges && d.count > cap) {
        return PSE_ERR_BUFFER;
    }
    return rv;
}


/*
 *  status = pse_ipset_contains(ranges, n, keys, nkeys, out);
 */
int
pse_ipset_contains(
    const uint64_t         *ranges,
    size_t                  n,
    const uint64_t         *keys,
    size_t                  nkeys,
    uint8_t                *out)
{
    const ipset_range_t *r = (const ipset_range_t *)ranges;
    size_t i;

    if ((n && ranges == NULL) || (nkeys && (keys == NULL || out == NULL))) {
        return PSE_ERR_ARG;
    }
    for (i = 0; i < nkeys; ++i) {
        u128 key = U128(keys[2 * i], keys[2 * i + 1]);
        size_t lo = 0;
        size_t hi = n;

        /* first range whose start is > key */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (U128(r[mid].sh, r[mid].sl) <= key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        out[i] = (uint8_t)(lo > 0 && key <= U128(r[lo - 1].eh, r[lo - 1].el));
    }
    return PSE_OK;
}
