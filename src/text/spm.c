/* spm.c: reading a SentencePiece .model file (protobuf wire format, by
 * hand), building the lookups, the vocabulary accessors and joint
 * vocabularies. Normalization lives in spm_norm.c, encoding in
 * spm_encode.c, decoding in spm_decode.c, GGUF in spm_gguf.c.
 *
 * The .model file is a serialized ModelProto (sentencepiece_model.proto):
 *   ModelProto      1 pieces (repeated SentencePiece)  2 trainer_spec
 *                   3 normalizer_spec  4 self_test_data  5 denormalizer_spec
 *   SentencePiece   1 piece (string)  2 score (float)  3 type (enum)
 *   TrainerSpec     3 model_type  4 vocab_size  24 treat_whitespace_as_suffix
 *                   35 byte_fallback  40..43 unk/bos/eos/pad id
 *                   44 unk_surface  45..48 unk/bos/eos/pad piece
 *   NormalizerSpec  1 name  2 precompiled_charsmap  3 add_dummy_prefix
 *                   4 remove_extra_whitespaces  5 escape_whitespaces
 * Unknown fields are skipped by wire type. Every length is checked against
 * the bytes that are left before it is used. The checks sentencepiece makes
 * when it loads a model (empty or duplicate pieces, no or two unknown
 * pieces, byte pieces without byte_fallback, byte_fallback without all 256
 * byte pieces) are made here too, with the same outcome: the model is
 * refused.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "text/spm_internal.h"

/* ---- protobuf wire format --------------------------------------------- */

typedef struct {
    const uint8_t *p, *end, *start;
} pb_reader;

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static int pb_bad(const pb_reader *r, const char *what) {
    return pt_set_error("corrupted or truncated SentencePiece model (%s at byte %zu)", what,
                        (size_t)(r->p - r->start));
}

static int pb_varint(pb_reader *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return pb_bad(r, "truncated varint");
        uint8_t b = *r->p++;
        if (shift < 64) x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return pb_bad(r, "varint longer than 10 bytes");
}

static int pb_key(pb_reader *r, uint32_t *field, int *wt) {
    uint64_t k = 0;
    if (pb_varint(r, &k)) return -1;
    *field = (uint32_t)(k >> 3);
    *wt = (int)(k & 7);
    if (*field == 0 || k >> 32) return pb_bad(r, "bad field key");
    return 0;
}

static int pb_len(pb_reader *r, const uint8_t **s, size_t *n) {
    uint64_t len = 0;
    if (pb_varint(r, &len)) return -1;
    if (len > (uint64_t)(r->end - r->p)) return pb_bad(r, "length past the end");
    *s = r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}

static int pb_fixed32(pb_reader *r, uint32_t *v) {
    if (r->end - r->p < 4) return pb_bad(r, "truncated fixed32");
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
         (uint32_t)r->p[3] << 24;
    r->p += 4;
    return 0;
}

static int pb_skip(pb_reader *r, int wt) {
    uint64_t v;
    const uint8_t *s;
    size_t n;
    switch (wt) {
    case WT_VARINT: return pb_varint(r, &v);
    case WT_I64:
        if (r->end - r->p < 8) return pb_bad(r, "truncated fixed64");
        r->p += 8;
        return 0;
    case WT_LEN: return pb_len(r, &s, &n);
    case WT_I32:
        if (r->end - r->p < 4) return pb_bad(r, "truncated fixed32");
        r->p += 4;
        return 0;
    default: return pb_bad(r, "unsupported wire type");
    }
}

/* a sub-reader over a length-delimited field, offsets still relative to the file */
static pb_reader pb_sub(const pb_reader *r, const uint8_t *s, size_t n) {
    pb_reader sub = {s, s + n, r->start};
    return sub;
}

static int pb_want(const pb_reader *r, int wt, int want) {
    return wt == want ? 0 : pb_bad(r, "unexpected wire type");
}

static char *dupn(const uint8_t *s, size_t n) {
    char *d = pt_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ---- parsing ------------------------------------------------------------ */

typedef struct {
    const uint8_t *s;
    size_t n;
    float score;
    int type;
} raw_piece;

static int parse_piece(const pb_reader *top, const uint8_t *s, size_t n, raw_piece *out) {
    pb_reader r = pb_sub(top, s, n);
    out->s = (const uint8_t *)"";
    out->n = 0;
    out->score = 0;
    out->type = SPM_NORMAL;
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        uint64_t v = 0;
        uint32_t u = 0;
        if (pb_key(&r, &f, &wt)) return -1;
        if (f == 1) {
            if (pb_want(&r, wt, WT_LEN) || pb_len(&r, &out->s, &out->n)) return -1;
        } else if (f == 2) {
            if (pb_want(&r, wt, WT_I32) || pb_fixed32(&r, &u)) return -1;
            memcpy(&out->score, &u, 4);
        } else if (f == 3) {
            if (pb_want(&r, wt, WT_VARINT) || pb_varint(&r, &v)) return -1;
            out->type = (int)(int32_t)v;
        } else if (pb_skip(&r, wt)) {
            return -1;
        }
    }
    return 0;
}

static void set_str(char **dst, const uint8_t *s, size_t n) {
    free(*dst);
    *dst = dupn(s, n);
}

static int parse_trainer(spm_model *m, const pb_reader *top, const uint8_t *s, size_t n) {
    pb_reader r = pb_sub(top, s, n);
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        uint64_t v = 0;
        const uint8_t *str;
        size_t len;
        if (pb_key(&r, &f, &wt)) return -1;
        if (f == 3 || f == 4 || f == 24 || f == 35 || (f >= 40 && f <= 43)) {
            if (pb_want(&r, wt, WT_VARINT) || pb_varint(&r, &v)) return -1;
            int32_t x = (int32_t)v;
            if (f == 3) m->model_type = x;
            else if (f == 4) m->vocab_size_spec = x;
            else if (f == 24) m->ws_suffix = v != 0;
            else if (f == 35) m->byte_fallback = v != 0;
        } else if (f >= 44 && f <= 48) {
            if (pb_want(&r, wt, WT_LEN) || pb_len(&r, &str, &len)) return -1;
            char **dst = f == 44 ? &m->unk_surface
                         : f == 45 ? &m->unk_piece
                         : f == 46 ? &m->bos_piece
                         : f == 47 ? &m->eos_piece
                                   : &m->pad_piece;
            set_str(dst, str, len);
        } else if (pb_skip(&r, wt)) {
            return -1;
        }
    }
    return 0;
}

static int parse_normalizer(spm_model *m, const pb_reader *top, const uint8_t *s, size_t n,
                            const uint8_t **charsmap, size_t *charsmap_n) {
    pb_reader r = pb_sub(top, s, n);
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        uint64_t v = 0;
        const uint8_t *str = NULL;
        size_t len = 0;
        if (pb_key(&r, &f, &wt)) return -1;
        if (f == 1 || f == 2) {
            if (pb_want(&r, wt, WT_LEN) || pb_len(&r, &str, &len)) return -1;
            if (f == 1) set_str(&m->norm_name, str, len);
            else *charsmap = str, *charsmap_n = len;
        } else if (f >= 3 && f <= 5) {
            if (pb_want(&r, wt, WT_VARINT) || pb_varint(&r, &v)) return -1;
            if (f == 3) m->add_dummy_prefix = v != 0;
            else if (f == 4) m->remove_extra_ws = v != 0;
            else m->escape_ws = v != 0;
        } else if (pb_skip(&r, wt)) {
            return -1;
        }
    }
    return 0;
}

/* ---- lookups -------------------------------------------------------------- */

uint32_t spm_hash(const char *s, size_t len) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < len; i++) w |= (uint64_t)(uint8_t)s[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return (uint32_t)h;
}

static uint32_t table_size(int n) {
    uint32_t size = 16;
    while (size < 2u * (uint32_t)n) size <<= 1;
    return size;
}

/* the slot holding s, or the empty slot where it would go */
static piece_slot *find_slot(const spm_model *m, const char *s, size_t len, uint32_t h) {
    for (uint32_t i = h & m->slot_mask;; i = (i + 1) & m->slot_mask) {
        piece_slot *sl = &m->slots[i];
        int id = sl->normal >= 0 ? sl->normal : sl->reserved;
        if (id < 0) return sl;
        if (sl->hash == h && m->piece_len[id] == len && !memcmp(spm_piece(m, id), s, len))
            return sl;
    }
}

void spm_lookup(const spm_model *m, const char *s, size_t len, int *normal, int *reserved) {
    const piece_slot *sl = find_slot(m, s, len, spm_hash(s, len));
    *normal = sl->normal;
    *reserved = sl->reserved;
}

int spm_lookup_id(const spm_model *m, const char *s, size_t len) {
    int nid, rid;
    spm_lookup(m, s, len, &nid, &rid);
    return rid >= 0 ? rid : nid >= 0 ? nid : m->unk;
}

int spm_byte_of_piece(const char *p, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    if (n != 6 || memcmp(p, "<0x", 3) || p[5] != '>') return -1;
    const char *a = memchr(hex, p[3], 16), *b = memchr(hex, p[4], 16);
    if (!a || !b || !p[3] || !p[4]) return -1;
    return (int)((a - hex) * 16 + (b - hex));
}

static int is_normal_kind(int type) {
    return type == SPM_NORMAL || type == SPM_USER_DEFINED || type == SPM_UNUSED;
}

/* every normal piece that is the concatenation of two normal pieces */
static void build_merges(spm_model *m) {
    if (m->n >= (1 << 21)) return; /* too many for the packed table: strings only */
    size_t cap = 1024, count = 0;
    uint64_t *all = pt_malloc(sizeof(uint64_t) * cap);
    for (int i = 0; i < m->n; i++) {
        if (!is_normal_kind(m->type[i])) continue;
        const char *p = spm_piece(m, i);
        for (uint32_t k = 1; k < m->piece_len[i]; k++) {
            int l, r, rid;
            spm_lookup(m, p, k, &l, &rid);
            if (l < 0) continue;
            spm_lookup(m, p + k, m->piece_len[i] - k, &r, &rid);
            if (r < 0) continue;
            if (count == cap) all = pt_realloc(all, sizeof(uint64_t) * (cap *= 2));
            all[count++] = (uint64_t)l << 42 | (uint64_t)r << 21 | (uint64_t)i;
        }
    }
    int bits = 4;
    while (((size_t)1 << bits) < 2 * count + 16) bits++;
    m->merge_mask = (1u << bits) - 1;
    m->merge_shift = 64 - bits;
    m->merges = pt_malloc(sizeof(uint64_t) << bits);
    for (uint32_t j = 0; j <= m->merge_mask; j++) m->merges[j] = UINT64_MAX;
    for (size_t j = 0; j < count; j++) {
        uint32_t i = spm_merge_slot(m, all[j] >> 21);
        while (m->merges[i] != UINT64_MAX) i = (i + 1) & m->merge_mask;
        m->merges[i] = all[j];
    }
    free(all);
}

/* sentencepiece's InitializePieces checks, plus the tables */
static int build_lookups(spm_model *m) {
    if (m->n <= 0) return pt_set_error("not a SentencePiece model: it has no pieces");
    m->slot_mask = table_size(m->n) - 1;
    m->slots = pt_malloc(sizeof(piece_slot) * (m->slot_mask + 1));
    for (uint32_t i = 0; i <= m->slot_mask; i++) m->slots[i] = (piece_slot){0, -1, -1};
    m->unk = -1;
    for (int b = 0; b < 256; b++) m->byte_piece[b] = -1;
    m->min_score = 3.40282347e+38f; /* FLT_MAX, as sentencepiece starts */
    m->max_score = 1.17549435e-38f; /* FLT_MIN (sic) */
    int n_normal = 0, n_user = 0;
    for (int i = 0; i < m->n; i++) {
        const char *p = spm_piece(m, i);
        size_t len = m->piece_len[i];
        int t = m->type[i];
        if (t < SPM_NORMAL || t > SPM_BYTE) return pt_set_error("piece %d has unknown type %d", i, t);
        if (len == 0) return pt_set_error("piece %d is empty", i);
        uint32_t h = spm_hash(p, len);
        piece_slot *sl = find_slot(m, p, len, h);
        int32_t *dst = is_normal_kind(t) ? &sl->normal : &sl->reserved;
        if (*dst >= 0) return pt_set_error("piece %d ('%.40s') is already defined", i, p);
        *dst = i;
        if (sl->normal >= 0 && sl->reserved >= 0) m->has_shadow = 1;
        sl->hash = h;
        if (t == SPM_NORMAL) {
            if (m->score[i] < m->min_score) m->min_score = m->score[i];
            if (m->score[i] > m->max_score) m->max_score = m->score[i];
        }
        if (is_normal_kind(t)) n_normal++;
        if (t == SPM_USER_DEFINED) n_user++;
        if (t == SPM_UNUSED) m->has_unused = 1;
        if (t == SPM_UNKNOWN) {
            if (m->unk >= 0) return pt_set_error("two unknown pieces (%d and %d)", m->unk, i);
            m->unk = i;
        }
        if (t == SPM_BYTE) {
            if (!m->byte_fallback)
                return pt_set_error("byte piece %.40s found although byte_fallback is off", p);
            int b = spm_byte_of_piece(p, len);
            if (b < 0) return pt_set_error("byte piece '%.40s' is invalid", p);
            m->byte_piece[b] = i;
        }
    }
    if (m->unk < 0) return pt_set_error("the model defines no unknown piece");
    if (m->byte_fallback)
        for (int b = 0; b < 256; b++)
            if (m->byte_piece[b] < 0)
                return pt_set_error("byte_fallback is on but byte piece <0x%02X> is missing", b);

    /* tries: NORMAL/USER_DEFINED/UNUSED pieces -> id; USER_DEFINED -> length.
     * sentencepiece's double array takes keys as C strings, so a piece with
     * a NUL byte inside is cut there; such pieces cannot come from text. */
    const char **keys = pt_malloc(sizeof(char *) * (size_t)(n_normal + 1));
    uint32_t *lens = pt_malloc(sizeof(uint32_t) * (size_t)(n_normal + 1));
    int32_t *vals = pt_malloc(sizeof(int32_t) * (size_t)(n_normal + 1));
    int k = 0;
    for (int i = 0; i < m->n; i++) {
        if (!is_normal_kind(m->type[i])) continue;
        keys[k] = spm_piece(m, i);
        lens[k] = (uint32_t)strlen(keys[k]);
        vals[k] = i;
        if (lens[k]) k++;
    }
    int rc = da_build(&m->trie, keys, lens, vals, k);
    if (!rc && n_user) {
        k = 0;
        for (int i = 0; i < m->n; i++) {
            if (m->type[i] != SPM_USER_DEFINED) continue;
            keys[k] = spm_piece(m, i);
            lens[k] = m->piece_len[i];
            vals[k] = (int32_t)m->piece_len[i];
            k++;
        }
        rc = da_build(&m->user, keys, lens, vals, k);
        m->has_user = 1;
    }
    free(keys);
    free(lens);
    free(vals);
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        int rid;
        spm_lookup(m, &ch, 1, &m->byte_normal[c], &rid);
    }
    if (!rc && m->model_type == SPM_BPE) build_merges(m);
    return rc;
}

/* ---- loading -------------------------------------------------------------- */

static int parse_model(spm_model *m) {
    pb_reader r = {m->bytes, m->bytes + m->nbytes, m->bytes};
    raw_piece *raw = NULL;
    int cap = 0;
    const uint8_t *charsmap = NULL;
    size_t charsmap_n = 0;
    int rc = -1;
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        const uint8_t *s = NULL;
        size_t n = 0;
        if (pb_key(&r, &f, &wt)) goto done;
        if (f >= 1 && f <= 3) {
            if (pb_want(&r, wt, WT_LEN) || pb_len(&r, &s, &n)) goto done;
            if (f == 1) {
                if (m->n == cap) {
                    cap = cap ? 2 * cap : 1024;
                    raw = pt_realloc(raw, sizeof(raw_piece) * (size_t)cap);
                }
                if (parse_piece(&r, s, n, &raw[m->n])) goto done;
                m->n++;
                if (m->n > (1 << 26)) {
                    pt_set_error("too many pieces");
                    goto done;
                }
            } else if (f == 2) {
                if (parse_trainer(m, &r, s, n)) goto done;
            } else if (parse_normalizer(m, &r, s, n, &charsmap, &charsmap_n)) {
                goto done;
            }
        } else if (pb_skip(&r, wt)) {
            goto done;
        }
    }
    if (m->model_type == SPM_WORD || m->model_type == SPM_CHAR) {
        pt_set_error("%s models are not supported (only unigram and BPE)",
                     m->model_type == SPM_WORD ? "WORD" : "CHAR");
        goto done;
    }
    if (m->model_type != SPM_UNIGRAM && m->model_type != SPM_BPE) {
        pt_set_error("unknown model type %d", m->model_type);
        goto done;
    }

    size_t pool = 0;
    for (int i = 0; i < m->n; i++) pool += raw[i].n + 1;
    m->piece_pool = pt_malloc(pool ? pool : 1);
    m->piece_off = pt_malloc(sizeof(uint32_t) * (size_t)(m->n + 1));
    m->piece_len = pt_malloc(sizeof(uint32_t) * (size_t)(m->n + 1));
    m->score = pt_malloc(sizeof(float) * (size_t)(m->n + 1));
    m->type = pt_malloc((size_t)m->n + 1);
    size_t off = 0;
    for (int i = 0; i < m->n; i++) {
        memcpy(m->piece_pool + off, raw[i].s, raw[i].n);
        m->piece_pool[off + raw[i].n] = 0;
        m->piece_off[i] = (uint32_t)off;
        m->piece_len[i] = (uint32_t)raw[i].n;
        m->score[i] = raw[i].score;
        m->type[i] = (uint8_t)(raw[i].type >= 0 && raw[i].type < 256 ? raw[i].type : 0);
        if (raw[i].type < SPM_NORMAL || raw[i].type > SPM_BYTE) {
            pt_set_error("piece %d has unknown type %d", i, raw[i].type);
            goto done;
        }
        off += raw[i].n + 1;
    }
    if (charsmap_n && spm_charsmap_init(&m->charsmap, charsmap, charsmap_n)) goto done;
    if (build_lookups(m)) goto done;
    spm_norm_prepare(m);
    rc = 0;
done:
    free(raw);
    return rc;
}

spm_model *spm_load_mem(const void *buf, size_t n) {
    spm_model *m = pt_calloc(1, sizeof *m);
    m->bytes = pt_malloc(n ? n : 1);
    if (n) memcpy(m->bytes, buf, n);
    m->nbytes = n;
    m->model_type = SPM_UNIGRAM;
    m->vocab_size_spec = 8000;
    m->unk_surface = pt_strdup(" \xe2\x81\x87 ");
    m->unk_piece = pt_strdup("<unk>");
    m->bos_piece = pt_strdup("<s>");
    m->eos_piece = pt_strdup("</s>");
    m->pad_piece = pt_strdup("<pad>");
    m->norm_name = pt_strdup("");
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = 1;
    if (n == 0) {
        pt_set_error("empty file: not a SentencePiece model");
        spm_free(m);
        return NULL;
    }
    if (parse_model(m)) {
        spm_free(m);
        return NULL;
    }
    return m;
}

spm_model *spm_load_file(const char *path) {
    size_t n;
    if (pt_check_regular(path)) return NULL; /* a FIFO would block the read */
    char *buf = pt_read_file(path, &n);
    if (!buf) return NULL;
    spm_model *m = spm_load_mem(buf, n);
    free(buf);
    if (!m) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pt_error());
        pt_set_error("%s: %s", path, msg);
    }
    return m;
}

static void joint_clear(spm_model *m) {
    free(m->joint_pool);
    free(m->joint_off);
    free(m->joint_slots);
    free(m->to_joint);
    free(m->from_joint);
    m->joint_pool = NULL;
    m->joint_off = NULL;
    m->joint_slots = NULL;
    m->to_joint = m->from_joint = NULL;
    m->n_joint = 0;
}

void spm_free(spm_model *m) {
    if (!m) return;
    free(m->bytes);
    free(m->piece_pool);
    free(m->piece_off);
    free(m->piece_len);
    free(m->score);
    free(m->type);
    free(m->unk_surface);
    free(m->unk_piece);
    free(m->bos_piece);
    free(m->eos_piece);
    free(m->pad_piece);
    free(m->norm_name);
    spm_charsmap_free(&m->charsmap);
    free(m->slots);
    free(m->merges);
    da_free(&m->trie);
    da_free(&m->user);
    joint_clear(m);
    free(m);
}

const void *spm_model_bytes(const spm_model *m, size_t *n) {
    *n = m->nbytes;
    return m->bytes;
}

/* ---- joint vocabulary --------------------------------------------------- */

static const char *joint_piece(const spm_model *m, int j) { return m->joint_pool + m->joint_off[j]; }

/* joint id of a string, or -1 */
int spm_joint_find(const spm_model *m, const char *s, size_t len) {
    uint32_t h = spm_hash(s, len);
    for (uint32_t i = h & m->joint_mask;; i = (i + 1) & m->joint_mask) {
        const piece_slot *sl = &m->joint_slots[i];
        if (sl->normal < 0) return -1;
        const char *p = joint_piece(m, sl->normal);
        if (sl->hash == h && m->joint_off[sl->normal + 1] - m->joint_off[sl->normal] - 1 == len &&
            !memcmp(p, s, len))
            return sl->normal;
    }
}

int spm_set_joint_vocab(spm_model *m, const char *const *pieces, int n, int unk_id) {
    if (n <= 0) return pt_set_error("joint vocabulary is empty");
    if (unk_id < 0 || unk_id >= n) return pt_set_error("joint unk id %d out of range", unk_id);
    joint_clear(m);
    size_t pool = 0;
    for (int j = 0; j < n; j++) pool += strlen(pieces[j]) + 1;
    m->joint_pool = pt_malloc(pool);
    m->joint_off = pt_malloc(sizeof(uint32_t) * (size_t)(n + 1));
    size_t off = 0;
    for (int j = 0; j < n; j++) {
        size_t l = strlen(pieces[j]);
        memcpy(m->joint_pool + off, pieces[j], l + 1);
        m->joint_off[j] = (uint32_t)off;
        off += l + 1;
    }
    m->joint_off[n] = (uint32_t)off;
    m->n_joint = n;
    m->joint_unk = unk_id;
    m->joint_mask = table_size(n) - 1;
    m->joint_slots = pt_malloc(sizeof(piece_slot) * (m->joint_mask + 1));
    for (uint32_t i = 0; i <= m->joint_mask; i++) m->joint_slots[i] = (piece_slot){0, -1, -1};
    for (int j = 0; j < n; j++) {
        size_t l = m->joint_off[j + 1] - m->joint_off[j] - 1;
        uint32_t h = spm_hash(joint_piece(m, j), l);
        uint32_t i = h & m->joint_mask;
        for (;; i = (i + 1) & m->joint_mask) {
            piece_slot *sl = &m->joint_slots[i];
            if (sl->normal < 0) {
                sl->normal = j;
                sl->hash = h;
                break;
            }
            if (sl->hash == h && m->joint_off[sl->normal + 1] - m->joint_off[sl->normal] - 1 == l &&
                !memcmp(joint_piece(m, sl->normal), joint_piece(m, j), l)) {
                int first = sl->normal;
                joint_clear(m);
                return pt_set_error("joint vocabulary: entries %d and %d are the same piece", first, j);
            }
        }
    }
    m->to_joint = pt_malloc(sizeof(int32_t) * (size_t)m->n);
    for (int i = 0; i < m->n; i++) {
        int j = spm_joint_find(m, spm_piece(m, i), m->piece_len[i]);
        m->to_joint[i] = i == m->unk || j < 0 ? unk_id : j;
    }
    m->from_joint = pt_malloc(sizeof(int32_t) * (size_t)n);
    for (int j = 0; j < n; j++) {
        size_t l = m->joint_off[j + 1] - m->joint_off[j] - 1;
        int nid, rid;
        spm_lookup(m, joint_piece(m, j), l, &nid, &rid);
        m->from_joint[j] = rid >= 0 ? rid : nid;
    }
    return 0;
}

int spm_has_joint_vocab(const spm_model *m) { return m->n_joint > 0; }

/* ---- accessors -------------------------------------------------------- */

int spm_vocab_size(const spm_model *m) { return m->n_joint ? m->n_joint : m->n; }

const char *spm_id_to_piece(const spm_model *m, int id) {
    if (id < 0 || id >= spm_vocab_size(m)) return NULL;
    return m->n_joint ? joint_piece(m, id) : spm_piece(m, id);
}

int spm_piece_to_id(const spm_model *m, const char *piece, size_t len) {
    if (m->n_joint) {
        int j = spm_joint_find(m, piece, len);
        return j >= 0 ? j : m->joint_unk;
    }
    return spm_lookup_id(m, piece, len);
}

int spm_unk_id(const spm_model *m) { return m->n_joint ? m->joint_unk : m->unk; }

/* sentencepiece: the id of the named piece if it is a control piece, else -1 */
static int special_id(const spm_model *m, const char *name, int want_type) {
    int id = spm_lookup_id(m, name, strlen(name));
    if (m->type[id] != want_type) return -1;
    if (!m->n_joint) return id;
    return spm_joint_find(m, name, strlen(name));
}

int spm_bos_id(const spm_model *m) { return special_id(m, m->bos_piece, SPM_CONTROL); }
int spm_eos_id(const spm_model *m) { return special_id(m, m->eos_piece, SPM_CONTROL); }
int spm_pad_id(const spm_model *m) { return special_id(m, m->pad_piece, SPM_CONTROL); }

int spm_model_type(const spm_model *m) { return m->model_type; }
int spm_piece_count(const spm_model *m) { return m->n; }
int spm_piece_type(const spm_model *m, int i) { return i >= 0 && i < m->n ? m->type[i] : 0; }
float spm_piece_score(const spm_model *m, int i) { return i >= 0 && i < m->n ? m->score[i] : 0; }
const char *spm_normalizer_name(const spm_model *m) { return m->norm_name; }
int spm_byte_fallback(const spm_model *m) { return m->byte_fallback; }
