/* cmd_train.c: `petit train` — parallel text in, checkpoints and a model out.
 * Shows a progress line on stderr, appends metrics as JSON lines, validates
 * on a dev set, stops early on patience, resumes exactly from a checkpoint,
 * and on SIGINT writes a final checkpoint before leaving. Under mpirun the
 * ranks train data-parallel (train/dist.h): rank 0 alone prints, writes
 * metrics and saves; every decision to stop is taken by all ranks together. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"
#include "nn/nn.h"
#include "train/dist.h"
#include "train/run.h"
#include "train/train.h"

static const char *usage_text =
    "usage: petit train --src FILE --tgt FILE --vocab SPM.model -o MODEL.gguf [options]\n"
    "       petit train --resume CKPT.gguf --src FILE --tgt FILE -o MODEL.gguf [options]\n"
    "\n"
    "Trains an encoder-decoder transformer (MODEL.md) on line-aligned parallel text.\n"
    "Writes MODEL.gguf (weights + vocabulary: all that translate needs) and a\n"
    "checkpoint (weights, AdamW moments, data position, RNG) that --resume continues\n"
    "bit for bit.\n"
    "\n"
    "data:\n"
    "  --src FILE, --tgt FILE      training text, one sentence per line\n"
    "  --vocab FILE                SentencePiece model (petit vocab makes one)\n"
    "  --dev-src FILE, --dev-tgt FILE   validation text (dev loss, early stop)\n"
    "  --max-lines N               read only the first N pairs\n"
    "model (ignored with --resume, which uses the checkpoint's):\n"
    "  --config FILE               'key = value' lines with these option names\n"
    "  --d-model N (256)  --heads N (4)  --ff N (1024)\n"
    "  --enc-layers N (6)  --dec-layers N (6)  --max-len N (128 tokens)\n"
    "  --norm pre|post (pre)  --act relu|gelu|swish (relu)\n"
    "  --pos sinusoidal|learned (sinusoidal)  --no-emb-scale  --dropout P (0.1)\n"
    "  --dec-attn dense|multiaxis (dense)  decoder self-attention; multiaxis: each\n"
    "                              head looks along one axis (MODEL.md):\n"
    "  --window W (16)             local heads see the last W positions, grid\n"
    "                              heads every W-th position back\n"
    "  --local-heads N (heads/2)  --grid-heads N (the rest)  (others stay dense)\n"
    "training:\n"
    "  --batch-tokens N (4096)     padded tokens per batch\n"
    "  --accum N (1)               batches per optimizer step\n"
    "  --lr X (5e-4)  --warmup N (4000)  --schedule inv_sqrt|cosine|constant\n"
    "  --min-lr X (0)              floor of the cosine schedule\n"
    "  --beta1 X (0.9)  --beta2 X (0.98)  --adam-eps X (1e-9)  --weight-decay X (0)\n"
    "  --clip X (1.0, 0 = off)     gradient clipping by global norm\n"
    "  --label-smoothing X (0.1)\n"
    "  --max-steps N  --max-epochs N (stop after either; default: 10 epochs)\n"
    "  --valid-every N (500)  --patience N (0 = no early stop)\n"
    "  --save-every N (1000)  --seed N (1)  --threads N (all cores; under mpirun\n"
    "                              the cores are shared among the machine's ranks)\n"
    "output (each checked before the first step: its folder must take a new file,\n"
    "and only a regular file is ever replaced; a symlink is written through):\n"
    "  -o, --output FILE           the model file\n"
    "  --checkpoint FILE           default: MODEL.ckpt.gguf beside the model\n"
    "  --snapshot-every N (0 = off) also keep the model of every N-th step as\n"
    "                              MODEL.stepNNNNNNN.gguf (to average the last ones)\n"
    "  --metrics FILE              append JSON lines (step, loss, dev_loss, lr, tok_s, ...)\n"
    "  --log-every N (10)  --quiet\n"
    "  --resume FILE               continue from a checkpoint (same data)\n"
    "  --init MODEL.gguf           start from a model's weights and configuration (an\n"
    "                              integer or packed model is dequantized)\n"
    "quantization-aware training (fine-tune with --init; writes an integer model):\n"
    "  --qat q8|q4                 train through weights rounded to Q8_0 / Q4_0\n"
    "  --qat-emb q8|q4|f32         the embedding's type (default: as --qat)\n"
    "  --qat-tensors LIST          all (default) or a comma list of emb, attn, ffn\n"
    "  --qat-lsq                   learn each block's step (LSQ) instead of rounding to the max\n"
    "ECQ-aware training (fine-tune with --init; writes a packed model, see petit pack):\n"
    "  --ecq LAMBDA                train through weights re-assigned by ECQ every step\n"
    "  --ecq-bits B                the grid, 2..8 bits (default 8)\n"
    "  --ecq-scales PACKED.gguf    each tensor's lambda times its multiplier in PACKED (a model\n"
    "                              of this architecture made by petit pack --fisher)\n"
    "several processes (data parallel, see README):\n"
    "  mpirun -np N petit train ...   each rank takes 1/N of every batch; the result\n"
    "                              does not depend on N (up to float rounding), and a\n"
    "                              run resumes with any N\n";

static const char *distill_usage_text =
    "usage: petit distill --teacher T.gguf --src FILE --tgt FILE -o STUDENT.gguf [options]\n"
    "       petit distill --teacher T.gguf --resume CKPT.gguf --src FILE --tgt FILE -o STUDENT.gguf\n"
    "\n"
    "Trains a student with word-level knowledge distillation: the teacher runs beside it\n"
    "on every batch, and the student's loss at each target position is\n"
    "    (1 - alpha) * CE(reference) + alpha * tau^2 * KL(teacher_tau || student_tau)\n"
    "over the teacher's distribution at temperature tau (its top-k tokens, renormalized).\n"
    "Student and teacher share the vocabulary; width, depth and decoder kind may differ.\n"
    "For sequence-level distillation, give as --tgt the teacher's own translations of\n"
    "--src (petit translate -m T.gguf --beam 5); the two combine.\n"
    "\n"
    "distillation:\n"
    "  --teacher FILE              the teacher model (float or integer weights)\n"
    "  --alpha X (0.5)             weight of the teacher's term (1: teacher only)\n"
    "  --tau X (1.0)               temperature of both distributions\n"
    "  --topk N (8)                keep the teacher's N most likely tokens (0: all)\n"
    "  --init-from-teacher         start the student from the teacher's weights: same\n"
    "                              width, its layers picked evenly (top layer on top)\n"
    "                              (default without it: --vocab and a fresh student)\n"
    "Every option of petit train applies (model size, schedule, --qat, ...);\n"
    "see petit train --help.\n";

typedef struct {
    const char *teacher;
    int init_from_teacher;
    const char *src, *tgt, *vocab, *dev_src, *dev_tgt, *out, *ckpt, *metrics, *resume, *init;
    const char *qat, *qat_emb, *qat_tensors, *ecq, *ecq_bits, *ecq_scales;
    long max_lines, max_steps, max_epochs, valid_every, patience, save_every, snapshot_every, log_every, threads;
    int quiet;
    pt_config cfg;
    pt_train_opts opts;
    int cfg_given; /* a model-size flag was given (checked against --resume) */
} train_args;

static volatile sig_atomic_t g_stop;
static int g_distill; /* running as petit distill */
static int g_rank, g_nranks = 1; /* data parallelism: this rank of how many */
static int g_together;           /* the ranks stopped together: no need to abort the job */
static char g_cmd[40] = "train"; /* "train", "distill", "train (rank 1)" in messages */
#define CMD g_cmd
static void on_sigint(int sig) {
    (void)sig;
    g_stop++;
}

static int parse_args(train_args *a, int argc, char **argv, int depth);

/* --config FILE: "key = value" lines, '#' comments; keys are option names */
static int read_config(train_args *a, const char *path, int depth) {
    if (depth > 2) return cli_usage(CMD, "%s: config files nest too deeply", path);
    size_t n;
    char *buf = pt_read_file(path, &n);
    if (!buf) return cli_fail(CMD, "%s", pt_error());
    pt_lines it;
    const char *l;
    size_t len;
    int line = 0, rc = 0;
    pt_lines_init(&it, buf, n);
    while (!rc && pt_lines_next(&it, &l, &len)) {
        line++;
        char tmp[512], key[128], val[384];
        if (len >= sizeof tmp) {
            rc = cli_fail(CMD, "%s:%d: line too long", path, line);
            break;
        }
        memcpy(tmp, l, len);
        tmp[len] = 0;
        char *h = strchr(tmp, '#');
        if (h) *h = 0;
        char *eq = strchr(tmp, '=');
        if (!eq) {
            if (strspn(tmp, " \t\r") != strlen(tmp))
                rc = cli_fail(CMD, "%s:%d: expected 'key = value'", path, line);
            continue;
        }
        *eq = 0;
        if (sscanf(tmp, " %127s", key) != 1 || sscanf(eq + 1, " %383s", val) != 1) {
            rc = cli_fail(CMD, "%s:%d: expected 'key = value'", path, line);
            break;
        }
        char flag[136];
        snprintf(flag, sizeof flag, "--%s", key);
        char *av[3] = {"train", flag, val}, where[600];
        snprintf(where, sizeof where, "%s:%d", path, line);
        cli_context = where;
        rc = parse_args(a, 3, av, depth + 1);
        cli_context = NULL;
    }
    free(buf);
    return rc;
}

static int parse_args(train_args *a, int argc, char **argv, int depth) {
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        double d;
#define STR(name, dst) if (!strcmp(f, name)) { if (!v) return cli_usage(CMD, "%s needs a value", f); dst = v; i++; continue; }
#define INT(name, dst, lo, hi) if (!strcmp(f, name)) { if (cli_int(CMD, f, v, lo, hi, &x)) return 1; dst = x; i++; continue; }
#define MINT(name, dst, lo, hi) if (!strcmp(f, name)) { if (cli_int(CMD, f, v, lo, hi, &x)) return 1; dst = (int)x; a->cfg_given = 1; i++; continue; }
#define FLT(name, dst, lo, hi) if (!strcmp(f, name)) { if (cli_float(CMD, f, v, lo, hi, &d)) return 1; dst = (float)d; i++; continue; }
        if (cli_is_help(f)) {
            fputs(g_distill ? distill_usage_text : usage_text, stdout);
            exit(0);
        }
        if (g_distill) {
            STR("--teacher", a->teacher)
            FLT("--alpha", a->opts.kd_alpha, 0, 1) FLT("--tau", a->opts.kd_tau, 1e-3, 1e3)
            INT("--topk", a->opts.kd_topk, 0, 1 << 24)
            if (!strcmp(f, "--init-from-teacher")) { a->init_from_teacher = 1; continue; }
        }
        STR("--src", a->src) STR("--tgt", a->tgt) STR("--vocab", a->vocab)
        STR("--dev-src", a->dev_src) STR("--dev-tgt", a->dev_tgt)
        STR("-o", a->out) STR("--output", a->out) STR("--checkpoint", a->ckpt)
        STR("--metrics", a->metrics) STR("--resume", a->resume) STR("--init", a->init)
        STR("--qat", a->qat) STR("--qat-emb", a->qat_emb) STR("--qat-tensors", a->qat_tensors)
        STR("--ecq", a->ecq) STR("--ecq-bits", a->ecq_bits) STR("--ecq-scales", a->ecq_scales)
        INT("--max-lines", a->max_lines, 1, 1L << 40)
        MINT("--d-model", a->cfg.d_model, 2, 16384) MINT("--heads", a->cfg.n_heads, 1, 256)
        MINT("--ff", a->cfg.d_ff, 1, 65536) MINT("--enc-layers", a->cfg.enc_layers, 1, 64)
        MINT("--dec-layers", a->cfg.dec_layers, 1, 64) MINT("--max-len", a->cfg.max_len, 4, 16384)
        FLT("--dropout", a->cfg.dropout, 0, 0.95)
        MINT("--window", a->cfg.attn_window, 0, 1 << 20) MINT("--local-heads", a->cfg.local_heads, 0, 1 << 20)
        MINT("--grid-heads", a->cfg.grid_heads, 0, 1 << 20)
        INT("--batch-tokens", a->opts.batch_tokens, 16, 1 << 24)
        INT("--accum", a->opts.accum, 1, 1024)
        FLT("--lr", a->opts.lr, 0, 10) INT("--warmup", a->opts.warmup, 0, 1 << 30)
        FLT("--min-lr", a->opts.min_lr, 0, 10)
        FLT("--beta1", a->opts.beta1, 0, 0.999999) FLT("--beta2", a->opts.beta2, 0, 0.999999999)
        FLT("--adam-eps", a->opts.eps, 0, 1) FLT("--weight-decay", a->opts.weight_decay, 0, 1)
        FLT("--clip", a->opts.clip, 0, 1e9) FLT("--label-smoothing", a->opts.smoothing, 0, 0.99)
        INT("--max-steps", a->max_steps, 1, 1L << 40) INT("--max-epochs", a->max_epochs, 1, 1 << 20)
        INT("--valid-every", a->valid_every, 1, 1L << 40) INT("--patience", a->patience, 0, 1 << 20)
        INT("--save-every", a->save_every, 1, 1L << 40) INT("--snapshot-every", a->snapshot_every, 0, 1L << 40) INT("--log-every", a->log_every, 1, 1L << 40)
        INT("--threads", a->threads, 0, 1024)
        if (!strcmp(f, "--seed")) {
            if (cli_int(CMD, f, v, 0, 1L << 62, &x)) return 2;
            a->opts.seed = (uint64_t)x;
            i++;
            continue;
        }
        if (!strcmp(f, "--quiet")) { a->quiet = 1; continue; }
        if (!strcmp(f, "--qat-lsq")) { a->opts.qat_lsq = 1; continue; }
        if (!strcmp(f, "--no-emb-scale")) { a->cfg.emb_scale = 0; a->cfg_given = 1; continue; }
        if (!strcmp(f, "--config")) {
            if (!v) return cli_usage(CMD, "--config needs a value");
            int rc = read_config(a, v, depth);
            if (rc) return rc;
            i++;
            continue;
        }
        if (!strcmp(f, "--norm") || !strcmp(f, "--act") || !strcmp(f, "--pos") || !strcmp(f, "--schedule") ||
            !strcmp(f, "--dec-attn")) {
            if (!v) return cli_usage(CMD, "%s needs a value", f);
            int r = !strcmp(f, "--norm") ? pt_norm_parse(v) : !strcmp(f, "--act") ? pt_act_parse(v)
                    : !strcmp(f, "--pos") ? pt_pos_parse(v) : !strcmp(f, "--dec-attn") ? pt_attn_parse(v)
                    : pt_schedule_parse(v);
            if (r < 0) return cli_usage(CMD, "%s: unknown value '%s'", f, v);
            if (!strcmp(f, "--norm")) a->cfg.norm = r, a->cfg_given = 1;
            else if (!strcmp(f, "--act")) a->cfg.act = r, a->cfg_given = 1;
            else if (!strcmp(f, "--pos")) a->cfg.pos = r, a->cfg_given = 1;
            else if (!strcmp(f, "--dec-attn")) a->cfg.dec_attn = r, a->cfg_given = 1;
            else a->opts.schedule = r;
            i++;
            continue;
        }
        if (!strcmp(f, "--emb-scale")) { /* config files: emb-scale = 0|1 */
            if (cli_int(CMD, f, v, 0, 1, &x)) return 2;
            a->cfg.emb_scale = (int)x, a->cfg_given = 1;
            i++;
            continue;
        }
#undef STR
#undef INT
#undef MINT
#undef FLT
        return cli_unknown(CMD, f);
    }
    return 0;
}

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, n, "--:--:--");
        return;
    }
    long t = (long)s;
    snprintf(buf, n, "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

/* the weights and AdamW moments, to check that the ranks agree */
static uint64_t state_hash(const pt_trainer *t) {
    size_t n = t->model.n_params * sizeof(float);
    const void *d[3] = {t->model.mem, t->adam_m, t->adam_v};
    size_t nb[3] = {n, n, n};
    return gguf_data_hash(d, nb, 3);
}

/* the model as training holds it: integer or packed under --qat / --ecq, else float */
static int save_model(const pt_trainer *t, const spm_model *sp, const char *path) {
    return t->opts.qat.type != NN_F32 || t->opts.ecq_bits > 0 ? pt_trainer_save_quant(t, sp, path)
                                                              : pt_model_save_sides(&t->model, sp, t->tgt_vocab, path);
}

static int save_files(const pt_trainer *t, const spm_model *sp, const train_args *a) {
    if (pt_checkpoint_save(t, sp, a->ckpt)) {
        cli_fail(CMD, "%s", pt_error());
        return -1;
    }
    if (save_model(t, sp, a->out)) {
        cli_fail(CMD, "%s", pt_error());
        return -1;
    }
    return 0;
}

/* Every file the run will write, checked before any work: the model, the
 * checkpoint and a snapshot can be created where they go (pt_atomic_check:
 * the folder exists and takes a file, nothing but a regular file is in the
 * way); the metrics file, appended to, can be opened for appending. So a
 * typo in -o fails now, not after the last step. */
static int check_outputs(const train_args *a) {
    if (pt_atomic_check(a->out)) return cli_fail(CMD, "%s", pt_error());
    if (pt_atomic_check(a->ckpt)) return cli_fail(CMD, "%s", pt_error());
    if (a->snapshot_every) {
        size_t n = strlen(a->out);
        size_t stem = n > 5 && !strcmp(a->out + n - 5, ".gguf") ? n - 5 : n;
        char *path = pt_malloc(stem + 32);
        snprintf(path, stem + 32, "%.*s.step%07ld.gguf", (int)stem, a->out, 0L);
        int bad = pt_atomic_check(path);
        free(path);
        if (bad) return cli_fail(CMD, "--snapshot-every: %s", pt_error());
    }
    if (a->metrics) {
        struct stat st;
        if (stat(a->metrics, &st) != 0) {
            if (pt_atomic_check(a->metrics)) return cli_fail(CMD, "--metrics %s", pt_error());
        } else if (S_ISDIR(st.st_mode)) {
            return cli_fail(CMD, "%s: is a directory", a->metrics);
        } else if (access(a->metrics, W_OK) != 0) {
            return cli_fail(CMD, "%s: cannot append to it: %s", a->metrics, strerror(errno));
        }
    }
    return 0;
}

/* --snapshot-every: the model as it is now, as MODEL.stepNNNNNNN.gguf */
static int save_snapshot(const pt_trainer *t, const spm_model *sp, const train_args *a) {
    size_t n = strlen(a->out);
    size_t stem = n > 5 && !strcmp(a->out + n - 5, ".gguf") ? n - 5 : n;
    char *path = pt_malloc(stem + 32);
    snprintf(path, stem + 32, "%.*s.step%07ld.gguf", (int)stem, a->out, t->step);
    int rc = save_model(t, sp, path);
    if (rc) cli_fail(CMD, "%s", pt_error());
    free(path);
    return rc ? -1 : 0;
}

/* Save checkpoint then model; on failure say which and keep going (the
 * previous files are intact: writes are atomic). Returns 0 on success.
 * With several ranks: all call it; they first check that they still hold
 * the same weights, then rank 0 writes (PETIT_MPI_SAVE_ALL=1: every rank
 * also writes its own checkpoint as CKPT.rankR, to compare them). */
static int save_all(const pt_trainer *t, const spm_model *sp, const train_args *a) {
    if (g_nranks < 2) return save_files(t, sp, a);
    const char *what = "weights and optimizer state";
    uint64_t h = state_hash(t);
    char diff[64];
    if (pt_dist_agree(&what, &h, 1, diff, sizeof diff)) {
        if (g_rank == 0) cli_fail(CMD, "step %ld: the ranks' weights differ (not saved)", t->step);
        return -1;
    }
    int bad = g_rank == 0 ? save_files(t, sp, a) : 0;
    const char *all = getenv("PETIT_MPI_SAVE_ALL");
    if (g_rank > 0 && all && !strcmp(all, "1")) {
        char path[4200];
        snprintf(path, sizeof path, "%s.rank%d", a->ckpt, g_rank);
        if ((bad = pt_checkpoint_save(t, sp, path))) cli_fail(CMD, "%s", pt_error());
    }
    return pt_dist_any(bad) ? -1 : 0;
}

static void hmix(uint64_t *h, const void *p, size_t n) {
    *h = pt_hash_u64(*h ^ gguf_data_hash(&p, &n, 1));
}

/* What every rank must agree on before training together */
static int ranks_agree(const pt_trainer *t, const train_args *a, const pt_corpus *c, const pt_corpus *dev,
                       const spm_model *sp, gguf_file *teacher) {
    const pt_train_opts *o = &t->opts;
    uint64_t v[8] = {0};
    const char *names[8] = {"model configuration", "training options", "stopping and saving options",
                            "training data", "dev data", "vocabulary", "starting weights and state",
                            "teacher"};
#define H(i, x) hmix(&v[i], &(x), sizeof(x))
    H(0, t->model.cfg);
    H(1, o->lr), H(1, o->warmup), H(1, o->schedule), H(1, o->total_steps), H(1, o->min_lr), H(1, o->beta1);
    H(1, o->beta2), H(1, o->eps), H(1, o->weight_decay), H(1, o->clip), H(1, o->smoothing), H(1, o->accum);
    H(1, o->batch_tokens), H(1, o->seed), H(1, o->qat.type), H(1, o->qat.emb_type), H(1, o->qat.groups);
    H(1, o->qat_lsq), H(1, o->ecq_lambda), H(1, o->ecq_bits), H(1, o->kd_alpha), H(1, o->kd_tau), H(1, o->kd_topk);
    H(2, a->max_steps), H(2, a->max_epochs), H(2, a->valid_every), H(2, a->patience), H(2, a->save_every);
    H(3, c->fingerprint), H(3, c->n);
    H(4, dev->fingerprint), H(4, dev->n);
    for (int i = 0; i < spm_vocab_size(sp); i++) {
        const char *p = spm_id_to_piece(sp, i);
        hmix(&v[5], p, strlen(p) + 1);
    }
    uint64_t sh = state_hash(t);
    H(6, sh), H(6, t->step), H(6, t->epoch), H(6, t->batch_pos), H(6, t->best_dev), H(6, t->bad_evals);
    if (teacher) {
        uint64_t th = gguf_file_data_hash(teacher);
        H(7, th);
    }
#undef H
    char bad[400];
    if (!pt_dist_agree(names, v, 8, bad, sizeof bad)) return 0;
    g_together = 1; /* every rank knows */
    if (g_rank == 0) cli_fail(CMD, "the %d ranks were not started alike: they differ in %s", g_nranks, bad);
    return 1;
}

/* the tokenizer for the training data: --vocab, or the one in the checkpoint;
 * *tgt: the target side's when the file has a separate one (else NULL) */
static spm_model *load_vocab(const train_args *a, const char *ckpt, spm_model **tgt) {
    *tgt = NULL;
    if (a->vocab) return spm_load_file(a->vocab);
    gguf_file *g = gguf_open(ckpt);
    if (!g) return NULL;
    spm_model *src = NULL;
    if (spm_from_gguf(g, "petit.tokenizer", &src, tgt)) src = NULL, *tgt = NULL;
    gguf_close(g);
    return src;
}

/* pt_train_run's callbacks: the progress line and the metrics file, and saving */
typedef struct {
    const train_args *a;
    const spm_model *sp;
    FILE *mf; /* --metrics, rank 0 only */
    int tty;
} run_ctx;

static void on_progress(void *ctx, const pt_trainer *t, const pt_progress *p) {
    const run_ctx *x = ctx;
    char e1[32], e2[32];
    fmt_time(e1, sizeof e1, p->elapsed);
    fmt_time(e2, sizeof e2, p->eta);
    char comm[64] = "";
    if (g_nranks > 1) /* rank 0's view: its wait for the others, and the reductions */
        snprintf(comm, sizeof comm, " | %d ranks: wait %.0f%% comm %.0f%%", g_nranks,
                 100 * p->comm.wait_s / p->interval, 100 * p->comm.comm_s / p->interval);
    if (!x->a->quiet) {
        char dv[32] = ""; /* NAN until a dev set is evaluated: nothing to show */
        if (!isnan(p->dev_loss)) snprintf(dv, sizeof dv, " | dev %.4f", p->dev_loss);
        fprintf(stderr, "%sstep %ld | epoch %d | loss %.4f%s | lr %.2e | %.0f tok/s | %.1f GFLOP/s%s | %s | ETA %s%s",
                x->tty ? "\r" : "", p->step, p->epoch, p->loss, dv, p->lr, p->tok_s, p->gflops, comm, e1, e2,
                x->tty ? "   " : "\n");
        fflush(stderr);
    }
    if (x->mf) {
        fprintf(x->mf, "{\"step\":%ld,\"epoch\":%d,\"loss\":%.6f,\"lr\":%.6g,\"tok_s\":%.1f,\"gflops\":%.3f,\"grad_norm\":%.4f,\"elapsed\":%.2f",
                p->step, p->epoch, p->loss, p->lr, p->tok_s, p->gflops, p->grad_norm, p->elapsed);
        if (p->validated) fprintf(x->mf, ",\"dev_loss\":%.6f", p->dev_loss);
        if (g_nranks > 1)
            fprintf(x->mf, ",\"ranks\":%d,\"interval_s\":%.4f,\"wait_s\":%.4f,\"comm_s\":%.4f", g_nranks,
                    p->interval, p->comm.wait_s, p->comm.comm_s);
        fprintf(x->mf, "}\n");
        fflush(x->mf);
    }
}

static int on_save(void *ctx, const pt_trainer *t) {
    const run_ctx *x = ctx;
    return save_all(t, x->sp, x->a);
}

static int on_snapshot(void *ctx, const pt_trainer *t) {
    const run_ctx *x = ctx;
    return g_rank == 0 ? save_snapshot(t, x->sp, x->a) : 0;
}

static int train_main(int argc, char **argv) {
    train_args a;
    memset(&a, 0, sizeof a);
    pt_config_default(&a.cfg);
    a.cfg.attn_window = a.cfg.local_heads = a.cfg.grid_heads = -1; /* not given */
    pt_train_opts_default(&a.opts);
    a.valid_every = 500, a.save_every = 1000, a.log_every = 10;
    if (g_distill) a.opts.kd_alpha = 0.5f, a.opts.kd_topk = 8;
    if (argc < 2) {
        fputs(g_distill ? distill_usage_text : usage_text, stderr);
        return 2;
    }
    int rc = parse_args(&a, argc, argv, 0);
    if (rc) return rc;
    if (g_distill) {
        if (!a.teacher) return cli_usage(CMD, "--teacher T.gguf is required");
        if (!(a.opts.kd_alpha > 0) && !a.init_from_teacher && !a.resume)
            return cli_usage(CMD, "--alpha 0 is petit train (or a student started with --init-from-teacher)");
        if (a.init_from_teacher && (a.init || a.resume))
            return cli_usage(CMD, "--init-from-teacher starts a new student: not with --init or --resume");
    }
    if (!a.src || !a.tgt) return cli_usage(CMD, "--src and --tgt are required");
    if (!a.out) return cli_usage(CMD, "-o MODEL.gguf is required");
    if (!a.vocab && !a.resume && !a.init && !a.teacher)
        return cli_usage(CMD, "--vocab is required (petit vocab makes one)");
    if (a.init && a.resume) return cli_usage(CMD, "--init starts a run, --resume continues one: not both");
    if (a.init && a.cfg_given)
        return cli_usage(CMD, "--init takes the model's configuration from %s: no model-size options", a.init);
    if (a.ecq) {
        char *e;
        a.opts.ecq_lambda = strtod(a.ecq, &e);
        if (*e || e == a.ecq || !isfinite(a.opts.ecq_lambda) || a.opts.ecq_lambda < 0)
            return cli_usage(CMD, "--ecq must be a number >= 0, not '%s'", a.ecq);
        long b = 8;
        if (a.ecq_bits && cli_int(CMD, "--ecq-bits", a.ecq_bits, 2, 8, &b)) return 2;
        a.opts.ecq_bits = (int)b;
        if (a.qat) return cli_usage(CMD, "--ecq and --qat: one or the other");
        if (a.resume) return cli_usage(CMD, "--ecq is kept in the checkpoint: give it only when starting");
    } else if (a.ecq_bits || a.ecq_scales) {
        return cli_usage(CMD, "%s goes with --ecq", a.ecq_bits ? "--ecq-bits" : "--ecq-scales");
    }
    if (a.qat) {
        a.opts.qat.type = nn_qtype_parse(a.qat);
        if (a.opts.qat.type != NN_Q8_0 && a.opts.qat.type != NN_Q4_0)
            return cli_usage(CMD, "unknown --qat '%s' (q8 or q4)", a.qat);
        a.opts.qat.emb_type = a.opts.qat.type;
        if (a.qat_emb && (a.opts.qat.emb_type = nn_qtype_parse(a.qat_emb)) < 0)
            return cli_usage(CMD, "unknown --qat-emb '%s' (q8, q4 or f32)", a.qat_emb);
        if (a.qat_tensors && pt_quant_groups_parse(a.qat_tensors, &a.opts.qat.groups))
            return cli_usage(CMD, "--qat-tensors: %s", pt_error());
        if (a.resume) return cli_usage(CMD, "--qat is kept in the checkpoint: give it only when starting");
    } else if (a.qat_emb || a.qat_tensors || a.opts.qat_lsq) {
        return cli_usage(CMD, "--qat-emb, --qat-tensors and --qat-lsq go with --qat");
    }
    if (!!a.dev_src != !!a.dev_tgt) return cli_usage(CMD, "--dev-src and --dev-tgt go together");
    if (!a.max_steps && !a.max_epochs) a.max_epochs = 10;
    pt_config *ac = &a.cfg;
    if (ac->dec_attn == PT_ATTN_MULTIAXIS) { /* defaults: W = 16, half the heads local, the rest grid */
        if (ac->attn_window < 0) ac->attn_window = 16 < ac->max_len ? 16 : ac->max_len;
        if (ac->local_heads < 0) ac->local_heads = ac->grid_heads < 0 ? ac->n_heads / 2 : ac->n_heads - ac->grid_heads;
        if (ac->grid_heads < 0) ac->grid_heads = ac->n_heads - ac->local_heads;
    } else if (ac->attn_window >= 0 || ac->local_heads >= 0 || ac->grid_heads >= 0) {
        return cli_usage(CMD, "--window, --local-heads and --grid-heads need --dec-attn multiaxis");
    } else {
        ac->attn_window = ac->local_heads = ac->grid_heads = 0;
    }
    char ckpt_buf[4096];
    if (!a.ckpt) {
        size_t n = strlen(a.out);
        if (n > 5 && !strcmp(a.out + n - 5, ".gguf")) n -= 5;
        snprintf(ckpt_buf, sizeof ckpt_buf, "%.*s.ckpt.gguf", (int)n, a.out);
        a.ckpt = ckpt_buf;
    }
    if (g_rank == 0 && check_outputs(&a)) return 1;
    if (!a.threads && pt_dist_local_size() > 1) { /* ranks on this machine share its cores */
        nn_set_threads(0);
        a.threads = nn_threads() / pt_dist_local_size() > 1 ? nn_threads() / pt_dist_local_size() : 1;
    }
    nn_set_threads((int)a.threads);
    if (g_rank > 0) a.quiet = 1; /* rank 0 speaks for all */

    /* the model and its state */
    pt_trainer t;
    memset(&t, 0, sizeof t);
    const char *vocab_from = a.vocab ? a.vocab : a.resume ? a.resume : a.init ? a.init : a.teacher;
    spm_model *tsp = NULL;
    spm_model *sp = load_vocab(&a, vocab_from, &tsp);
    if (!sp) return cli_fail_path(CMD, vocab_from);
    /* the teacher: mapped, any weight types */
    gguf_file *tg = NULL;
    pt_model tm;
    pt_teacher teacher;
    memset(&tm, 0, sizeof tm);
    memset(&teacher, 0, sizeof teacher);
    if (a.teacher) {
        if (!(tg = gguf_open(a.teacher)) || pt_model_from_gguf(&tm, tg)) {
            rc = cli_fail_path(CMD, a.teacher);
            if (tg) gguf_close(tg);
            tg = NULL;
            goto out_model;
        }
    }
    if (a.resume) {
        if (pt_checkpoint_load(&t, a.resume)) {
            rc = cli_fail(CMD, "%s", pt_error());
            goto out_model;
        }
        const pt_config *c = &t.model.cfg;
        if (a.cfg_given && (c->d_model != a.cfg.d_model || c->n_heads != a.cfg.n_heads ||
                            c->d_ff != a.cfg.d_ff || c->enc_layers != a.cfg.enc_layers ||
                            c->dec_layers != a.cfg.dec_layers || c->max_len != a.cfg.max_len)) {
            cli_fail(CMD, "%s: checkpoint is d_model %d, heads %d, ff %d, layers %d+%d, max_len %d; "
                     "the options given ask for %d, %d, %d, %d+%d, %d",
                     a.resume, c->d_model, c->n_heads, c->d_ff, c->enc_layers, c->dec_layers,
                     c->max_len, a.cfg.d_model, a.cfg.n_heads, a.cfg.d_ff, a.cfg.enc_layers,
                     a.cfg.dec_layers, a.cfg.max_len);
            rc = 1;
            goto out_model;
        }
        if (c->vocab != spm_vocab_size(sp)) {
            cli_fail(CMD, "%s: vocabulary has %d pieces but the checkpoint expects %d",
                     vocab_from, spm_vocab_size(sp), c->vocab);
            rc = 1;
            goto out_model;
        }
    } else if (a.init) {
        pt_model im;
        if (pt_model_load(&im, a.init)) {
            rc = cli_fail(CMD, "%s", pt_error());
            goto out_model;
        }
        if (im.cfg.vocab != spm_vocab_size(sp)) {
            cli_fail(CMD, "%s: vocabulary has %d pieces but %s expects %d", vocab_from, spm_vocab_size(sp),
                     a.init, im.cfg.vocab);
            pt_model_free(&im);
            rc = 1;
            goto out_model;
        }
        pt_config ic = im.cfg;
        ic.dropout = a.cfg.dropout; /* this run's --dropout (default 0.1), not the file's */
        if (a.opts.schedule == PT_SCHED_COSINE && a.max_steps) a.opts.total_steps = a.max_steps;
        if (pt_trainer_init(&t, &ic, &a.opts)) {
            pt_model_free(&im);
            rc = cli_fail(CMD, "%s", pt_error());
            goto out_model;
        }
        memcpy(t.model.mem, im.mem, im.n_params * sizeof(float));
        pt_model_free(&im);
        if (a.ecq_scales && pt_trainer_ecq_scales_from(&t, a.ecq_scales)) {
            rc = cli_fail(CMD, "--ecq-scales %s", pt_error());
            goto out_model;
        }
    } else {
        a.cfg.vocab = spm_vocab_size(sp);
        if (a.teacher && !a.vocab) { /* the teacher's vocabulary: its special ids too */
            a.cfg.pad_id = tm.cfg.pad_id, a.cfg.bos_id = tm.cfg.bos_id, a.cfg.eos_id = tm.cfg.eos_id;
            a.cfg.unk_id = tm.cfg.unk_id, a.cfg.mask_pad = tm.cfg.mask_pad;
        } else {
            if (spm_pad_id(sp) < 0 || spm_bos_id(sp) < 0 || spm_eos_id(sp) < 0) {
                rc = cli_fail(CMD, "%s: the vocabulary needs pad, bos and eos pieces "
                              "(train it with petit vocab, which sets them)", vocab_from);
                goto out_model;
            }
            a.cfg.pad_id = spm_pad_id(sp), a.cfg.bos_id = spm_bos_id(sp), a.cfg.eos_id = spm_eos_id(sp);
            a.cfg.unk_id = spm_unk_id(sp) >= 0 ? spm_unk_id(sp) : 0;
        }
        if (a.opts.schedule == PT_SCHED_COSINE && a.max_steps) a.opts.total_steps = a.max_steps;
        if (pt_trainer_init(&t, &a.cfg, &a.opts)) {
            rc = cli_fail(CMD, "%s", pt_error());
            goto out_model;
        }
        pt_model_init_weights(&t.model, a.opts.seed);
        int copied = 0;
        if (a.init_from_teacher && pt_model_init_from_teacher(&t.model, &tm, &copied)) {
            rc = cli_fail(CMD, "--init-from-teacher: %s", pt_error());
            goto out_model;
        }
        if (a.init_from_teacher && !a.quiet)
            fprintf(stderr, "petit distill: %d of the student's %d tensors start from %s\n", copied,
                    t.model.n_tensors, a.teacher);
    }
    const pt_config *cfg = &t.model.cfg;
    if (a.resume && t.opts.kd_alpha > 0 && !a.teacher) {
        rc = cli_fail(CMD, "%s is a distillation run: resume it with petit distill --teacher T.gguf", a.resume);
        goto out_model;
    }
    if (a.teacher && !(t.opts.kd_alpha > 0) && !a.quiet) /* --alpha 0: the teacher gave the start only */
        fprintf(stderr, "petit %s: alpha is 0: the student learns from the references only\n", CMD);
    if (a.teacher && t.opts.kd_alpha > 0) {
        spm_model *ts = NULL, *tt = NULL;
        int same = !spm_from_gguf(tg, "petit.tokenizer", &ts, &tt) && spm_vocab_size(ts) == spm_vocab_size(sp);
        for (int i = 0; same && i < spm_vocab_size(sp); i++)
            same = !strcmp(spm_id_to_piece(ts, i), spm_id_to_piece(sp, i));
        if (ts) spm_free(ts);
        if (tt) spm_free(tt);
        if (!same) {
            rc = cli_fail(CMD, "%s: the teacher's vocabulary is not %s's: distillation needs the same vocabulary",
                          a.teacher, vocab_from);
            goto out_model;
        }
        if (pt_teacher_init(&teacher, &tm, cfg, t.opts.kd_topk, t.opts.kd_alpha, t.opts.kd_tau)) {
            rc = cli_fail_path(CMD, a.teacher);
            goto out_model;
        }
        t.teacher = &teacher;
    }

    /* data */
    double t0 = pt_time();
    pt_corpus corpus, dev = {0};
    t.tgt_vocab = tsp;
    if (pt_corpus_load_sides(&corpus, a.src, a.tgt, sp, tsp, cfg->eos_id, cfg->max_len, a.max_lines)) {
        rc = cli_fail(CMD, "%s", pt_error());
        goto out_model;
    }
    if (corpus.skipped_long || corpus.skipped_empty)
        fprintf(stderr, "petit %s: %s: skipped %ld pairs longer than %d tokens and %ld with an empty side\n",
                CMD, a.src, corpus.skipped_long, cfg->max_len, corpus.skipped_empty);
    if (a.resume && t.data_fp != corpus.fingerprint) {
        rc = cli_fail(CMD, "%s: the training data differ from the data this checkpoint was trained on "
                      "(a resumed run must read the same --src/--tgt/--max-lines)", a.resume);
        goto out_corpus;
    }
    t.data_fp = corpus.fingerprint;
    if (a.dev_src && pt_corpus_load_sides(&dev, a.dev_src, a.dev_tgt, sp, tsp, cfg->eos_id, cfg->max_len, 0)) {
        rc = cli_fail(CMD, "%s", pt_error());
        goto out_corpus;
    }
    t.rank = g_rank, t.nranks = g_nranks;
    if (g_nranks > 1 && ranks_agree(&t, &a, &corpus, &dev, sp, tg)) {
        rc = 1;
        goto out_dev;
    }
    FILE *mf = NULL;
    if (g_rank == 0 && a.metrics && !(mf = fopen(a.metrics, "a"))) {
        rc = cli_fail(CMD, "%s: cannot open: %s", a.metrics, strerror(errno));
        goto out_dev;
    }
    if (!a.quiet)
        fprintf(stderr, "petit %s: %d pairs (%.1fs to read), %zu parameters, %s, %d threads%s\n",
                CMD, corpus.n, pt_time() - t0, t.model.n_params, nn_backend(), nn_threads(),
                a.resume ? ", resumed" : "");
    if (!a.quiet && g_nranks > 1)
        fprintf(stderr, "petit %s: %d ranks (%s), each 1/%d of every batch of %d tokens\n", CMD, g_nranks,
                pt_dist_backend(), g_nranks, t.opts.batch_tokens);

    /* the loop (train/run.c); this file shows its progress and saves */
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    run_ctx rx = {&a, sp, mf, isatty(2)};
    pt_run_opts ro = {a.max_steps, a.max_epochs, a.valid_every, a.patience, a.save_every, a.snapshot_every,
                      a.log_every};
    pt_run_hooks hooks = {&rx, on_progress, on_save, on_snapshot, &g_stop};
    pt_stop_reason why;
    g_together = 1; /* from here on the ranks take every decision to stop together */
    rc = pt_train_run(&t, &corpus, &dev, &ro, &hooks, &why);
    if (rx.tty && !a.quiet) fputc('\n', stderr);
    if (rc == 1 && g_rank == 0) /* every rank fails alike (the step's sums are shared): rank 0 says it */
        cli_fail(CMD, "%s; stopping (the last checkpoint, %s, is kept)", pt_error(), a.ckpt);
    if (rc == 0 && !a.quiet)
        fprintf(stderr, "petit %s: %s at step %ld; wrote %s and %s\n", CMD, pt_stop_reason_str(why), t.step,
                a.out, a.ckpt);
    if (rc) rc = 1;
    else if (why == PT_STOP_SIGNAL) rc = 130;
    if (mf) fclose(mf);
out_dev:
    pt_corpus_free(&dev);
out_corpus:
    pt_corpus_free(&corpus);
out_model:
    pt_trainer_free(&t);
    pt_teacher_free(&teacher);
    if (tg) {
        pt_model_free(&tm);
        gguf_close(tg);
    }
    spm_free(sp);
    if (tsp) spm_free(tsp);
    return rc;
}

/* One rank, or one of several under mpirun. A rank that fails on its own
 * (a file only it cannot read) ends the whole job: the others would wait
 * for it forever. */
static int run(int argc, char **argv) {
    if (pt_dist_init()) return cli_fail(CMD, "%s", pt_error());
    g_rank = pt_dist_rank(), g_nranks = pt_dist_size(), g_together = 0;
    if (g_rank > 0) snprintf(g_cmd + strlen(g_cmd), sizeof g_cmd - strlen(g_cmd), " (rank %d)", g_rank);
    int rc = train_main(argc, argv);
    if (g_nranks > 1 && rc && rc != 130 && !g_together) pt_dist_abort(rc);
    pt_dist_finalize();
    return rc;
}

int cmd_train(int argc, char **argv) { return run(argc, argv); }

int cmd_distill(int argc, char **argv) {
    g_distill = 1;
    snprintf(g_cmd, sizeof g_cmd, "distill");
    return run(argc, argv);
}
