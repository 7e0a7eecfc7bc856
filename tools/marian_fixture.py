#!/usr/bin/env python3
"""marian_fixture.py: a tiny, randomly initialized Hugging Face MarianMT
checkpoint (the layout of an OPUS-MT model) and what transformers computes
with it, for tests/test_import.c and tests/t_import.sh.

Writes into OUT (default tests/data/marian/):
  model/                 the checkpoint directory `petit import --from marian`
                         reads: config.json, generation_config.json,
                         model.safetensors, source.spm, target.spm,
                         vocab.json, tokenizer_config.json
  sentences.en           the test sentences, one per line
  expected.txt           MarianTokenizer's source ids, the teacher-forced
                         batch, greedy and beam (4) outputs of generate()
  logits.f32             the teacher-forced logits (B, T, V), float32 LE

Two small SentencePiece models (source and target) are trained on the first
lines of multi30k, their pieces joined into one vocabulary as Marian does
(</s> = 0, <unk> = 1, <pad> last). A few source pieces are left out of the
joint vocabulary on purpose: MarianTokenizer maps them to <unk>.

The generate() calls define the search MODEL.md's decoder runs:
max_new_tokens = min(P - 1, 2 S + 10) (petit's default max_out), no forced
EOS at the length limit (forced_eos_token_id=None), length_penalty=0 and
early_stopping=True for beam search. The config keeps bad_words_ids [[pad]]
as OPUS-MT configs do, so generate never emits <pad>; the final logits bias
of <pad> is made large so that a decoder that forgot this would emit it.

<pad>'s row of the shared embedding (the decoder's start token) is zero, as
in Marian-trained OPUS-MT checkpoints and Hugging Face's own initialization
of an embedding with padding_idx: zero from the start, no gradient in
training (the tied output projection would otherwise give it one), checked
after training. The decoder then starts from a zero vector, as CTranslate2's
Marian converter assumes (tools/marian_ct2_check.sh).

Needs torch and transformers (4.36 was used), sentencepiece, safetensors:
  python3 -m venv --system-site-packages .venv-marian
  .venv-marian/bin/pip install transformers==4.36.2 sentencepiece safetensors
  .venv-marian/bin/python tools/marian_fixture.py
Never needed to build or test petit: the outputs are committed.
"""
import argparse
import json
import os
import shutil
import tempfile

import numpy as np
import sentencepiece as spm
import torch
import transformers
from transformers import MarianConfig, MarianMTModel, MarianTokenizer

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--data", default=os.environ.get("PETIT_DATA", "../shared/data/en-fr"))
ap.add_argument("--out", default="tests/data/marian")
ap.add_argument("--lines", type=int, default=400, help="training lines for the SentencePiece models")
ap.add_argument("--vocab", type=int, default=300, help="pieces per SentencePiece model")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--steps", type=int, default=600, help="training steps")
args = ap.parse_args()

torch.manual_seed(args.seed)
rng = np.random.default_rng(args.seed)


def head(path, n):
    with open(path, encoding="utf-8") as f:
        return [next(f).rstrip("\n") for _ in range(n)]


en = head(os.path.join(args.data, "train/multi30k.en"), args.lines)
fr = head(os.path.join(args.data, "train/multi30k.fr"), args.lines)

out = args.out
mdir = os.path.join(out, "model")
if os.path.exists(mdir):
    shutil.rmtree(mdir)
os.makedirs(mdir)

# ---- two SentencePiece models, one joint vocabulary ------------------------
with tempfile.TemporaryDirectory() as tmp:
    for side, lines in (("source", en), ("target", fr)):
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_prefix=os.path.join(tmp, side), vocab_size=args.vocab,
            model_type="unigram", character_coverage=1.0, unk_id=0, bos_id=-1, eos_id=1, pad_id=-1,
            minloglevel=2, num_threads=1,
            # the target side without a normalization table keeps the fixture small
            normalization_rule_name="nmt_nfkc" if side == "source" else "identity")
        shutil.copy(os.path.join(tmp, side + ".model"), os.path.join(mdir, side + ".spm"))

sp_src = spm.SentencePieceProcessor(model_file=os.path.join(mdir, "source.spm"))
sp_tgt = spm.SentencePieceProcessor(model_file=os.path.join(mdir, "target.spm"))
src_pieces = [sp_src.id_to_piece(i) for i in range(sp_src.get_piece_size())]
tgt_pieces = [sp_tgt.id_to_piece(i) for i in range(sp_tgt.get_piece_size())]
special = {"<unk>", "</s>", "<s>", "<pad>"}
# left out on purpose: the three lowest-scored source pieces the target lacks
dropped = [p for p in reversed(src_pieces) if p not in special and p not in tgt_pieces][:3]
joint = ["</s>", "<unk>"]
for p in src_pieces + tgt_pieces:
    if p not in special and p not in joint and p not in dropped:
        joint.append(p)
joint.append("<pad>")
vocab = {p: i for i, p in enumerate(joint)}
V = len(joint)
PAD, EOS = V - 1, 0
with open(os.path.join(mdir, "vocab.json"), "w", encoding="utf-8") as f:
    json.dump(vocab, f, ensure_ascii=False, indent=1)
with open(os.path.join(mdir, "tokenizer_config.json"), "w") as f:
    json.dump({"source_lang": "en", "target_lang": "fr", "model_max_length": 64, "separate_vocabs": False,
               "tokenizer_class": "MarianTokenizer"}, f, indent=1)

# ---- the model ------------------------------------------------------------
P = 128
cfg = MarianConfig(
    vocab_size=V, decoder_vocab_size=V, d_model=32, encoder_layers=2, decoder_layers=2,
    encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
    activation_function="swish", max_position_embeddings=P, scale_embedding=True,
    pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD, forced_eos_token_id=EOS,
    bad_words_ids=[[PAD]], share_encoder_decoder_embeddings=True, dropout=0.1, attention_dropout=0.0,
    activation_dropout=0.0, num_beams=4, max_length=P,
    # legacy keys OPUS-MT configs carry (transformers ignores them; petit checks them)
    normalize_before=False, normalize_embedding=False, add_final_layer_norm=False,
    static_position_embeddings=True, add_bias_logits=False)
model = MarianMTModel(cfg).eval()
with torch.no_grad():
    # weights large enough that the argmax margins dwarf float rounding, every
    # bias and LayerNorm away from its initial value so a mix-up shows
    for name, t in model.named_parameters():
        if "embed_positions" in name:
            continue
        if name.endswith("layer_norm.weight"):
            t.copy_(1 + 0.2 * torch.randn_like(t))
        elif t.dim() == 1:
            t.copy_(0.2 * torch.randn_like(t))
        elif "embed_tokens" in name or "shared" in name:
            t.copy_(0.5 * torch.randn_like(t))
            t[PAD] = 0  # as nn.Embedding(padding_idx) and Marian-trained OPUS-MT models have it
        else:
            t.copy_(torch.randn_like(t) / np.sqrt(t.shape[1]))
    model.final_logits_bias.copy_(0.5 * torch.randn(1, V))

# a short training run on the SentencePiece lines, so that the model emits
# </s> at varied lengths instead of repeating one piece forever
tok = MarianTokenizer(os.path.join(mdir, "source.spm"), os.path.join(mdir, "target.spm"),
                      os.path.join(mdir, "vocab.json"), source_lang="en", target_lang="fr")
model.final_logits_bias.requires_grad_(True)
shared = model.get_input_embeddings().weight
assert shared is model.get_output_embeddings().weight and model.model.shared.padding_idx == PAD
opt = torch.optim.AdamW(list(model.parameters()) + [model.final_logits_bias], lr=3e-3)
model.train()
for step in range(args.steps):
    i = rng.integers(0, len(en), 32)
    bt = tok([en[j] for j in i], text_target=[fr[j] for j in i], padding=True, return_tensors="pt")
    bt["labels"][bt["labels"] == PAD] = -100
    loss = model(**bt).loss
    opt.zero_grad()
    loss.backward()
    # padding_idx keeps the lookup's gradient of <pad> zero, but the output
    # projection is tied to the same matrix and its softmax reaches every row:
    # <pad>'s row gets no gradient at all, so AdamW (moments 0, decay of 0)
    # leaves it exactly zero
    shared.grad[PAD] = 0
    opt.step()
    if step % 50 == 0 or step == args.steps - 1:
        print("step %d loss %.3f" % (step, loss.item()))
model.eval()
assert not shared[PAD].any(), "training changed <pad>'s embedding row"
with torch.no_grad():
    model.final_logits_bias.requires_grad_(False)
    model.final_logits_bias[0, PAD] = 8.0  # would win often without bad_words_ids
model.save_pretrained(mdir, safe_serialization=True)

tok = MarianTokenizer.from_pretrained(mdir)
model = MarianMTModel.from_pretrained(mdir).eval()
assert not model.get_input_embeddings().weight[PAD].any() and not model.get_output_embeddings().weight[PAD].any()

# ---- test sentences -----------------------------------------------------------
test_en = head(os.path.join(args.data, "test/multi30k-test2016.en"), 8)
test_fr = head(os.path.join(args.data, "test/multi30k-test2016.fr"), 8)
test_en += ["Zoë's café in Zürich — 42 €!", "A DOG RUNS.", "A", "Men and women"]
with open(os.path.join(out, "sentences.en"), "w", encoding="utf-8") as f:
    f.write("".join(s + "\n" for s in test_en))

lines = ["# tools/marian_fixture.py: transformers %s, torch %s, sentencepiece %s; do not edit"
         % (transformers.__version__, torch.__version__, spm.__version__),
         "vocab %d" % V, "max_len %d" % P]
src_ids = [tok(s)["input_ids"] for s in test_en]
for i, ids in enumerate(src_ids):
    lines.append("src %d %s" % (i, " ".join(map(str, ids))))

# teacher-forced batch: the first three sentences with their references
B = 3
enc = tok(test_en[:B], text_target=test_fr[:B], padding=True, return_tensors="pt")
labels = enc["labels"]  # target + </s>, padded with <pad>
dec_in = torch.full_like(labels, PAD)
dec_in[:, 1:] = labels[:, :-1]  # shift_tokens_right; <pad> is the start token
with torch.no_grad():
    logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                   decoder_input_ids=dec_in).logits
T = labels.shape[1]
lines.append("tf %d %d %d" % (B, T, V))
for b in range(B):
    s = enc["input_ids"][b][enc["attention_mask"][b] == 1].tolist()
    t = labels[b][labels[b] != PAD].tolist()
    lines.append("tf_src %d %s" % (b, " ".join(map(str, s))))
    lines.append("tf_tgt %d %s" % (b, " ".join(map(str, t))))
logits.numpy().astype("<f4").tofile(os.path.join(out, "logits.f32"))

# greedy and beam search, one sentence at a time
for kind, K in (("greedy", 1), ("beam4", 4)):
    for i, ids in enumerate(src_ids):
        S = len(ids)
        max_out = min(P - 1, 2 * S + 10)
        with torch.no_grad():
            y = model.generate(torch.tensor([ids]), num_beams=K, do_sample=False, max_new_tokens=max_out,
                               forced_eos_token_id=None, length_penalty=0.0, early_stopping=True,
                               num_return_sequences=1)[0].tolist()
        assert y[0] == PAD and PAD not in y[1:]
        y = y[1:]
        if EOS in y:
            y = y[:y.index(EOS)]
        lines.append("%s %d %s" % (kind, i, " ".join(map(str, y))))
        print("%s %d: %d tokens (max %d): %s" % (kind, i, len(y), max_out, tok.decode(y)))

with open(os.path.join(out, "expected.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("V %d, files in %s: %s" % (V, mdir, sorted(os.listdir(mdir))))
