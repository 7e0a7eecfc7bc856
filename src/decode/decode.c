/* decode.c: incremental decoding with caches; greedy is beam search with K = 1. */
#include "decode/decode.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "nn/nn.h"

void pt_decode_opts_default(pt_decode_opts *o) {
    o->beam = 4;
    o->len_penalty = 1.0f;
    o->max_len_a = 2.0f;
    o->max_len_b = 10.0f;
    o->nbest = 1;
    o->allow_unk = 0;
    o->shortlist = 1;
}

/* The self-attention cache of one kind of head (nn.h's NN_HEAD_*): heads
 * [h0, h0 + nh), their key (or value) columns [h0*dh, (h0+nh)*dh) stored as
 * slots of nh*dh floats at offset `off` of a row's cache. Where position j
 * lives, so that each query reads its keys as one run of consecutive slots
 * in increasing j, the order training's attention sums them in:
 *   dense: slot j (T slots);
 *   local: a ring of W slots mirrored once (2W slots): j is written to slots
 *          j mod W and j mod W + W, so the last W positions are consecutive;
 *   grid:  slot (j mod W) * G + j / W (W * G slots, G = ceil(T / W)), so the
 *          positions i, i-W, i-2W, ... that query i sees are consecutive.
 * A step at position t reads t+1 dense slots, min(t+1, W) local ones and
 * t/W + 1 grid ones. */
typedef struct {
    int h0, nh, slots, G;
    size_t off;
} kv_part;

typedef struct {
    int *ids;   /* (cap_T) */
    int n;
    float score;  /* normalized */
} fin_hyp;

struct pt_decoder {
    const pt_model *m;
    pt_acts *enc;          /* encoder activations */
    pt_acts_caps enc_caps;
    int cap_B, cap_R, cap_T, cap_S, K2; /* K2 = 2K finished slots per sentence */
    /* kv_self: per layer, per row, keys and values in kv_part layouts (one
     * per kind of head); one layer's worth of scratch for reordering beams */
    char *kself, *vself, *kscr, *vscr; /* elements of es bytes: floats or halves */
    int f16;               /* the caches (self and cross) hold halves */
    size_t es;             /* bytes per cached element: 4 or 2 */
    float *ckv_tmp;        /* one encoder pass's cross keys and values, floats */
    size_t ckv_tmp_rows;   /* its capacity in source positions */
    /* the float buffers are pages of their own (pt_alloc_pages), so that a
     * buffer outgrown by a longer batch goes back to the system instead of
     * staying in the heap */
    void *pages[16];
    size_t page_bytes[16];
    int n_pages;
    int *saved;            /* (cap_R) scratch slot of a row being reordered, or -1 */
    kv_part part[3];       /* NN_HEAD_DENSE, NN_HEAD_LOCAL, NN_HEAD_GRID */
    size_t row_floats;     /* one row's cache in one layer */
    int cur;               /* which history copy is live */
    char *ckv;             /* kv_cross: per layer (cap_B * cap_S, 2D) elements */
    /* per-step scratch, rows R */
    float *x, *h, *qkv, *ctx, *o, *up, *logits, *mean, *rstd, *att;
    int *tok, *row_sent, *hist[2], *parent;
    float *score, *new_score;
    /* per sentence */
    int *src_len, *max_out, *active, *n_fin, *row0, *nrows, *src_pad;
    fin_hyp *fin;          /* (cap_B, K2) */
    int *fin_ids;          /* storage for fin[].ids */
    /* candidate heap */
    int *cand_row, *cand_tok, *n_cand; /* (cap_B, K2) per sentence */
    float *cand_score;
    long steps;
    double *prof_step, *prof_attn; /* (prof_cap) per-position timings, or NULL */
    int prof_cap;
    /* the shortlist, and this batch's output layer over its union: sel[i]
     * is the token of logit column i (ascending), sub_w those rows of the
     * output embedding (F32: packed as the model's, the same bits per row) */
    const pt_shortlist *sl;
    int use_sl, n_sel;
    int *sel;
    unsigned char *mark;
    nn_weight sub_w;
    nn_pmat sub_pk;
    char *sub_data;
    float *sub_b, *sub_pk_mem;
    int sub_cap; /* rows sub_data, sub_b, sub_pk_mem hold */
};

void pt_decoder_profile(pt_decoder *d, double *step_s, double *self_attn_s, int cap) {
    d->prof_step = step_s, d->prof_attn = self_attn_s, d->prof_cap = step_s ? cap : 0;
}

pt_decoder *pt_decoder_new(const pt_model *m) {
    pt_decoder *d = pt_calloc(1, sizeof *d);
    d->m = m;
    d->es = sizeof(float);
    return d;
}

static void free_buffers(pt_decoder *d) {
    for (int i = 0; i < d->n_pages; i++) pt_free_pages(d->pages[i], d->page_bytes[i]);
    d->n_pages = 0;
    void *qs[] = {d->saved, d->tok, d->row_sent, d->hist[0], d->hist[1], d->parent, d->score, d->new_score,
                  d->src_len, d->max_out, d->active, d->n_fin, d->row0, d->nrows, d->src_pad,
                  d->fin, d->fin_ids, d->cand_row, d->cand_tok, d->cand_score, d->n_cand};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) free(qs[i]);
}

void pt_decoder_free(pt_decoder *d) {
    if (!d) return;
    free_buffers(d);
    free(d->sel), free(d->mark), free(d->sub_data), free(d->sub_b), pt_free_aligned(d->sub_pk_mem);
    pt_acts_free(d->enc);
    free(d);
}

long pt_decode_steps(const pt_decoder *d) { return d->steps; }

void pt_decoder_set_shortlist(pt_decoder *d, const pt_shortlist *sl) {
    d->sl = sl;
    if (sl && !d->sel) {
        d->sel = pt_malloc((size_t)d->m->cfg.vocab * sizeof(int));
        d->mark = pt_calloc((size_t)d->m->cfg.vocab, 1);
    }
}

int pt_decode_rows(const pt_decoder *d) { return d->use_sl ? d->n_sel : d->m->cfg.vocab; }

/* The batch's union of shortlisted pieces, and the output layer's rows for
 * them. EOS is always in; so are PAD and UNK, masked after the softmax as
 * without a shortlist, so that the union of every piece is exact decoding:
 * *col_pad and *col_unk receive their logit columns. */
static void shortlist_rows(pt_decoder *d, const int *const *src, const int *src_len, int B, int *col_pad,
                           int *col_unk) {
    const pt_model *m = d->m;
    const pt_config *c = &m->cfg;
    int always[3] = {c->eos_id, c->pad_id, c->unk_id};
    int n = d->n_sel = pt_shortlist_select(d->sl, src, src_len, B, always, 3, NULL, 0, c->vocab, d->sel, d->mark);
    for (int i = 0; i < n; i++) {
        if (d->sel[i] == c->pad_id) *col_pad = i;
        if (d->sel[i] == c->unk_id) *col_unk = i;
    }
    const nn_weight *W = PT_W(m, tok_emb, 0);
    size_t rb = W->type == NN_F32 ? (size_t)W->in * sizeof(float) : nn_qrow_bytes(W->type, W->in);
    if (n > d->sub_cap) {
        free(d->sub_data), free(d->sub_b), pt_free_aligned(d->sub_pk_mem);
        d->sub_data = pt_malloc((size_t)n * rb);
        d->sub_b = pt_malloc((size_t)n * sizeof(float));
        d->sub_pk_mem = W->type == NN_F32 ? pt_alloc_aligned(nn_pmat_floats(W->in, n) * sizeof(float)) : NULL;
        d->sub_cap = n;
    }
    for (int i = 0; i < n; i++) {
        char *dst = d->sub_data + (size_t)i * rb;
        if (W->type == NN_F32) {
            const float *r = nn_weight_row(W, d->sel[i], (float *)dst);
            if (r != (const float *)dst) memcpy(dst, r, rb);
        } else memcpy(dst, (const char *)W->data + (size_t)d->sel[i] * rb, rb);
        d->sub_b[i] = m->p.out_b[d->sel[i]];
    }
    d->sub_w = (nn_weight){W->type, W->in, n, d->sub_data, NULL};
    if (W->type == NN_F32 && W->pk) { /* the model's kernel, so each row's logit is the same bits */
        nn_pmat_pack(&d->sub_pk, d->sub_pk_mem, (const float *)d->sub_data, W->in, n);
        d->sub_w.pk = &d->sub_pk;
    }
}

/* n zeroed bytes of their own pages, freed by free_buffers */
static void *grab_bytes(pt_decoder *d, size_t n) {
    PT_ASSERT(d->n_pages < (int)(sizeof d->pages / sizeof d->pages[0]));
    d->page_bytes[d->n_pages] = n;
    return d->pages[d->n_pages++] = pt_alloc_pages(n);
}

static float *grab(pt_decoder *d, size_t n) { return grab_bytes(d, n * sizeof(float)); }

/* Sentences per encoder pass for sources of up to S tokens: about
 * ENC_ROWS rows, enough for the products to run at speed; the encoder's
 * activations and the float cross keys and values are sized for one pass. */
#define ENC_ROWS 256
static int enc_batch(int B, int S) {
    int e = ENC_ROWS / (S > 0 ? S : 1);
    return e < 1 ? 1 : e > B ? B : e;
}

/* n floats into the cache at dst (floats or halves) */
static inline void cache_put(const pt_decoder *d, char *dst, const float *src, size_t n) {
    if (d->f16) nn_f32_to_f16((uint16_t *)dst, src, n);
    else memcpy(dst, src, n * sizeof(float));
}

void pt_decoder_set_f16(pt_decoder *d, int on) {
    if (!!on == d->f16) return;
    free_buffers(d);
    d->cap_B = d->cap_S = d->cap_R = d->cap_T = d->K2 = 0; /* reserve anew */
    d->f16 = !!on;
    d->es = on ? 2 : 4;
}

/* Make room for B sentences of up to S source tokens, K beams, T positions. */
static void reserve(pt_decoder *d, int B, int S, int K, int T) {
    const pt_config *c = &d->m->cfg;
    pt_acts_caps need = pt_caps_of(enc_batch(B, S), S, 0);
    if (!d->enc || !pt_caps_fit(d->enc_caps, need)) {
        pt_acts_free(d->enc);
        d->enc_caps = d->enc ? pt_caps_max(d->enc_caps, need) : need;
        d->enc = pt_acts_new_inference(c, d->enc_caps);
    }
    int R = B * K;
    if (B <= d->cap_B && S <= d->cap_S && R <= d->cap_R && T <= d->cap_T && 2 * K <= d->K2) return;
    free_buffers(d);
    B = B > d->cap_B ? B : d->cap_B;
    S = S > d->cap_S ? S : d->cap_S;
    R = R > d->cap_R ? R : d->cap_R;
    T = T > d->cap_T ? T : d->cap_T;
    int K2 = 2 * K > d->K2 ? 2 * K : d->K2;
    d->cap_B = B, d->cap_S = S, d->cap_R = R, d->cap_T = T, d->K2 = K2;
    size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->vocab, L = (size_t)c->dec_layers;
    size_t H = (size_t)c->n_heads, TS = (size_t)(T > S ? T : S);
    /* cache layout: local heads, grid heads, dense heads */
    nn_mask sm = pt_dec_self_mask(c);
    int W = c->attn_window, nl = sm.kind == NN_MASK_MULTIAXIS ? sm.n_local : 0;
    int ng = sm.kind == NN_MASK_MULTIAXIS ? sm.n_grid : 0, dh = c->d_model / c->n_heads;
    kv_part *pl = &d->part[NN_HEAD_LOCAL], *pg = &d->part[NN_HEAD_GRID], *pd = &d->part[NN_HEAD_DENSE];
    *pl = (kv_part){0, nl, nl ? 2 * W : 0, 0, 0};
    *pg = (kv_part){nl, ng, 0, ng ? (T + W - 1) / W : 0, 0};
    pg->slots = ng ? W * pg->G : 0;
    *pd = (kv_part){nl + ng, c->n_heads - nl - ng, T, 0, 0};
    pg->off = (size_t)pl->slots * nl * dh;
    pd->off = pg->off + (size_t)pg->slots * ng * dh;
    d->row_floats = pd->off + (size_t)pd->slots * pd->nh * dh;
    /* the self-attention caches are sized for the longest output the batch
     * may reach, but cost memory only as far as the rows really get */
    size_t es = d->es;
    d->kself = grab_bytes(d, L * R * d->row_floats * es), d->vself = grab_bytes(d, L * R * d->row_floats * es);
    d->kscr = grab_bytes(d, R * d->row_floats * es), d->vscr = grab_bytes(d, R * d->row_floats * es);
    d->saved = pt_calloc((size_t)R, sizeof(int));
    for (int i = 0; i < 2; i++) d->hist[i] = pt_calloc((size_t)R * T, sizeof(int));
    d->ckv = grab_bytes(d, L * B * S * 2 * D * es);
    d->ckv_tmp_rows = (size_t)enc_batch(B, S) * S;
    d->ckv_tmp = grab(d, d->ckv_tmp_rows * 2 * D);
    d->x = grab(d, R * D);
    d->h = grab(d, R * D);
    d->qkv = grab(d, R * 3 * D);
    d->ctx = grab(d, R * D);
    d->o = grab(d, R * D);
    d->up = grab(d, R * F);
    d->logits = grab(d, R * V);
    d->mean = grab(d, R);
    d->rstd = grab(d, R);
    d->att = grab(d, R * H * TS);
    d->tok = pt_calloc((size_t)R, sizeof(int));
    d->row_sent = pt_calloc((size_t)R, sizeof(int));
    d->parent = pt_calloc((size_t)R, sizeof(int));
    d->score = pt_calloc((size_t)R, sizeof(float));
    d->new_score = pt_calloc((size_t)R, sizeof(float));
    d->src_len = pt_calloc((size_t)B, sizeof(int));
    d->max_out = pt_calloc((size_t)B, sizeof(int));
    d->active = pt_calloc((size_t)B, sizeof(int));
    d->n_fin = pt_calloc((size_t)B, sizeof(int));
    d->row0 = pt_calloc((size_t)B, sizeof(int));
    d->nrows = pt_calloc((size_t)B, sizeof(int));
    d->src_pad = pt_calloc((size_t)B * S, sizeof(int));
    d->fin = pt_calloc((size_t)B * K2, sizeof(fin_hyp));
    d->fin_ids = pt_calloc((size_t)B * K2 * T, sizeof(int));
    for (size_t i = 0; i < (size_t)B * K2; i++) d->fin[i].ids = d->fin_ids + i * T;
    d->cand_row = pt_calloc((size_t)B * K2, sizeof(int));
    d->cand_tok = pt_calloc((size_t)B * K2, sizeof(int));
    d->cand_score = pt_calloc((size_t)B * K2, sizeof(float));
    d->n_cand = pt_calloc((size_t)B, sizeof(int));
}

/* The slot of position j in a part's cache (kv_part; for a local head the
 * first of its two, the mirror is W slots later). */
static inline int kv_slot(const kv_part *pp, int kind, int W, int j) {
    return kind == NN_HEAD_LOCAL ? j % W : kind == NN_HEAD_GRID ? (j % W) * pp->G + j / W : j;
}

/* the decoding step's attention cores (pt_dec_attn): over the rows' caches */
typedef struct {
    pt_decoder *d;
    int R, t, prof;
    double t_attn; /* the self-attention cores' time, when profiling */
    nn_mask sm;
} step_attn;

/* causal self-attention at position t: the new keys and values into each
 * row's cache, then each head over its cached positions */
static void step_self(void *ctx, int l, pt_layer_bufs *L) {
    step_attn *sa = ctx;
    pt_decoder *d = sa->d;
    const pt_config *c = &d->m->cfg;
    int R = sa->R, t = sa->t, D = c->d_model, H = c->n_heads, dh = D / H, TS = d->cap_T > d->cap_S ? d->cap_T : d->cap_S;
    float scale = 1.0f / sqrtf((float)dh);
    size_t rf = d->row_floats, es = d->es;
    char *ks = d->kself + (size_t)l * d->cap_R * rf * es;
    char *vs = d->vself + (size_t)l * d->cap_R * rf * es;
    const float *qkv = L->qkv;
    double t_a = sa->prof ? pt_time() : 0;
    for (int r = 0; r < R; r++)
        for (int kind = 0; kind < 3; kind++) {
            const kv_part *pp = &d->part[kind];
            if (!pp->nh) continue;
            size_t w = (size_t)pp->nh * dh, c0 = (size_t)pp->h0 * dh;
            const float *kn = qkv + (size_t)r * 3 * D + D + c0, *vn = kn + D;
            char *kr = ks + (r * rf + pp->off) * es, *vr = vs + (r * rf + pp->off) * es;
            size_t sl = (size_t)kv_slot(pp, kind, c->attn_window, t);
            cache_put(d, kr + sl * w * es, kn, w);
            cache_put(d, vr + sl * w * es, vn, w);
            if (kind == NN_HEAD_LOCAL) { /* and its mirror */
                sl += (size_t)c->attn_window;
                cache_put(d, kr + sl * w * es, kn, w);
                cache_put(d, vr + sl * w * es, vn, w);
            }
        }
    const nn_mask *sm = &sa->sm;
#pragma omp parallel for schedule(static) collapse(2) if ((long)R * H * (t + 1) * dh > 32768)
    for (int r = 0; r < R; r++)
        for (int h = 0; h < H; h++) {
            /* the mask's keys j0, j0 + step, ... lie in consecutive slots */
            int kind = nn_mask_head(sm, h), j0, step;
            int n = nn_mask_span(sm, 0, h, t, t + 1, &j0, &step);
            const kv_part *pp = &d->part[kind];
            size_t w = (size_t)pp->nh * dh, first = (size_t)kv_slot(pp, kind, c->attn_window, j0);
            size_t o = r * rf + pp->off + first * w + (size_t)(h - pp->h0) * dh;
            float *out = L->ctx + (size_t)r * D + h * dh, *pr = d->att + ((size_t)r * H + h) * TS;
            const float *qr = qkv + (size_t)r * 3 * D + h * dh;
            if (d->f16)
                nn_attend_f16(out, pr, qr, (const uint16_t *)ks + o, (const uint16_t *)vs + o, (int)w, n, dh, scale);
            else
                nn_attend(out, pr, qr, (const float *)ks + o, (const float *)vs + o, (int)w, n, dh, scale);
        }
    if (sa->prof) sa->t_attn += pt_time() - t_a;
}

/* cross-attention: each row over its sentence's kv_cross */
static void step_cross(void *ctx, int l, pt_layer_bufs *L) {
    step_attn *sa = ctx;
    pt_decoder *d = sa->d;
    const pt_config *c = &d->m->cfg;
    int R = sa->R, D = c->d_model, H = c->n_heads, dh = D / H, S = d->cap_S, TS = d->cap_T > S ? d->cap_T : S;
    float scale = 1.0f / sqrtf((float)dh);
    size_t D2 = 2 * (size_t)D;
    const char *ckv = d->ckv + (size_t)l * d->cap_B * S * D2 * d->es;
#pragma omp parallel for schedule(static) collapse(2) if ((long)R * H * S * dh > 32768)
    for (int r = 0; r < R; r++)
        for (int h = 0; h < H; h++) {
            int b = d->row_sent[r];
            size_t o = (size_t)b * S * D2 + (size_t)h * dh; /* keys; the values D further */
            float *out = L->cctx + (size_t)r * D + h * dh, *pr = d->att + ((size_t)r * H + h) * TS;
            const float *qr = L->cq + (size_t)r * D + h * dh;
            if (d->f16) {
                const uint16_t *kb = (const uint16_t *)ckv + o;
                nn_attend_f16(out, pr, qr, kb, kb + D, 2 * D, d->src_len[b], dh, scale);
            } else {
                const float *kb = (const float *)ckv + o;
                nn_attend(out, pr, qr, kb, kb + D, 2 * D, d->src_len[b], dh, scale);
            }
        }
}

/* One decoder step for R rows at position t: tokens d->tok -> logits (R, V).
 * The layers are training's (pt_dec_layer) over one stream d->x updated in
 * place; only the attention cores are the decoder's own. */
static void step(pt_decoder *d, int R, int t) {
    const pt_model *m = d->m;
    const pt_config *c = &m->cfg;
    pt_embed(m, pt_acts_pe(d->enc), d->x, d->tok, R, 1, t);
    int prof = t < d->prof_cap;
    double t_step = prof ? pt_time() : 0;
    step_attn sa = {d, R, t, prof, 0, pt_dec_self_mask(c)};
    pt_dec_attn at = {step_self, step_cross, &sa};
    pt_layer_bufs L = {
        .res = {d->x, d->x, d->x, d->x},
        .ln = {d->h, d->h, d->h},
        .mean = {d->mean, d->mean, d->mean},
        .rstd = {d->rstd, d->rstd, d->rstd},
        .qkv = d->qkv, .ctx = d->ctx, .cq = d->qkv, .cctx = d->ctx, .up = d->up, .act = d->up,
    };
    for (int l = 0; l < c->dec_layers; l++) pt_dec_layer(m, l, &L, d->o, R, &at, 0);
    pt_dec_logits(m, d->use_sl ? &d->sub_w : NULL, d->sub_b, d->logits, d->x, d->h, d->mean, d->rstd, R);
    d->steps++;
    if (prof) d->prof_step[t] = pt_time() - t_step, d->prof_attn[t] = sa.t_attn;
}

/* Copy the positions 0..t of one row's cache (all parts) from src to dst. */
static void copy_row(const pt_decoder *d, char *dst, const char *src, int t) {
    const int dh = d->m->cfg.d_model / d->m->cfg.n_heads, W = d->m->cfg.attn_window;
    for (int kind = 0; kind < 3; kind++) {
        const kv_part *pp = &d->part[kind];
        if (!pp->nh) continue;
        size_t w = (size_t)pp->nh * dh * d->es; /* bytes of one slot */
        char *a = dst + pp->off * d->es;
        const char *b = src + pp->off * d->es;
        if (kind == NN_HEAD_DENSE) memcpy(a, b, (size_t)(t + 1) * w);
        if (kind == NN_HEAD_LOCAL) { /* slots [0, n) and their mirrors [W, W + n) */
            size_t n = (size_t)(t + 1 < W ? t + 1 : W);
            memcpy(a, b, n * w);
            memcpy(a + (size_t)W * w, b + (size_t)W * w, n * w);
        }
        if (kind == NN_HEAD_GRID)
            for (int r = 0; r < W && r <= t; r++) /* residue class r holds (t-r)/W + 1 positions */
                memcpy(a + (size_t)r * pp->G * w, b + (size_t)r * pp->G * w, (size_t)((t - r) / W + 1) * w);
    }
}

/* Give row i the cache of its parent row d->parent[i], for rows 0..nR-1, in
 * place: a parent row that is read by another row and overwritten itself is
 * first saved to the scratch, one layer at a time, so reordering beams costs
 * one layer's worth of memory, not a second cache. Rows that keep their own
 * cache (greedy search, mostly) are not copied. */
static void gather(pt_decoder *d, int nR, int t) {
    int ns = 0;
    for (int i = 0; i < nR; i++) d->saved[i] = -1;
    for (int i = 0; i < nR; i++) {
        int j = d->parent[i];
        if (j != i && j < nR && d->parent[j] != j && d->saved[j] < 0) d->saved[j] = ns++;
    }
    const size_t rf = d->row_floats * d->es, lf = (size_t)d->cap_R * rf; /* bytes */
    const int L = d->m->cfg.dec_layers;
    /* within a layer: first save, then copy, rows in parallel (each row is
     * written by one thread, and nothing read in a phase is written in it) */
    int par = (long)nR * (t + 1) * d->m->cfg.d_model > 65536;
    (void)par; /* without OpenMP */
    for (int l = 0; l < L; l++) {
        char *kl = d->kself + l * lf, *vl = d->vself + l * lf;
#pragma omp parallel if (par)
        {
#pragma omp for schedule(static)
            for (int j = 0; j < nR; j++)
                if (d->saved[j] >= 0) {
                    copy_row(d, d->kscr + d->saved[j] * rf, kl + j * rf, t);
                    copy_row(d, d->vscr + d->saved[j] * rf, vl + j * rf, t);
                }
#pragma omp for schedule(static)
            for (int i = 0; i < nR; i++) {
                int j = d->parent[i];
                if (j == i) continue;
                int sj = j < nR ? d->saved[j] : -1;
                copy_row(d, kl + i * rf, sj >= 0 ? d->kscr + sj * rf : kl + j * rf, t);
                copy_row(d, vl + i * rf, sj >= 0 ? d->vscr + sj * rf : vl + j * rf, t);
            }
        }
    }
}

/* log-softmax of each row in place */
__attribute__((noinline)) /* its own function under coverage tracing (tests/fuzz/ignore.txt) */
static void log_softmax(float *z, int R, int V) {
#pragma omp parallel for schedule(static) if ((long)R * V > 32768)
    for (int r = 0; r < R; r++) {
        float *x = z + (size_t)r * V, mx = -FLT_MAX;
        for (int v = 0; v < V; v++)
            if (x[v] > mx) mx = x[v];
        float lse = mx + logf(nn_exp_sum(x, V, mx));
        for (int v = 0; v < V; v++) x[v] -= lse;
    }
}

/* candidate order: higher score first; ties: lower row, then lower token */
static int cand_better(float s1, int r1, int t1, float s2, int r2, int t2) {
    if (s1 != s2) return s1 > s2;
    if (r1 != r2) return r1 < r2;
    return t1 < t2;
}

/* Sentence b's `want` best candidates (row within the sentence, token) over
 * its rows: insertion into a sorted list (want = 2K is small). */
__attribute__((noinline)) /* its own function under coverage tracing (tests/fuzz/ignore.txt) */
static void sentence_candidates(pt_decoder *d, int b, int want, int V) {
    int nc = 0, r0 = d->row0[b];
    int *crow = d->cand_row + (size_t)b * d->K2, *ctok = d->cand_tok + (size_t)b * d->K2;
    float *csc = d->cand_score + (size_t)b * d->K2;
    for (int i = 0; i < d->nrows[b]; i++) {
        int r = r0 + i;
        const float *lp = d->logits + (size_t)r * V;
        float base = d->score[r];
        for (int v = 0; v < V; v++) {
            float s = base + lp[v];
            if (nc == want && !cand_better(s, i, v, csc[nc - 1], crow[nc - 1], ctok[nc - 1])) continue;
            int at = nc < want ? nc++ : nc - 1;
            while (at > 0 && cand_better(s, i, v, csc[at - 1], crow[at - 1], ctok[at - 1])) {
                csc[at] = csc[at - 1], crow[at] = crow[at - 1], ctok[at] = ctok[at - 1];
                at--;
            }
            csc[at] = s, crow[at] = i, ctok[at] = v;
        }
    }
    d->n_cand[b] = nc;
}

/* a finished hypothesis: n ids, raw log-prob score, normalized by len^alpha */
static void add_finished(pt_decoder *d, int b, const int *ids, int n, int len, float raw, float alpha) {
    fin_hyp *f = &d->fin[(size_t)b * d->K2 + d->n_fin[b]++];
    memcpy(f->ids, ids, (size_t)n * sizeof(int));
    f->n = n;
    f->score = alpha == 0.0f ? raw : raw / powf((float)len, alpha);
}

int pt_decode(pt_decoder *d, const int *const *src, const int *src_len, int B,
              const pt_decode_opts *o) {
    const pt_config *c = &d->m->cfg;
    const pt_params *p = &d->m->p;
    int K = o->beam < 1 ? 1 : o->beam, D = c->d_model, V = c->vocab;
    if (B <= 0) return 0;
    int S = 1, T = 1;
    for (int b = 0; b < B; b++) {
        if (src_len[b] < 1 || src_len[b] > c->max_len)
            return pt_set_error("sentence %d: %d source tokens (1 to %d allowed)", b, src_len[b], c->max_len);
        if (src_len[b] > S) S = src_len[b];
    }
    for (int b = 0; b < B; b++) {
        double mo = floor((double)o->max_len_a * src_len[b] + (double)o->max_len_b);
        int mx = mo < 1 ? 1 : mo > c->max_len - 1 ? c->max_len - 1 : (int)mo;
        if (mx + 1 > T) T = mx + 1;
    }
    reserve(d, B, S, K, T);
    d->use_sl = d->sl && o->shortlist;
    int col_pad = c->pad_id, col_unk = c->unk_id; /* logit columns */
    if (d->use_sl) shortlist_rows(d, src, src_len, B, &col_pad, &col_unk);
    const int Vr = d->use_sl ? d->n_sel : V; /* logit columns: column i is token sel[i] */
    T = d->cap_T, S = d->cap_S; /* strides of the buffers */
    int Smax = 1;
    for (int b = 0; b < B; b++) {
        double mo = floor((double)o->max_len_a * src_len[b] + (double)o->max_len_b);
        d->max_out[b] = mo < 1 ? 1 : mo > c->max_len - 1 ? c->max_len - 1 : (int)mo;
        d->src_len[b] = src_len[b];
        if (src_len[b] > Smax) Smax = src_len[b];
    }
    /* encoder on the padded batch, then kv_cross per layer */
    for (int b = 0; b < B; b++)
        for (int j = 0; j < Smax; j++) d->src_pad[b * Smax + j] = j < src_len[b] ? src[b][j] : c->pad_id;
    /* in passes of eb sentences, so that the encoder's activations and the
     * float cross keys and values are sized for one pass, not the batch */
    size_t D2 = 2 * (size_t)D;
    int eb = enc_batch(B, Smax);
    if ((size_t)eb * Smax > d->ckv_tmp_rows) eb = (int)(d->ckv_tmp_rows / Smax);
    for (int b0 = 0; b0 < B; b0 += eb) {
        int nb = B - b0 < eb ? B - b0 : eb;
        const float *mem = pt_encode(d->m, d->enc, d->src_pad + (size_t)b0 * Smax, src_len + b0, nb, Smax);
        for (int l = 0; l < c->dec_layers; l++) {
            pt_mm(d->m, PT_W(d->m, d_ckv_w, l), d->ckv_tmp, mem, p->d_ckv_b + l * D2, nb * Smax);
            char *ckv = d->ckv + (size_t)l * d->cap_B * S * D2 * d->es;
            for (int b = 0; b < nb; b++)
                cache_put(d, ckv + (size_t)(b0 + b) * S * D2 * d->es, d->ckv_tmp + (size_t)b * Smax * D2,
                          (size_t)Smax * D2);
        }
    }
    /* one live row per sentence: the empty hypothesis */
    int R = B;
    d->cur = 0;
    for (int b = 0; b < B; b++) {
        d->row_sent[b] = b, d->tok[b] = c->bos_id, d->score[b] = 0.0f;
        d->active[b] = 1, d->n_fin[b] = 0, d->row0[b] = b, d->nrows[b] = 1;
    }
    d->steps = 0;
    for (int t = 0; R > 0; t++) {
        step(d, R, t);
        log_softmax(d->logits, R, Vr);
        if (c->mask_pad) /* after the normalization, as generate's bad_words_ids */
            for (int r = 0; r < R; r++) d->logits[(size_t)r * Vr + col_pad] = -INFINITY;
        if (!o->allow_unk) /* a vocabulary with byte fallback never needs UNK */
            for (int r = 0; r < R; r++) d->logits[(size_t)r * Vr + col_unk] = -INFINITY;
        int *hist = d->hist[d->cur], *nhist = d->hist[!d->cur];
        /* each sentence's 2K best candidates over its rows, sentences in parallel */
#pragma omp parallel for schedule(dynamic, 1) if ((long)R * Vr > 65536)
        for (int b = 0; b < B; b++)
            if (d->active[b]) sentence_candidates(d, b, 2 * K, Vr);
        int nR = 0;
        for (int b = 0; b < B; b++) {
            if (!d->active[b]) continue;
            int nc = d->n_cand[b], r0 = d->row0[b];
            const int *crow = d->cand_row + (size_t)b * d->K2, *ctok = d->cand_tok + (size_t)b * d->K2;
            const float *csc = d->cand_score + (size_t)b * d->K2;
            int live = 0, start = nR;
            for (int k = 0; k < nc && live < K && d->n_fin[b] < K; k++) {
                int r = r0 + crow[k], v = d->use_sl ? d->sel[ctok[k]] : ctok[k];
                if (v == c->eos_id) {
                    add_finished(d, b, hist + (size_t)r * T, t, t + 1, csc[k], o->len_penalty);
                } else {
                    int nr = nR++;
                    d->parent[nr] = r;
                    d->row_sent[nr] = b; /* step() is done with the old rows */
                    d->new_score[nr] = csc[k];
                    memcpy(nhist + (size_t)nr * T, hist + (size_t)r * T, (size_t)t * sizeof(int));
                    nhist[(size_t)nr * T + t] = v;
                    live++;
                }
            }
            if (d->n_fin[b] >= K || t + 1 >= d->max_out[b]) {
                if (d->n_fin[b] < K) /* length limit: the live ones finish as they are */
                    for (int i = start; i < nR; i++)
                        add_finished(d, b, nhist + (size_t)i * T, t + 1, t + 1, d->new_score[i], o->len_penalty);
                nR = start;
                d->active[b] = 0;
            } else {
                d->row0[b] = start;
                d->nrows[b] = nR - start;
            }
        }
        gather(d, nR, t);
        for (int i = 0; i < nR; i++) {
            d->score[i] = d->new_score[i];
            d->tok[i] = nhist[(size_t)i * T + t];
        }
        d->cur = !d->cur;
        R = nR;
    }
    /* sort each sentence's finished hypotheses: best normalized score first,
     * earlier finished first on ties (insertion sort is stable) */
    for (int b = 0; b < B; b++) {
        fin_hyp *f = d->fin + (size_t)b * d->K2;
        for (int i = 1; i < d->n_fin[b]; i++) {
            fin_hyp x = f[i];
            int j = i;
            while (j > 0 && f[j - 1].score < x.score) f[j] = f[j - 1], j--;
            f[j] = x;
        }
        int keep = o->nbest < 1 ? 1 : o->nbest;
        if (d->n_fin[b] > keep) d->n_fin[b] = keep;
    }
    return 0;
}

int pt_decode_n_hyps(const pt_decoder *d, int b) { return d->n_fin[b]; }

const int *pt_decode_hyp(const pt_decoder *d, int b, int rank, int *n, float *score) {
    const fin_hyp *f = &d->fin[(size_t)b * d->K2 + rank];
    if (n) *n = f->n;
    if (score) *score = f->score;
    return f->ids;
}
