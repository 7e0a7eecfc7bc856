/* spm_decode.c: ids or pieces -> text, as sentencepiece 0.1.97's Decode:
 *   - control pieces (<s>, </s>, <pad>) print nothing;
 *   - the unknown piece prints unk_surface (" ⁇ " by default); a piece
 *     string the model does not know prints verbatim;
 *   - runs of byte pieces (<0xNN>) are reassembled and read as UTF-8, each
 *     byte of an invalid sequence giving U+FFFD;
 *   - other pieces print with U+2581 "▁" turned into ' '; while the text so
 *     far is empty, one leading "▁" is dropped (the dummy prefix), if the
 *     model adds a dummy prefix or removes extra whitespace.
 * A denormalizer_spec is not applied (see spm.h).
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "text/spm_internal.h"

typedef struct {
    char *p;
    size_t n, cap;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2 + 64;
        b->p = pt_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

typedef struct {
    int id;          /* the model's own id */
    const char *s;   /* the piece string */
    size_t len;
} dpiece;

static void flush_bytes(const spm_model *m, strbuf *out, const dpiece *p, int begin, int end) {
    if (begin >= end) return;
    unsigned char small[256], *bytes = end - begin <= 256 ? small : pt_malloc((size_t)(end - begin));
    int nb = 0;
    for (int i = begin; i < end; i++) {
        int b = spm_byte_of_piece(p[i].s, p[i].len);
        bytes[nb++] = (unsigned char)(b < 0 ? 0 : b);
    }
    for (int off = 0; off < nb;) {
        int l = pt_utf8_len(bytes + off, (size_t)(nb - off));
        if (l == 0) {
            sb_put(out, "\xef\xbf\xbd", 3);
            off++;
        } else {
            sb_put(out, (const char *)bytes + off, (size_t)l);
            off += l;
        }
    }
    if (bytes != small) free(bytes);
}

static void put_piece(const spm_model *m, strbuf *out, const dpiece *p) {
    int type = m->type[p->id];
    if (type == SPM_CONTROL) return;
    if (type == SPM_UNKNOWN) {
        if (p->len == m->piece_len[p->id] && !memcmp(p->s, spm_piece(m, p->id), p->len))
            sb_put(out, m->unk_surface, strlen(m->unk_surface));
        else
            sb_put(out, p->s, p->len);
        return;
    }
    const char *s = p->s;
    size_t n = p->len;
    if (out->n == 0 && (m->add_dummy_prefix || m->remove_extra_ws) && n >= 3 &&
        !memcmp(s, "\xe2\x96\x81", 3)) {
        s += 3;
        n -= 3;
    }
    for (size_t i = 0; i < n;) {
        if (n - i >= 3 && !memcmp(s + i, "\xe2\x96\x81", 3)) {
            sb_put(out, " ", 1);
            i += 3;
        } else {
            size_t j = i + 1;
            while (j < n && !(n - j >= 3 && !memcmp(s + j, "\xe2\x96\x81", 3))) j++;
            sb_put(out, s + i, j - i);
            i = j;
        }
    }
}

static char *decode_core(const spm_model *m, const dpiece *p, int n, size_t *len) {
    strbuf out = {NULL, 0, 0};
    sb_put(&out, "", 0);
    int byte_start = 0;
    for (int i = 0; i < n; i++) {
        if (m->type[p[i].id] == SPM_BYTE) continue;
        flush_bytes(m, &out, p, byte_start, i);
        byte_start = i + 1;
        put_piece(m, &out, &p[i]);
    }
    flush_bytes(m, &out, p, byte_start, n);
    out.p[out.n] = 0;
    if (len) *len = out.n;
    return out.p;
}

char *spm_decode(const spm_model *m, const int *ids, int n, size_t *len) {
    dpiece small[256] = {{0}}, *p = n <= 256 ? small : pt_malloc(sizeof(dpiece) * (size_t)n);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= spm_vocab_size(m)) continue;
        if (m->n_joint) {
            const char *s = m->joint_pool + m->joint_off[id];
            size_t l = m->joint_off[id + 1] - m->joint_off[id] - 1;
            int own = m->from_joint[id];
            p[k++] = (dpiece){own >= 0 ? own : m->unk, s, l};
        } else {
            p[k++] = (dpiece){id, spm_piece(m, id), m->piece_len[id]};
        }
    }
    char *r = decode_core(m, p, k, len);
    if (p != small) free(p);
    return r;
}

char *spm_decode_pieces(const spm_model *m, const char *const *pieces, const size_t *lens, int n,
                        size_t *len) {
    dpiece small[256] = {{0}}, *p = n <= 256 ? small : pt_malloc(sizeof(dpiece) * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) p[i] = (dpiece){spm_lookup_id(m, pieces[i], lens[i]), pieces[i], lens[i]};
    char *r = decode_core(m, p, n, len);
    if (p != small) free(p);
    return r;
}
