/* spm_norm.c: sentencepiece's normalizer — the precompiled charsmap (a
 * darts-clone double array plus a pool of replacement strings), longest
 * match at each position, invalid UTF-8 to U+FFFD, and the whitespace rules
 * (dummy prefix, collapsing and trimming spaces, ' ' -> U+2581 "▁").
 *
 * Charsmap blob: u32 (little-endian) byte size of the double array, the
 * array's 32-bit units, then the replacement strings, each NUL-terminated;
 * a key's value is the offset of its replacement in that pool.
 *
 * darts-clone unit bits: has_leaf = bit 8; value = bits 0..30; label = bits
 * 0..7 plus bit 31 (so a value unit never matches a label); offset = bits
 * 10..31, shifted left by 8 more if bit 9 is set. From node id, byte c goes
 * to id ^ offset(unit[id]) ^ c, valid if that unit's label is c.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "text/spm_internal.h"

static inline uint32_t du_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static inline uint32_t du_label(uint32_t u) { return u & ((1u << 31) | 0xffu); }
static inline int du_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t du_value(uint32_t u) { return u & ((1u << 31) - 1); }

int spm_charsmap_init(darts_map *cm, const uint8_t *blob, size_t n) {
    memset(cm, 0, sizeof *cm);
    if (n <= 4) return pt_set_error("normalization charsmap is broken (%zu bytes)", n);
    uint32_t trie = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                    (uint32_t)blob[3] << 24;
    if ((uint64_t)trie + 4 > n || trie % 4 != 0 || trie == 0)
        return pt_set_error("normalization charsmap is broken (trie of %u bytes in %zu)", trie, n);
    cm->n_units = trie / 4;
    cm->units = pt_malloc(trie);
    for (uint32_t i = 0; i < cm->n_units; i++) {
        const uint8_t *p = blob + 4 + 4 * (size_t)i;
        cm->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                       (uint32_t)p[3] << 24;
    }
    cm->pool_len = (uint32_t)(n - 4 - trie);
    cm->pool = pt_malloc((size_t)cm->pool_len + 1);
    memcpy(cm->pool, blob + 4 + trie, cm->pool_len);
    cm->pool[cm->pool_len] = 0;
    return 0;
}

void spm_charsmap_free(darts_map *cm) {
    free(cm->units);
    free(cm->pool);
    memset(cm, 0, sizeof *cm);
}

/* Longest rule matching a prefix of s (darts-clone's commonPrefixSearch;
 * sentencepiece looks at the first 32 matches only). Returns its length
 * (0 if none) and its replacement's pool offset in *value. */
static size_t charsmap_match(const darts_map *cm, const uint8_t *s, size_t n, uint32_t *value) {
    const uint32_t *u = cm->units;
    uint32_t nu = cm->n_units, id = 0;
    size_t best = 0;
    int found = 0;
    id ^= du_offset(u[0]);
    for (size_t i = 0; i < n; i++) {
        id ^= s[i];
        if (id >= nu) break;
        uint32_t unit = u[id];
        if (du_label(unit) != s[i]) break;
        id ^= du_offset(unit);
        if (id >= nu) break;
        if (du_has_leaf(unit)) {
            if (found < 32) {
                best = i + 1;
                *value = du_value(u[id]);
            }
            found++;
        }
    }
    return best;
}

int spm_user_match(const spm_model *m, const char *s, size_t len) {
    const da_node *t = m->user.nodes;
    int32_t node = 0;
    int best = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t next = t[node].base + (uint8_t)s[i];
        if (t[next].check != node) break;
        node = next;
        if (t[node].value >= 0) best = (int)(i + 1);
    }
    return best;
}

/* plain[c]: 1 if byte c is an ASCII character that no rule and no
 * user-defined symbol starts with (it stands for itself); 2 if the only
 * rules starting with c go on with a non-ASCII byte (NFKC's letter +
 * combining mark), so c stands for itself when an ASCII byte or the end of
 * the text follows; 0 otherwise. */
void spm_norm_prepare(spm_model *m) {
    const darts_map *cm = &m->charsmap;
    for (int c = 0; c < 256; c++) {
        int plain = c < 0x80;
        if (plain && cm->n_units) {
            uint32_t id = du_offset(cm->units[0]) ^ (uint32_t)c;
            if (id < cm->n_units && du_label(cm->units[id]) == (uint32_t)c) {
                uint32_t unit = cm->units[id];
                plain = du_has_leaf(unit) ? 0 : 2;
                uint32_t base = id ^ du_offset(unit);
                for (uint32_t d = 0; d < 0x80 && plain; d++) {
                    uint32_t id2 = base ^ d;
                    if (id2 < cm->n_units && du_label(cm->units[id2]) == d) plain = 0;
                }
            }
        }
        if (plain && m->has_user) {
            int32_t next = m->user.nodes[0].base + c;
            if (m->user.nodes[next].check == 0) plain = 0;
        }
        m->plain[c] = (uint8_t)plain;
    }
}

/* sentencepiece's NormalizePrefix: what the text at s (n > 0 bytes) turns
 * into, and how many bytes it consumes */
static const char *norm_prefix(const spm_model *m, const char *s, size_t n, size_t *out_len,
                               size_t *consumed) {
    if (m->has_user) {
        int l = spm_user_match(m, s, n);
        if (l > 0) {
            *out_len = *consumed = (size_t)l;
            return s;
        }
    }
    if (m->charsmap.n_units) {
        uint32_t v = 0;
        size_t l = charsmap_match(&m->charsmap, (const uint8_t *)s, n, &v);
        if (l > 0) {
            const char *r = v < m->charsmap.pool_len ? m->charsmap.pool + v : "";
            *out_len = strlen(r);
            *consumed = l;
            return r;
        }
    }
    int l = pt_utf8_len((const unsigned char *)s, n);
    if (l == 0) {
        *out_len = 3;
        *consumed = 1;
        return "\xef\xbf\xbd";
    }
    *out_len = *consumed = (size_t)l;
    return s;
}

static const char SPACE_SYM[3] = {'\xe2', '\x96', '\x81'};

size_t spm_normalize(const spm_model *m, const char *text, size_t len, char **out, size_t *cap) {
    size_t pos = 0, o = 0, rl, used;
    const char *r;
    /* room for the dummy prefix, the worst case of plain bytes, and a margin */
    size_t need = 3 * len + 16;
    if (*cap < need) {
        *cap = need;
        *out = pt_realloc(*out, *cap);
    }
    char *buf = *out;
    if (m->remove_extra_ws) { /* skip leading spaces */
        while (pos < len) {
            if (m->plain[(uint8_t)text[pos]] == 1) {
                if (text[pos] != ' ') break;
                pos++;
                continue;
            }
            r = norm_prefix(m, text + pos, len - pos, &rl, &used);
            if (rl != 1 || r[0] != ' ') break;
            pos += used;
        }
    }
    if (pos >= len) return 0;
    const char *space = m->escape_ws ? SPACE_SYM : " ";
    size_t space_len = m->escape_ws ? 3 : 1;
    if (!m->ws_suffix && m->add_dummy_prefix) {
        memcpy(buf, space, space_len);
        o = space_len;
    }
    int is_prev_space = m->remove_extra_ws;
    while (pos < len) {
        unsigned char c = (unsigned char)text[pos];
        int plain = m->plain[c];
        if (plain == 2 && pos + 1 < len && (unsigned char)text[pos + 1] >= 0x80) plain = 0;
        if (plain) { /* fast path: an ASCII byte no rule touches here */
            if (c == ' ') {
                if (!is_prev_space) {
                    memcpy(buf + o, space, space_len);
                    o += space_len;
                }
                is_prev_space = m->remove_extra_ws;
            } else {
                buf[o++] = (char)c;
                is_prev_space = 0;
            }
            pos++;
            continue;
        }
        r = norm_prefix(m, text + pos, len - pos, &rl, &used);
        if (is_prev_space)
            while (rl > 0 && r[0] == ' ') r++, rl--;
        if (rl > 0) {
            /* every replacement byte can become 3 */
            size_t room = o + 3 * rl + 3 * (len - pos) + 16;
            if (room > *cap) {
                *cap = room + *cap / 2;
                *out = pt_realloc(*out, *cap);
                buf = *out;
            }
            for (size_t k = 0; k < rl; k++) {
                if (r[k] == ' ' && m->escape_ws) {
                    memcpy(buf + o, SPACE_SYM, 3);
                    o += 3;
                } else {
                    buf[o++] = r[k];
                }
            }
            is_prev_space = r[rl - 1] == ' ';
        }
        pos += used;
        if (!m->remove_extra_ws) is_prev_space = 0;
    }
    if (m->remove_extra_ws)
        while (o >= space_len && !memcmp(buf + o - space_len, space, space_len)) o -= space_len;
    if (m->ws_suffix && m->add_dummy_prefix) {
        memcpy(buf + o, space, space_len);
        o += space_len;
    }
    return o;
}
