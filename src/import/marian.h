/* marian: import a Hugging Face MarianMT checkpoint (OPUS-MT models) as a
 * petit model file.
 *
 * The directory holds config.json, model.safetensors, source.spm,
 * target.spm and vocab.json (as `save_pretrained` writes them, plus the
 * tokenizer files); generation_config.json is read when present. The network
 * maps onto MODEL.md exactly: post-norm layers, learned positions holding
 * Marian's sinusoidal table (computed in double as transformers does, or the
 * file's own table when it stores one), token embeddings scaled by sqrt(D)
 * (scale_embedding), one embedding tied across encoder, decoder and output,
 * final_logits_bias as out.bias, q/k/v fused into qkv and k/v into cross.kv.
 * The two SentencePiece models keep their own pieces; vocab.json becomes the
 * joint vocabulary (spm_set_joint_vocab). decoder_start_token_id (= pad) is
 * petit's BOS, and bad_words_ids [[pad]] becomes mask_pad.
 *
 * Anything petit cannot compute exactly is refused with an error naming the
 * setting or tensor: pre-norm (normalize_before), layernorm_embedding,
 * final layer norms, untied or separate vocabularies, other activations,
 * unequal encoder/decoder widths or heads, tensors with unexpected names,
 * shapes or dtypes.
 *
 * What it is not: a reader of pytorch_model.bin (safetensors only), of
 * Marian's native .npz models, or of multilingual target-language tokens
 * (">>fra<<" is encoded as ordinary text).
 */
#ifndef PETIT_MARIAN_H
#define PETIT_MARIAN_H

#include "model/model.h"

typedef struct {
    pt_config cfg;    /* what the file records */
    int n_tensors;    /* read from model.safetensors */
    int pos_from_file; /* the position table came from the file (else computed) */
    int same_spm;     /* source.spm and target.spm are the same model */
    char dtype[16];   /* of the weights ("F32", "F16", ...; "mixed") */
} pt_marian_info;

/* Read the checkpoint in dir and write a petit model file to out.
 * 0, or -1 with pt_error(); on error nothing is written. */
int pt_marian_import(const char *dir, const char *out, pt_marian_info *info);

#endif
