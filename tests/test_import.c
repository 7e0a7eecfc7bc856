/* test_import.c: a Hugging Face MarianMT checkpoint imported by petit computes
 * what transformers computes (tests/data/marian, made by
 * tools/marian_fixture.py):
 *   - source tokenization through the imported model = MarianTokenizer's ids
 *   - teacher-forced logits = the model's, within 1e-4 absolute (+1e-4 relative)
 *   - greedy ids = generate(num_beams=1) exactly
 *   - beam ids = generate(num_beams=4, length_penalty=0, early_stopping=True)
 *     exactly, with petit's beam 4, alpha 0 (MODEL.md's search; see the
 *     fixture script for the generate() settings that define the same one)
 * and the importer refuses broken or unsupported checkpoints, one clear
 * error each, leaving no output file. */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/json.h"
#include "decode/decode.h"
#include "gguf/gguf.h"
#include "import/marian.h"
#include "import/safetensors.h"
#include "text/spm.h"
#include "test.h"

#define FIX "tests/data/marian"
#define MAXS 32

typedef struct {
    int n;
    int ids[256];
} idvec;

/* expected.txt: "KIND INDEX ids..." lines plus "vocab V", "tf B T V" */
typedef struct {
    int V, P, B, T, n_src;
    idvec src[MAXS], tf_src[8], tf_tgt[8], greedy[MAXS], beam[MAXS];
} expected;

static int parse_ids(const char *s, idvec *v) {
    v->n = 0;
    char *end;
    for (;;) {
        long x = strtol(s, &end, 10);
        if (end == s) break;
        if (v->n == 256) return -1;
        v->ids[v->n++] = (int)x;
        s = end;
    }
    return 0;
}

static int read_expected(expected *e) {
    memset(e, 0, sizeof *e);
    FILE *f = fopen(FIX "/expected.txt", "r");
    if (!f) return -1;
    char line[8192], kind[32];
    int i, off;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        if (sscanf(line, "vocab %d", &e->V) == 1 || sscanf(line, "max_len %d", &e->P) == 1) continue;
        if (sscanf(line, "tf %d %d %d", &e->B, &e->T, &i) == 3) continue;
        if (sscanf(line, "%31s %d %n", kind, &i, &off) < 2 || i < 0 || i >= MAXS) continue;
        idvec *v = !strcmp(kind, "src") ? &e->src[i] : !strcmp(kind, "greedy") ? &e->greedy[i]
                 : !strcmp(kind, "beam4") ? &e->beam[i] : !strcmp(kind, "tf_src") && i < 8 ? &e->tf_src[i]
                 : !strcmp(kind, "tf_tgt") && i < 8 ? &e->tf_tgt[i] : NULL;
        if (v && parse_ids(line + off, v)) return fclose(f), -1;
        if (!strcmp(kind, "src") && i + 1 > e->n_src) e->n_src = i + 1;
    }
    fclose(f);
    return 0;
}

static void check_tokenization(const char *model, const expected *e) {
    gguf_file *g = gguf_open(model);
    spm_model *sp = NULL, *tsp = NULL;
    CHECK(g && spm_from_gguf(g, "petit.tokenizer", &sp, &tsp) == 0, "%s", pt_error());
    if (!sp) return;
    CHECK(tsp != NULL && spm_has_joint_vocab(sp) && spm_has_joint_vocab(tsp), "two models, joint vocabulary");
    size_t n;
    char *text = pt_read_file(FIX "/sentences.en", &n);
    CHECK(text != NULL, "sentences.en");
    pt_lines it;
    pt_lines_init(&it, text, n);
    const char *l;
    size_t len;
    int k = 0, same = 0, *ids = NULL;
    size_t cap = 0;
    while (text && pt_lines_next(&it, &l, &len) && k < e->n_src) {
        int m = spm_encode(sp, l, len, &ids, &cap);
        /* MarianTokenizer appends </s>; so does the translator */
        int ok = m + 1 == e->src[k].n && !memcmp(ids, e->src[k].ids, (size_t)m * sizeof(int)) &&
                 e->src[k].ids[m] == 0;
        if (!ok) fprintf(stderr, "sentence %d: tokenization differs from MarianTokenizer's\n", k);
        same += ok;
        k++;
    }
    CHECK(k == e->n_src && same == k, "tokenization equals MarianTokenizer on %d of %d sentences", same, e->n_src);
    /* the target side decodes through target.spm: an expected output's text */
    size_t tl;
    char *t = spm_decode(tsp, e->greedy[0].ids, e->greedy[0].n, &tl);
    CHECK(t && tl > 0, "target decode");
    free(t);
    free(ids);
    free(text);
    spm_free(sp);
    if (tsp) spm_free(tsp);
    gguf_close(g);
}

static void check_logits(const pt_model *m, const expected *e) {
    int B = e->B, T = e->T, V = e->V, S = 0;
    CHECK(B > 0 && B <= 8 && T > 0 && V == m->cfg.vocab, "fixture shape B %d T %d V %d", B, T, V);
    if (!(B > 0 && B <= 8 && V == m->cfg.vocab)) return;
    for (int b = 0; b < B; b++)
        if (e->tf_src[b].n > S) S = e->tf_src[b].n;
    size_t n;
    float *want = (float *)pt_read_file(FIX "/logits.f32", &n);
    CHECK(want && n == (size_t)B * T * V * sizeof(float), "logits.f32 holds %zu bytes", n);
    if (!want || n != (size_t)B * T * V * sizeof(float)) return free(want);
    int *src = pt_malloc(sizeof(int) * (size_t)B * S), *tin = pt_malloc(sizeof(int) * (size_t)B * T);
    int *tout = pt_malloc(sizeof(int) * (size_t)B * T), slen[8], tlen[8];
    const pt_config *c = &m->cfg;
    for (int b = 0; b < B; b++) {
        const idvec *s = &e->tf_src[b], *t = &e->tf_tgt[b];
        slen[b] = s->n, tlen[b] = t->n;
        for (int j = 0; j < S; j++) src[b * S + j] = j < s->n ? s->ids[j] : c->pad_id;
        for (int j = 0; j < T; j++) {
            tout[b * T + j] = j < t->n ? t->ids[j] : c->pad_id;
            tin[b * T + j] = j == 0 ? c->bos_id : j < t->n ? t->ids[j - 1] : c->pad_id;
        }
    }
    pt_batch bt = {B, S, T, src, slen, tin, tout, tlen, NULL};
    pt_acts *a = pt_acts_new(c, B, S, T);
    int ntok;
    pt_forward(m, a, &bt, 0.0f, 0, &ntok);
    const float *got = pt_acts_logits(a);
    double worst = 0, worst_rel = 0;
    long bad = 0, count = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < tlen[b]; t++) /* positions past a target's end are padding */
            for (int v = 0; v < V; v++) {
                size_t i = ((size_t)b * T + t) * V + v;
                double d = fabs((double)got[i] - want[i]);
                if (d > worst) worst = d;
                if (d / (fabs(want[i]) + 1e-3) > worst_rel) worst_rel = d / (fabs(want[i]) + 1e-3);
                bad += d > 1e-4 + 1e-4 * fabs(want[i]);
                count++;
            }
    printf("logits: %ld values, max |petit - transformers| = %.3g\n", count, worst);
    CHECK(bad == 0 && count > 0, "%ld of %ld logits differ by more than 1e-4 + 1e-4 |x| (worst %.3g)", bad, count,
          worst);
    pt_acts_free(a);
    free(src), free(tin), free(tout), free(want);
}

static void check_search(const pt_model *m, const expected *e) {
    const int *src[MAXS];
    int len[MAXS], N = e->n_src;
    for (int i = 0; i < N; i++) src[i] = e->src[i].ids, len[i] = e->src[i].n;
    pt_decoder *d = pt_decoder_new(m);
    pt_decode_opts o;
    pt_decode_opts_default(&o); /* max_out = min(P-1, 2S+10), as generate was told */
    for (int pass = 0; pass < 2; pass++) {
        o.beam = pass ? 4 : 1, o.nbest = 1, o.len_penalty = 0.0f;
        CHECK(pt_decode(d, src, len, N, &o) == 0, "%s", pt_error());
        const idvec *want = pass ? e->beam : e->greedy;
        int same = 0, ended = 0;
        for (int i = 0; i < N; i++) {
            int n;
            const int *ids = pt_decode_hyp(d, i, 0, &n, NULL);
            int ok = n == want[i].n && !memcmp(ids, want[i].ids, (size_t)n * sizeof(int));
            if (!ok) fprintf(stderr, "%s sentence %d: %d ids, generate gave %d\n", pass ? "beam" : "greedy", i, n, want[i].n);
            same += ok;
            ended += want[i].n < (int)floor(2.0 * len[i] + 10);
        }
        printf("%s: %d of %d sentences equal generate's (%d ended by </s>)\n", pass ? "beam 4" : "greedy", same, N, ended);
        CHECK(same == N && N >= 10, "%s equals generate on %d of %d", pass ? "beam" : "greedy", same, N);
    }
    pt_decoder_free(d);
}

/* ---- bad checkpoints ------------------------------------------------------ */

static char tmpdir[64];

static void put(const char *name, const void *data, size_t n) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    if (f) fwrite(data, 1, n, f), fclose(f);
}

static void copy_in(const char *name) {
    char p[256];
    size_t n;
    snprintf(p, sizeof p, FIX "/model/%s", name);
    char *d = pt_read_file(p, &n);
    if (d) put(name, d, n);
    free(d);
}

static void fresh_copy(void) {
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors", "source.spm", "target.spm",
                           "vocab.json", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) copy_in(files[i]);
}

static char *find_bytes(char *d, size_t n, const char *s) {
    size_t l = strlen(s);
    for (size_t i = 0; i + l <= n; i++)
        if (!memcmp(d + i, s, l)) return d + i;
    return NULL;
}

/* config.json with `from` replaced by `to` (first occurrence) */
static void edit_config(const char *file, const char *from, const char *to) {
    char p[256];
    size_t n;
    snprintf(p, sizeof p, FIX "/model/%s", file);
    char *d = pt_read_file(p, &n), *at = d ? find_bytes(d, n, from) : NULL;
    CHECK(at != NULL, "fixture %s holds '%s'", file, from);
    if (!at) return free(d);
    size_t pre = (size_t)(at - d), fl = strlen(from), tl = strlen(to);
    char *o = pt_malloc(n - fl + tl);
    memcpy(o, d, pre), memcpy(o + pre, to, tl), memcpy(o + pre + tl, at + fl, n - pre - fl);
    put(file, o, n - fl + tl);
    free(o), free(d);
}

/* the import fails, its error holds `needle`, and no output file is left */
static void expect_refusal(const char *what, const char *needle) {
    char out[128];
    snprintf(out, sizeof out, "%s/out.gguf", tmpdir);
    unlink(out);
    int rc = pt_marian_import(tmpdir, out, NULL);
    const char *err = rc ? pt_error() : "";
    CHECK(rc != 0 && strstr(err, needle) && !strchr(err, '\n'), "%s: rc %d, error '%s' should name '%s'", what, rc, err,
          needle);
    CHECK(access(out, F_OK) != 0, "%s: an output file was left", what);
    printf("refused (%s): %s\n", what, err);
}

static void check_refusals(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/petit-import-test.%d", (int)getpid());
    mkdir(tmpdir, 0700);
    char p[256];
    fresh_copy();
    snprintf(p, sizeof p, "%s/vocab.json", tmpdir);
    unlink(p);
    expect_refusal("no vocab.json", "missing vocab.json");
    fresh_copy();
    snprintf(p, sizeof p, "%s/model.safetensors", tmpdir);
    unlink(p);
    put("pytorch_model.bin", "x", 1);
    expect_refusal("only pytorch_model.bin", "safetensors only");
    snprintf(p, sizeof p, "%s/pytorch_model.bin", tmpdir);
    unlink(p);
    fresh_copy();
    edit_config("config.json", "\"normalize_before\": false", "\"normalize_before\": true");
    expect_refusal("pre-norm", "normalize_before");
    fresh_copy();
    edit_config("config.json", "\"activation_function\": \"swish\"", "\"activation_function\": \"gelu_new\"");
    expect_refusal("activation", "activation_function \"gelu_new\"");
    fresh_copy();
    edit_config("config.json", "\"d_model\": 32", "\"d_model\": 48");
    expect_refusal("wrong width", "has shape");
    fresh_copy();
    edit_config("config.json", "\"encoder_layers\": 2", "\"encoder_layers\": 1");
    expect_refusal("extra layer", "unexpected tensor model.encoder.layers.1");
    fresh_copy();
    edit_config("config.json", "\"scale_embedding\": true", "\"scale_embedding\": 1");
    expect_refusal("not a bool", "scale_embedding");
    fresh_copy();
    edit_config("config.json", "\"share_encoder_decoder_embeddings\": true", "\"share_encoder_decoder_embeddings\": false");
    expect_refusal("separate embeddings", "share_encoder_decoder_embeddings");
    fresh_copy();
    edit_config("generation_config.json", "\"bad_words_ids\": [\n    [\n      520", "\"bad_words_ids\": [\n    [\n      5");
    expect_refusal("bad words", "bad_words_ids");
    fresh_copy();
    edit_config("config.json", "\"eos_token_id\": 0", "\"eos_token_id\": 3");
    expect_refusal("eos id", "eos_token_id");
    fresh_copy();
    edit_config("config.json", "{", "{,");
    expect_refusal("bad JSON", "config.json: JSON line 1");
    /* safetensors: a shape that disagrees with the data, a range past the end */
    fresh_copy();
    edit_config("model.safetensors", "\"final_logits_bias\":{\"dtype\":\"F32\",\"shape\":[1,521]",
                "\"final_logits_bias\":{\"dtype\":\"F32\",\"shape\":[1,520]");
    expect_refusal("shape vs bytes", "final_logits_bias: 2084 bytes for 520 elements");
    fresh_copy();
    snprintf(p, sizeof p, "%s/model.safetensors", tmpdir);
    CHECK(truncate(p, 100000) == 0, "truncate");
    expect_refusal("truncated safetensors", "outside the");
    fresh_copy();
    edit_config("model.safetensors", "\"model.shared.weight\":{\"dtype\":\"F32\",\"shape\":[521,32]",
                "\"model.shared.weight\":{\"dtype\":\"F32\",\"shape\":[32,521]");
    expect_refusal("transposed embedding", "model.shared.weight has shape (32, 521), expected (521, 32)");
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors", "source.spm", "target.spm",
                           "vocab.json", "tokenizer_config.json", "out.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

static void check_json(void) {
    const char *good = "{\"a\": [1, -2.5e3, true, null], \"b\\u00e9\": \"x\\ud83d\\ude00\"}";
    json_value *v = json_parse(good, strlen(good));
    CHECK(v && v->type == JSON_OBJECT && v->n == 2, "parse: %s", v ? "" : pt_error());
    long long x;
    CHECK(v && json_int(&json_get(v, "a")->items[0], &x) && x == 1, "int");
    CHECK(v && json_get(v, "b\xc3\xa9") && !strcmp(json_get(v, "b\xc3\xa9")->str, "x\xf0\x9f\x98\x80"), "escapes");
    json_free(v);
    const char *bad[] = {"{\"a\":1,}", "[01]", "{\"a\":1,\"a\":2}", "\"\\ud800\"", "[1] 2", "{'a':1}", "[1.]", "\"\t\"",
                         "[NaN]", "", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_value *b = json_parse(bad[i], strlen(bad[i]));
        CHECK(!b, "strict JSON refuses %s", bad[i]);
        json_free(b);
    }
}

int main(void) {
    expected e;
    CHECK(read_expected(&e) == 0 && e.n_src >= 10 && e.V > 0, "read " FIX "/expected.txt");
    check_json();
    char out[128];
    snprintf(out, sizeof out, "/tmp/petit-import-test.%d.gguf", (int)getpid());
    pt_marian_info info;
    CHECK(pt_marian_import(FIX "/model", out, &info) == 0, "import: %s", pt_error());
    CHECK(info.cfg.norm == PT_NORM_POST && info.cfg.pos == PT_POS_LEARNED && info.cfg.mask_pad &&
              info.cfg.bos_id == info.cfg.pad_id && !info.pos_from_file && !info.same_spm,
          "imported configuration");
    check_tokenization(out, &e);
    gguf_file *g = gguf_open(out);
    pt_model m;
    int ok = g && pt_model_from_gguf(&m, g) == 0;
    CHECK(ok, "load: %s", pt_error());
    if (ok) {
        check_logits(&m, &e);
        check_search(&m, &e);
        pt_model_free(&m);
    }
    if (g) gguf_close(g);
    unlink(out);
    check_refusals();
    return test_done("test_import");
}
