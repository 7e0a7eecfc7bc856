/* spm_internal.h: the inside of spm_model, shared by spm.c (loading),
 * spm_norm.c (normalizer), spm_encode.c, spm_decode.c and spm_gguf.c.
 * Nothing outside src/text/spm*.c includes this. */
#ifndef PETIT_SPM_INTERNAL_H
#define PETIT_SPM_INTERNAL_H

#include <stdint.h>

#include "text/spm.h"

/* A double-array trie over byte strings (our own layout, built at load
 * time): from node s, byte c leads to t = base[s] + c if check[t] == s.
 * value[s] >= 0 marks the end of a key. Slots past the last node are
 * padded with check = -1 so a transition never needs a bounds check. */
typedef struct {
    int32_t base, check, value;
} da_node;

typedef struct {
    da_node *nodes;
    int32_t n; /* slots, padding included */
} da_trie;

/* the raw darts-clone double array of a precompiled charsmap */
typedef struct {
    uint32_t *units;
    uint32_t n_units;
    char *pool;       /* normalized strings, each NUL-terminated; one extra NUL at the end */
    uint32_t pool_len; /* without the extra NUL */
} darts_map;

/* piece string -> ids, open addressing */
typedef struct {
    uint32_t hash;
    int32_t normal;   /* id among NORMAL / USER_DEFINED / UNUSED pieces, or -1 */
    int32_t reserved; /* id among UNKNOWN / CONTROL / BYTE pieces, or -1 */
} piece_slot;

struct spm_model {
    uint8_t *bytes; /* the serialized model, verbatim */
    size_t nbytes;

    /* pieces: strings in one pool, each NUL-terminated */
    int n;
    char *piece_pool;
    uint32_t *piece_off, *piece_len;
    float *score;
    uint8_t *type;

    /* trainer spec */
    int model_type, vocab_size_spec, byte_fallback, ws_suffix;
    char *unk_surface;
    char *unk_piece, *bos_piece, *eos_piece, *pad_piece;

    /* normalizer spec */
    char *norm_name;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
    darts_map charsmap;  /* n_units == 0: identity */
    uint8_t plain[256];  /* byte b is an ASCII char no rule or user symbol starts with */

    /* lookups */
    piece_slot *slots;
    uint32_t slot_mask;
    da_trie trie;        /* NORMAL, USER_DEFINED, UNUSED pieces -> id (unigram) */
    da_trie user;        /* USER_DEFINED pieces -> length (prefix matcher); n == 0: none */
    int has_user, has_unused;
    int has_shadow;      /* some string is both a normal and a reserved piece */
    int32_t byte_normal[256]; /* normal id of the one-byte string, or -1 */

    /* BPE merges by id: (left id, right id) -> id of their concatenation, for
     * every normal piece that splits into two normal pieces. One 64-bit
     * entry each, left << 42 | right << 21 | merged (so ids < 2^21),
     * open addressing, UINT64_MAX empty; NULL if the vocabulary is larger. */
    uint64_t *merges;
    uint32_t merge_mask;
    int merge_shift;
    float min_score, max_score;
    int unk;             /* the UNKNOWN piece */
    int byte_piece[256]; /* id of <0xNN>, or -1 */

    /* joint vocabulary (n_joint == 0: none) */
    int n_joint;
    char *joint_pool;
    uint32_t *joint_off;
    int joint_unk;
    piece_slot *joint_slots; /* joint string -> joint id (in .normal) */
    uint32_t joint_mask;
    int32_t *to_joint;   /* [n] own id -> joint id */
    int32_t *from_joint; /* [n_joint] joint id -> own id, or -1: not a piece of this model */
};

/* spm.c */
uint32_t spm_hash(const char *s, size_t len);
/* ids of a piece string: *normal and *reserved (each -1 if absent) */
void spm_lookup(const spm_model *m, const char *s, size_t len, int *normal, int *reserved);
/* sentencepiece's PieceToId: reserved first, then normal, else the unk id */
int spm_lookup_id(const spm_model *m, const char *s, size_t len);
/* "<0xNN>" -> NN, else -1 */
int spm_byte_of_piece(const char *p, size_t n);
static inline const char *spm_piece(const spm_model *m, int id) {
    return m->piece_pool + m->piece_off[id];
}

/* spm_trie.c */
/* keys[i] has lens[i] bytes and value vals[i]; keys need not be sorted */
int da_build(da_trie *t, const char *const *keys, const uint32_t *lens, const int32_t *vals, int n);
void da_free(da_trie *t);

/* spm_norm.c */
int spm_charsmap_init(darts_map *cm, const uint8_t *blob, size_t n);
void spm_charsmap_free(darts_map *cm);
void spm_norm_prepare(spm_model *m); /* fills m->plain */
/* Normalize text into *out (grown; *cap its capacity); returns the length. */
size_t spm_normalize(const spm_model *m, const char *text, size_t len, char **out, size_t *cap);
/* sentencepiece's PrefixMatcher over user-defined symbols: length of the
 * longest symbol at s (0 if none) */
int spm_user_match(const spm_model *m, const char *s, size_t len);

static inline uint32_t spm_merge_slot(const spm_model *m, uint64_t lr) {
    return (uint32_t)((lr * 0x9e3779b97f4a7c15ULL) >> m->merge_shift);
}
/* the merge of pieces l and r, or -1 */
static inline int32_t spm_merge(const spm_model *m, int32_t l, int32_t r) {
    uint64_t lr = (uint64_t)l << 21 | (uint64_t)r;
    for (uint32_t i = spm_merge_slot(m, lr);; i = (i + 1) & m->merge_mask) {
        uint64_t e = m->merges[i];
        if (e >> 21 == lr) return (int32_t)(e & 0x1fffff);
        if (e == UINT64_MAX) return -1;
    }
}

/* UTF-8 length by the lead byte only, as sentencepiece's OneCharLen */
static inline int spm_one_char_len(unsigned char c) {
    static const uint8_t tab[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return tab[c >> 4];
}

/* joint id of a piece string, or -1 (models with a joint vocabulary) */
int spm_joint_find(const spm_model *m, const char *s, size_t len);

#endif
