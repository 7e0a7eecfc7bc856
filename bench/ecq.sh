#!/usr/bin/env bash
# bench/ecq.sh: rate against distortion of entropy-coded models (petit pack), with and
# without ECQ-aware fine-tuning, next to fp32, q8 and q4, on one float model, in one run.
#
# From the float model (default runs/base/model.gguf, made by recipe/base.sh if missing):
#   pack-L     petit pack --lambda L (8-bit grid), for L in LAMBDAS (0 0.01 0.02 0.04 0.06 0.1)
#   gptq-L     the same with --calib (GPTQ's sweep with the ECQ quantizer; calibration: the
#              first 512 lines of Multi30k val and 512 of newstest2013), for L in GPTQ_LAMBDAS
#              (0.06 0.065)
#   fisher-L   the same with --fisher FISHER (0.75): each tensor's lambda scaled by its
#              sensitivity (the Fisher's diagonal from the calibration sentences' gradients),
#              for L in FISHER_LAMBDAS (0.06 0.065 0.07 0.075)
#   fisher-L-dK  the recommended fisher-L (the fewest bits within 0.5 BLEU of fp32) again with calibration draw K (2: lines 513-1024 of
#              both dev sets; 3: lines 257-768 of Multi30k val and 1025-1536 of newstest2013),
#              for K up to DRAWS (3): the spread that the choice of calibration text gives
#   ft-L       petit train --init MODEL --ecq L: FT_STEPS (100) steps of 6000 tokens on the
#              model's training text (lr 1e-4 constant), written packed; L in FT_LAMBDAS (0.1)
#   ftf-L      the same fine-tuning with each tensor's lambda multiplier from fisher-L
#              (--ecq-scales): the bits shared by sensitivity, then trained through; L in
#              FTF_LAMBDAS (0.1)
#   f32-ft     the same fine-tuning without --ecq: the control for ft-L and ftf-L (bench/quant.sh
#              makes it too, and it is shared); not made when FT_LAMBDAS and FTF_LAMBDAS are empty
#   q8, q4     petit quantize --type q8 / q4 (RTN): 8.5 and 4.5 bits a weight
# Each is scored by BLEU (petit bleu = sacreBLEU 13a) on Multi30k test2016, the first
# NEWS_LINES (500) lines of newstest2014 and Multi30k test2017 (a second in-domain set, to see
# how much of a difference is noise), beam 4, batch 32, 2 threads. Bits per weight: coded
# bytes (rANS streams + per-row steps) x 8 over the coded weights (every weight matrix);
# file size: the whole file, vocabulary and float vectors included.
# Loading: `petit translate` on empty input (load, then exit), median of 9, packed against
# the q8 file of the same model: the difference is the decoding, whose speed is given in MB/s
# of decoded int8 weights.
# Translations are kept (bench/out/ecq/hyp.*) and reused while newer than the model file, the
# test text and the petit binary. Targets (issue): <= 2.5 bits per weight at a BLEU loss
# <= 0.5 against fp32 (for ft-L and ftf-L: against f32-ft, trained as long); the packed file >= 10x smaller than fp32; loading adds < 100 ms. The plot (bpw against BLEU) goes to
# bench/out/ecq/rd.svg. The last line is JSON, at the recommended point: the fewest bits
# whose Multi30k BLEU is within 0.5 of its float reference (else the smallest loss).
#
# usage: bench/ecq.sh [--quick] [-m MODEL] [--news-lines N] [--ft-steps N]
#   --quick   200 lines, lambdas 0.02 0.1 (GPTQ 0.06, Fisher 0.07, 256 calibration lines, one
#             draw), one fine-tuning of 10 steps: minutes
# Environment: PETIT (./petit), PETIT_DATA (../shared/data/en-fr), LAMBDAS, GPTQ_LAMBDAS,
# FISHER_LAMBDAS, FT_LAMBDAS and FTF_LAMBDAS (the sweeps, space-separated; empty: none),
# FISHER, DRAWS.
# Work files: bench/out/ecq/; calibration statistics are cached per draw there
# (petit pack --calib-cache).
set -euo pipefail
cd "$(dirname "$0")/.."

LAMBDAS=${LAMBDAS-0 0.01 0.02 0.04 0.06 0.1} FT_LAMBDAS=${FT_LAMBDAS-0.1} GPTQ_LAMBDAS=${GPTQ_LAMBDAS-0.06 0.065}
FISHER_LAMBDAS=${FISHER_LAMBDAS-0.06 0.065 0.07 0.075} FISHER=${FISHER:-0.75} DRAWS=${DRAWS:-3}
FTF_LAMBDAS=${FTF_LAMBDAS-0.1}
FT_STEPS=100 LINES=0 NEWS_LINES=500 CALIB_LINES=1024
MODEL=runs/base/model.gguf THREADS=2
while [ $# -gt 0 ]; do
    case $1 in
    --quick) LAMBDAS="0.02 0.1" GPTQ_LAMBDAS="0.06" FISHER_LAMBDAS="0.07" DRAWS=1 FT_LAMBDAS="0.1" FTF_LAMBDAS="0.1" FT_STEPS=10
        LINES=200 CALIB_LINES=256 ;;
    --news-lines) NEWS_LINES=$2; shift ;;
    --ft-steps) FT_STEPS=$2; shift ;;
    -m | --model) MODEL=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "ecq.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
PETIT=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
OUT=bench/out/ecq
Q=$OUT/models
die() { echo "ecq.sh: $*" >&2; exit 1; }
note() { echo "ecq.sh: $*" >&2; }
[ -x "$PETIT" ] || die "$PETIT: not found; run make first (or set PETIT)"
if [ ! -f "$MODEL" ]; then
    [ "$MODEL" = runs/base/model.gguf ] || die "$MODEL: no such model"
    note "$MODEL missing: training it with recipe/base.sh (hours) ..."
    bash recipe/base.sh
fi
"$PETIT" info "$MODEL" >/dev/null || die "$MODEL: not a petit model"
bash recipe/base.sh --prepare >/dev/null
mkdir -p "$Q"
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS OMP_WAIT_POLICY=passive
fresh() { [ -f "$1" ] && [ "$1" -nt "$MODEL" ]; }

declare -A FILE=([f32]=$MODEL [q8]=$Q/q8.gguf [q4]=$Q/q4.gguf)
NAMES="f32 q8 q4"
fresh "$Q/q8.gguf" || "$PETIT" quantize -m "$MODEL" -o "$Q/q8.gguf" --type q8 -q
fresh "$Q/q4.gguf" || "$PETIT" quantize -m "$MODEL" -o "$Q/q4.gguf" --type q4 -q
for L in $LAMBDAS; do
    f=$Q/pack-$L.gguf
    fresh "$f" || "$PETIT" pack -m "$MODEL" -o "$f" --lambda "$L" -q 2>"$Q/pack-$L.log" || die "pack failed: $Q/pack-$L.log"
    FILE[pack-$L]=$f NAMES="$NAMES pack-$L"
done
# calibration draws: 1 (the series), 2 and 3 (the spread at the recommended point)
sed -n 1,512p "$DATA/dev/multi30k-val.en" >"$OUT/calib-1.en"
sed -n 1,512p "$DATA/dev/newstest2013.en" >>"$OUT/calib-1.en"
sed -n 513,1024p "$DATA/dev/multi30k-val.en" >"$OUT/calib-2.en"
sed -n 513,1024p "$DATA/dev/newstest2013.en" >>"$OUT/calib-2.en"
sed -n 257,768p "$DATA/dev/multi30k-val.en" >"$OUT/calib-3.en"
sed -n 1025,1536p "$DATA/dev/newstest2013.en" >>"$OUT/calib-3.en"
gpack() { # name lambda draw fisher-power
    local f=$Q/$1-c$CALIB_LINES-p$4.gguf # the file names what made it
    fresh "$f" || "$PETIT" pack -m "$MODEL" -o "$f" --lambda "$2" --calib "$OUT/calib-$3.en" --calib-lines $CALIB_LINES \
        --calib-cache "$OUT/calib-$3.bin" --fisher "$4" -q 2>"${f%.gguf}.log" || die "pack failed: ${f%.gguf}.log"
    FILE[$1]=$f NAMES="$NAMES $1"
}
# the Fisher series first: its calibration (with gradients) serves the GPTQ series too
for L in $FISHER_LAMBDAS; do gpack "fisher-$L" "$L" 1 "$FISHER"; done
for L in $GPTQ_LAMBDAS; do gpack "gptq-$L" "$L" 1 0; done
ft=(--src runs/base/train.en --tgt runs/base/train.fr --init "$MODEL" --lr 1e-4 --warmup 10 --schedule constant
    --batch-tokens 6000 --max-steps "$FT_STEPS" --dropout 0.1 --threads $THREADS --save-every 50 --log-every 10)
ftrain() { # OUT WHAT [train options]: one fine-tuning from the start, its log beside OUT
    local f=$1
    note "$2, $FT_STEPS steps ..."
    shift 2
    mkdir -p "$(dirname "$f")"
    rm -f "${f%.gguf}.ckpt.gguf"
    "$PETIT" train "${ft[@]}" "$@" -o "$f" >"${f%.gguf}.log" 2>&1 || die "fine-tuning failed: ${f%.gguf}.log"
}
for L in $FT_LAMBDAS; do
    f=$Q/ft-$L-$FT_STEPS.gguf
    fresh "$f" || ftrain "$f" "ECQ-aware fine-tuning, lambda $L" --ecq "$L"
    FILE[ft-$L]=$f NAMES="$NAMES ft-$L"
done
for L in $FTF_LAMBDAS; do
    [ -n "${FILE[fisher-$L]:-}" ] || gpack "fisher-$L" "$L" 1 "$FISHER"
    f=$Q/ftf-$L-$FT_STEPS-c$CALIB_LINES-p$FISHER.gguf
    fresh "$f" && [ "$f" -nt "${FILE[fisher-$L]}" ] ||
        ftrain "$f" "ECQ-aware fine-tuning with the Fisher's multipliers, lambda $L" --ecq "$L" \
            --ecq-scales "${FILE[fisher-$L]}"
    FILE[ftf-$L]=$f NAMES="$NAMES ftf-$L"
done
CTRL=bench/out/quant/models/ft-f32-$FT_STEPS.gguf # shared with bench/quant.sh
FTS="$FT_LAMBDAS$FTF_LAMBDAS"
[ -z "$FTS" ] || fresh "$CTRL" || ftrain "$CTRL" "the float control"
[ -n "$FTS" ] && FILE[f32-ft]=$CTRL NAMES="$NAMES f32-ft"

prep() { # name file lines (the files are rewritten only when they change: kept translations stay valid)
    local n=$3 x
    [ "$n" -gt 0 ] || n=1000000000
    for x in en fr; do
        head -n "$n" "$2.$x" >"$OUT/$1.$x.new"
        if cmp -s "$OUT/$1.$x.new" "$OUT/$1.$x"; then rm "$OUT/$1.$x.new"; else mv "$OUT/$1.$x.new" "$OUT/$1.$x"; fi
    done
}
NL=$NEWS_LINES; [ "$LINES" -gt 0 ] && NL=$LINES
prep m30k "$DATA/test/multi30k-test2016" "$LINES"
prep news "$DATA/test/newstest2014" "$NL"
prep m30k17 "$DATA/test/multi30k-test2017" "$LINES"

RES=$OUT/results.tsv
: >"$RES"
score() { # name: a row of results.tsv
    local e=$1 f=${FILE[$1]}
    # coded bits per weight: coded bytes (streams + row steps) over coded weights, from petit info
    bpw=$("$PETIT" info "$f" | awk '$4 == "×" { b += $6; w += $3 * $5 } END { printf "%.3f", w ? b * 8 / w : 0 }')
    row="$e\t$(stat -c %s "$f")\t$bpw"
    for s in m30k news m30k17; do
        h=$OUT/hyp.$s.$e.txt
        [ -s "$h" ] && [ "$h" -nt "$f" ] && [ "$h" -nt "$OUT/$s.en" ] && [ "$h" -nt "$PETIT" ] ||
            "$PETIT" translate -m "$f" --beam 4 --batch 32 --threads $THREADS <"$OUT/$s.en" >"$h" 2>"$OUT/err" ||
            die "$e failed: $OUT/err"
        row="$row\t$("$PETIT" bleu -m bleu -b "$OUT/$s.fr" <"$OUT/hyp.$s.$e.txt")"
    done
    printf "$row\n" | tee -a "$RES" >&2
}
for e in $NAMES; do score "$e"; done

# the recommended point of a set of series: the fewest bits within 0.5 BLEU (Multi30k
# test2016) of its float reference: fp32 without training, the float model fine-tuned as long
# (f32-ft) for ft-L and ftf-L. REC: all series; PREC: without training (pack, gptq, fisher)
pick() {
    python3 - "$RES" "$@" <<'EOF'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
b = {r[0]: (float(r[2]), float(r[3])) for r in rows}
ref = lambda e: b["f32-ft" if e.startswith(("ft-", "ftf-")) else "f32"][1]
packed = [(bpw, bleu - ref(e), e) for e, (bpw, bleu) in b.items() if e.startswith(tuple(sys.argv[2:])) and "-d" not in e]
ok = sorted(p for p in packed if p[1] >= -0.5)
print(ok[0][2] if ok else max(packed, key=lambda p: p[1])[2])
EOF
}
REC=$(pick pack- gptq- fisher- ft- ftf-) PREC=$(pick pack- gptq- fisher-)
# the recommended Fisher point again from other calibration text
if [[ $PREC == fisher-* ]]; then
    for k in $(seq 2 "$DRAWS"); do gpack "$PREC-d$k" "${PREC#fisher-}" "$k" "$FISHER"; score "$PREC-d$k"; done
fi

# loading: packed vs q8, whole process on empty input
loadms() {
    for i in 1 2 3 4 5 6 7 8 9; do
        t0=$(date +%s%N)
        "$PETIT" translate -m "$1" --threads $THREADS </dev/null >/dev/null
        echo $((($(date +%s%N) - t0) / 1000))
    done | sort -n | sed -n 5p
}
L_PACK=$(loadms "${FILE[$REC]}") L_Q8=$(loadms "${FILE[q8]}")
NW=$("$PETIT" info "${FILE[$REC]}" | awk '$2 == "ECQ" { n += $3 * $5 } END { print n + 0 }')

python3 - "$RES" "$REC" "$L_PACK" "$L_Q8" "$NW" "$OUT/rd.svg" "$MODEL" "$FT_STEPS" "$PREC" <<'EOF'
import json, sys
res, rec, lp, lq, nw, svg, model, steps, prec = sys.argv[1:10]
lp, lq, nw = int(lp) / 1000, int(lq) / 1000, float(nw)
rows = [l.split("\t") for l in open(res).read().splitlines()]
R = {r[0]: dict(size=int(r[1]), bpw=float(r[2]), m30k=float(r[3]), news=float(r[4]), m30k17=float(r[5])) for r in rows}
f32 = R["f32"]
print(f"\nfloat model {model}; BLEU at beam 4, batch 32, 2 threads; bits/w over the weight matrices")
print(f"  {'model':<18} {'bits/w':>7} {'file MB':>8} {'x smaller':>9} {'m30k 2016':>10} {'vs ref':>7} {'news':>6} {'vs ref':>7}"
      f" {'m30k 2017':>10} {'vs ref':>7}")
ref = lambda e: R["f32-ft" if e.startswith(("ft-", "ftf-")) else "f32"]
for e, r in R.items():
    print(f"  {e:<18} {r['bpw']:7.3f} {r['size']/1e6:8.2f} {f32['size']/r['size']:9.1f} {r['m30k']:10.2f} "
          f"{r['m30k']-ref(e)['m30k']:+7.2f} {r['news']:6.2f} {r['news']-ref(e)['news']:+7.2f}"
          f" {r['m30k17']:10.2f} {r['m30k17']-ref(e)['m30k17']:+7.2f}")
print(f"  (ref: fp32; for ft-L and ftf-L, f32-ft: the float model trained the same {steps} more steps without ECQ)")
draws = [e for e in R if e == prec or e.startswith(prec + "-d")]
loss = [R[e]["m30k"] - ref(e)["m30k"] for e in draws]
loss17 = [R[e]["m30k17"] - ref(e)["m30k17"] for e in draws]
mean = lambda v: sum(v) / len(v)
if len(draws) > 1:
    bits = ", ".join(f"{R[e]['bpw']:.3f}" for e in draws)
    print(f"\n{prec} over {len(draws)} calibration draws: bits/w {bits}; BLEU change on test2016 "
          f"{', '.join(f'{x:+.2f}' for x in loss)} (mean {mean(loss):+.2f}), on test2017 "
          f"{', '.join(f'{x:+.2f}' for x in loss17)} (mean {mean(loss17):+.2f})")
dec_ms = lp - lq
print(f"\nloading (whole process, empty input, median of 9): {rec} {lp:.0f} ms, q8 {lq:.0f} ms: "
      f"decoding adds {dec_ms:.0f} ms for {nw/1e6:.1f}M weights ({nw/1e6/max(dec_ms/1000, 1e-3):.0f} MB/s of int8 weights)")
# the plot: every point, then a close-up of 2-3 bits/weight
def plot(x0, x1, tick, path, zoom):
    W, H, P = 760, 440, 60
    pts = {e: r for e, r in R.items() if e not in ("f32", "f32-ft") and (not zoom or x0 <= r["bpw"] <= x1)}
    ys = [r["m30k"] for r in pts.values()]
    ft_ref = R["f32-ft"]["m30k"] if "f32-ft" in R else None
    y0, y1 = min(ys) - 1, max(ys + [f32["m30k"]] + ([ft_ref] if ft_ref is not None else [])) + 1
    X = lambda x: P + (x - x0) / (x1 - x0) * (W - 2 * P)
    Y = lambda y: H - P - (y - y0) / (y1 - y0) * (H - 2 * P)
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<line x1="{P}" y1="{H-P}" x2="{W-P}" y2="{H-P}" stroke="black"/><line x1="{P}" y1="{P}" x2="{P}" y2="{H-P}" stroke="black"/>',
         f'<text x="{W/2}" y="{H-20}" text-anchor="middle">bits per weight (coded weight matrices)</text>',
         f'<text x="16" y="{H/2}" transform="rotate(-90 16 {H/2})" text-anchor="middle">BLEU, Multi30k test2016</text>',
         f'<text x="{W/2}" y="24" text-anchor="middle" font-size="14">petit: rate against BLEU ({model}){f", {x0:g} to {x1:g} bits/weight" if zoom else ""}</text>']
    t = x0
    while t <= x1 + 1e-9:
        o.append(f'<text x="{X(t)}" y="{H-P+16}" text-anchor="middle">{t:g}</text>')
        t = round(t + tick, 6)
    for k in range(6):
        yv = y0 + k * (y1 - y0) / 5
        o.append(f'<text x="{P-6}" y="{Y(yv)+4}" text-anchor="end">{yv:.1f}</text>')
    o.append(f'<line x1="{P}" y1="{Y(f32["m30k"])}" x2="{W-P}" y2="{Y(f32["m30k"])}" stroke="#888" stroke-dasharray="4 3"/>')
    o.append(f'<text x="{P+4}" y="{Y(f32["m30k"])-4}" fill="#555">fp32 (32 bits): {f32["m30k"]:.2f}</text>')
    if ft_ref is not None and any(e.startswith(("ft-", "ftf-")) for e in pts):
        o.append(f'<line x1="{P}" y1="{Y(ft_ref)}" x2="{W-P}" y2="{Y(ft_ref)}" stroke="#d62728" stroke-dasharray="4 3"/>')
        o.append(f'<text x="{P+4}" y="{Y(ft_ref)-4}" fill="#d62728">fp32 fine-tuned as long: {ft_ref:.2f}</text>')
    o.append(f'<line x1="{P}" y1="{Y(f32["m30k"]-0.5)}" x2="{W-P}" y2="{Y(f32["m30k"]-0.5)}" stroke="#c88" stroke-dasharray="2 3"/>')
    o.append(f'<line x1="{X(2.5)}" y1="{P}" x2="{X(2.5)}" y2="{H-P}" stroke="#c88" stroke-dasharray="2 3"/>')
    for prefix, color in (("pack-", "#1f77b4"), ("gptq-", "#9467bd"), ("fisher-", "#ff7f0e"), ("ft-", "#d62728"),
                          ("ftf-", "#8c564b")):
        ser = sorted((r["bpw"], r["m30k"], e) for e, r in pts.items() if e.startswith(prefix) and "-d" not in e)
        if len(ser) > 1:
            o.append('<polyline fill="none" stroke="%s" points="%s"/>' % (color, " ".join(f"{X(a)},{Y(b)}" for a, b, _ in ser)))
        for i, (a, b, e) in enumerate(ser): # labels above and below by turns: neighbours do not overlap
            o.append(f'<circle cx="{X(a)}" cy="{Y(b)}" r="4" fill="{color}"/>'
                     f'<text x="{X(a)+6}" y="{Y(b) + (-6, 16, -20, 30)[i % 4]}" fill="{color}">{e}</text>')
    for e in ("q8", "q4"):
        if e not in pts:
            continue
        r = pts[e]
        o.append(f'<rect x="{X(r["bpw"])-4}" y="{Y(r["m30k"])-4}" width="8" height="8" fill="#2ca02c"/>'
                 f'<text x="{X(r["bpw"])+6}" y="{Y(r["m30k"])+14}" fill="#2ca02c">{e}</text>')
    o.append(f'<text x="{W-P}" y="{H-P-10}" text-anchor="end"><tspan fill="#1f77b4">● petit pack</tspan>  '
             f'<tspan fill="#9467bd">● --calib (GPTQ)</tspan>  <tspan fill="#ff7f0e">● --calib --fisher</tspan>  '
             f'<tspan fill="#d62728">● ECQ-aware fine-tuning</tspan>  <tspan fill="#8c564b">● the same, Fisher λ</tspan>  <tspan fill="#2ca02c">■ q8, q4</tspan></text>')
    o.append("</svg>")
    open(path, "w").write("\n".join(o))
    print(f"plot: {path}")
xs = [r["bpw"] for e, r in R.items() if r["bpw"] > 0 and e not in ("f32", "f32-ft")]
plot(0, max(xs + [9]) * 1.05, 1, svg, False)
plot(2.0, 3.0, 0.1, svg.replace(".svg", "-zoom.svg"), True)
r, rf = R[rec], ref(rec)
print(json.dumps(dict(recommended=rec, bpw=r["bpw"], bleu_fp32=rf["m30k"], bleu_packed=r["m30k"],
                      bleu_news_fp32=rf["news"], bleu_news_packed=r["news"], bleu_fp32_base=f32["m30k"],
                      bleu_2017_fp32=rf["m30k17"], bleu_2017_packed=r["m30k17"],
                      recommended_no_training=prec, bpw_no_training=R[prec]["bpw"],
                      loss_draws=[round(x, 2) for x in loss], loss_draws_mean=round(mean(loss), 2),
                      loss_2017_draws=[round(x, 2) for x in loss17],
                      size_ratio_vs_fp32=round(f32["size"] / r["size"], 2), bleu_q8=R["q8"]["m30k"],
                      bleu_q4=R["q4"]["m30k"], load_ms_added=round(dec_ms, 1),
                      decode_mb_s=round(nw / 1e6 / max(dec_ms / 1000, 1e-3)))))
EOF
