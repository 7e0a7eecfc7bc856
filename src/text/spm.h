/* spm: SentencePiece models in plain C — read a .model file, normalize,
 * encode text to ids (unigram Viterbi or BPE merges, byte fallback, unknown
 * pieces, user-defined and control symbols) and decode ids back to text.
 *
 * The goal is bit-exactness with sentencepiece's own spm_encode/spm_decode
 * (version 0.1.97, the one Debian ships): same normalization through the
 * model's precompiled charsmap, same tie-breaking, same float arithmetic in
 * the Viterbi search, same merging of consecutive unknown pieces, same
 * " ⁇ " for <unk> when decoding. tools/spm_compare.sh checks every line of
 * the shared corpus; tests/test_spm.c checks committed fixtures.
 *
 * What it is not: a trainer (petit vocab runs sentencepiece's spm_train),
 * a sampler (no subword regularization, no BPE dropout, no n-best), and it
 * does not apply a denormalizer_spec (models trained by spm_train have
 * none). WORD and CHAR models are refused with a clear error.
 *
 * Usage:
 *   spm_model *m = spm_load_file("vocab.model");     // NULL: pt_error() says why
 *   int *ids = NULL; size_t cap = 0;
 *   int n = spm_encode(m, line, len, &ids, &cap);    // no BOS/EOS added
 *   size_t tl; char *text = spm_decode(m, ids, n, &tl);
 *   free(text); free(ids); spm_free(m);
 *
 * Input text may hold any bytes. As sentencepiece does, each byte that does
 * not start a valid UTF-8 character becomes U+FFFD during normalization (so
 * it encodes as <unk>, or as the bytes EF BF BD with byte fallback); a NUL
 * byte is an ordinary character. A trailing '\r' is NOT removed (spm_encode
 * keeps it too: nmt_nfkc turns it into a space, identity keeps it).
 *
 * Thread-safety: a loaded model is read-only; spm_encode and spm_decode may
 * run on one model from many threads. Each thread keeps a small scratch area
 * (normalized text, lattice, merge heap) that grows to the longest line seen
 * and is reused, so encoding does no allocation per line once warm;
 * spm_scratch_release() frees the calling thread's scratch.
 *
 * Joint vocabularies (OPUS-MT / Marian): such models carry a source and a
 * target SentencePiece model and one joint vocabulary (vocab.json) that maps
 * piece strings to the ids the network sees. spm_set_joint_vocab() attaches
 * that vocabulary to a model; from then on every id in this API is a joint
 * id: spm_encode maps each piece to its joint id (pieces absent from the
 * joint vocabulary become the joint unk id, as Marian does; a run of text
 * the model does not know is looked up by its normalized text, the piece
 * sentencepiece hands out for it, as MarianTokenizer does), spm_decode maps
 * joint ids to piece strings and decodes them with this model (a piece the
 * model does not know is output verbatim, as sentencepiece's DecodePieces
 * does), and spm_vocab_size / spm_id_to_piece / spm_piece_to_id / the
 * special ids all speak joint ids.
 *
 * GGUF keys written by spm_to_gguf (PREFIX is e.g. "petit.tokenizer"):
 *   PREFIX.model             u8[]   the source (or only) .model file, verbatim
 *   PREFIX.target.model      u8[]   the target-side .model, when the two sides
 *                                   use different SentencePiece models
 *   PREFIX.joint.pieces      str[]  the joint vocabulary, joint id = index
 *   PREFIX.joint.unk_id      i32    joint id given to pieces outside it
 *   PREFIX.source.to_joint   i32[]  source model piece id -> joint id
 *   PREFIX.target.to_joint   i32[]  target model piece id -> joint id
 * The joint keys are present only for models with a joint vocabulary. For
 * outside GGUF readers the source vocabulary is also listed the way
 * llama.cpp lists vocabularies: tokenizer.ggml.model = "petit-spm",
 * tokenizer.ggml.tokens (str[]), .scores (f32[]), .token_type (i32[],
 * llama.cpp's numbering: 1 normal, 2 unknown, 3 control, 4 user-defined,
 * 5 unused, 6 byte), and .unknown_token_id / .bos_token_id / .eos_token_id /
 * .padding_token_id (u32, present when defined). petit reads only PREFIX.*.
 */
#ifndef PETIT_SPM_H
#define PETIT_SPM_H

#include <stddef.h>

#include "gguf/gguf.h"

typedef struct spm_model spm_model;

/* piece types, numbered as in sentencepiece_model.proto */
enum spm_piece_type {
    SPM_NORMAL = 1, SPM_UNKNOWN = 2, SPM_CONTROL = 3, SPM_USER_DEFINED = 4,
    SPM_UNUSED = 5, SPM_BYTE = 6,
};
enum spm_model_type { SPM_UNIGRAM = 1, SPM_BPE = 2, SPM_WORD = 3, SPM_CHAR = 4 };

/* ---- loading --------------------------------------------------------- */
spm_model *spm_load_file(const char *path);          /* NULL + pt_error on failure */
spm_model *spm_load_mem(const void *buf, size_t n);  /* copies what it needs */
void spm_free(spm_model *m);
/* A .model file or a GGUF model file (told apart by the GGUF magic) whose
 * vocabulary is stored under "petit.tokenizer". target_side: 1 picks the
 * target-side model of a file that has two, else the only one. */
spm_model *spm_load_auto(const char *path, int target_side);

/* The serialized .model bytes, so the vocabulary can travel inside a model file. */
const void *spm_model_bytes(const spm_model *m, size_t *n);

/* ---- vocabulary ------------------------------------------------------ */
int spm_vocab_size(const spm_model *m);
/* piece string (NUL-terminated) or NULL if id is out of range */
const char *spm_id_to_piece(const spm_model *m, int id);
/* id of the piece (control and byte pieces included), the unk id if absent */
int spm_piece_to_id(const spm_model *m, const char *piece, size_t len);
int spm_unk_id(const spm_model *m);
int spm_bos_id(const spm_model *m); /* -1 if none */
int spm_eos_id(const spm_model *m); /* -1 if none */
int spm_pad_id(const spm_model *m); /* -1 if none */

/* About the SentencePiece model itself (not the joint vocabulary). */
int spm_model_type(const spm_model *m);         /* enum spm_model_type */
int spm_piece_count(const spm_model *m);        /* pieces in the .model */
int spm_piece_type(const spm_model *m, int i);  /* enum spm_piece_type of .model piece i */
float spm_piece_score(const spm_model *m, int i);
const char *spm_normalizer_name(const spm_model *m); /* "nmt_nfkc", "identity", ... */
int spm_byte_fallback(const spm_model *m);

/* ---- encoding -------------------------------------------------------- */
/* Encode one line (len bytes, may contain any bytes incl. NUL and invalid UTF-8).
 * Writes ids into *ids, growing it with realloc (*cap its capacity in ints).
 * Returns the number of ids (no BOS/EOS added), or -1 with pt_error. Thread-safe on a const model. */
int spm_encode(const spm_model *m, const char *text, size_t len, int **ids, size_t *cap);

/* The pieces of one line the way `spm_encode --output_format=piece` prints
 * them: separated by single spaces (an unknown run prints as its normalized
 * text, byte fallback as <0xNN>). Written to *out (grown with realloc,
 * *cap its capacity), NUL-terminated; returns the number of bytes (without
 * the NUL) or -1 with pt_error. */
long spm_encode_pieces(const spm_model *m, const char *text, size_t len, char **out, size_t *cap);

/* Free the calling thread's encoding scratch (it is re-created on demand). */
void spm_scratch_release(void);

/* ---- decoding -------------------------------------------------------- */
/* ids -> text, malloc'd, NUL-terminated, length in *len. Thread-safe. Out-of-range ids are skipped. */
char *spm_decode(const spm_model *m, const int *ids, int n, size_t *len);

/* Pieces -> text, as `spm_decode` (piece input) does: each piece is looked
 * up by its string; a string that is not a piece of the model is output
 * verbatim. pieces[i] has lens[i] bytes. malloc'd, NUL-terminated. */
char *spm_decode_pieces(const spm_model *m, const char *const *pieces, const size_t *lens, int n,
                        size_t *len);

/* ---- joint vocabularies ---------------------------------------------- */
/* Attach a joint vocabulary of n piece strings (joint id = index; strings
 * NUL-terminated, copied) with unk_id the joint id of unknown pieces.
 * 0 ok, -1 + pt_error (duplicate strings, unk_id out of range). */
int spm_set_joint_vocab(spm_model *m, const char *const *pieces, int n, int unk_id);
int spm_has_joint_vocab(const spm_model *m);

/* ---- GGUF ------------------------------------------------------------ */
/* Store / load a vocabulary in GGUF metadata (keys above). tgt_or_null is
 * the target-side model when it differs from the source side. */
void spm_to_gguf(const spm_model *src, const spm_model *tgt_or_null, gguf_writer *w,
                 const char *prefix);
/* 0 ok, -1 + pt_error. *tgt is NULL when the file has one model for both
 * sides (tgt itself may be NULL when the caller wants only the source). */
int spm_from_gguf(const gguf_file *g, const char *prefix, spm_model **src, spm_model **tgt);

#endif
