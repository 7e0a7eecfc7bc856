#!/usr/bin/env bash
# bench/pipeline.sh: the recipe's results table (recipe/en-fr.sh), every model measured in
# one run: the fp32 teacher, the student trained on references only (if the recipe made it:
# BASELINE=1), the distilled student in fp32, q8 (post-training), q4 (QAT) and packed
# (ECQ, rANS-coded), and CTranslate2 int8 on the teacher's weights as the outside reference.
#
# Quality: BLEU and chrF (petit bleu = sacreBLEU 13a / chrF2) at beam 4, batch 32, on
# Multi30k test2016, test2017 and mscoco2017, Tatoeba test (its first TATOEBA_LINES, default
# all 12681) and newstest2014 (its first NEWS_LINES, default all 3003).
# Speed: target tokens/s (output pieces + one EOS a sentence, re-encoded the same way for
# every engine, over translation time without loading) on Multi30k test2016, 2 threads,
# batch 32, beam 1 and 4; ROUNDS (3) rounds with the engines' order rotating, medians.
# Size: file bytes. Memory: peak RSS (GNU time) translating Multi30k test2016 at beam 4.
# Targets (issue): student within 1.0 BLEU of its teacher; packed student >= 20x smaller and
# >= 3.5x faster than the fp32 teacher.
# Last line: JSON with bleu_teacher, bleu_student, bleu_packed (Multi30k test2016),
# packed_mb, size_ratio and speed_ratio (packed vs teacher at beam 4, batch 32), and more.
#
# usage: bench/pipeline.sh [--quick] [-m PACKED.gguf] [--dir DIR] [--rounds N]
#                          [--news-lines N] [--tatoeba-lines N]
#   --quick        1 round, the first 200 lines of each test set
#   -m MODEL       the packed model to measure (default DIR/student-packed.gguf; e.g.
#                  models/en-fr.gguf, the bundled one)
#   --dir DIR      the recipe's output (default runs/en-fr; recipe/en-fr.sh runs if missing)
# Environment: PETIT (./petit), VENV (.venv, with ctranslate2: created if missing),
# PETIT_DATA (../shared/data/en-fr). Work files: bench/out/pipeline/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3 LINES=0 NEWS_LINES=0 TATOEBA_LINES=0 DIR=runs/en-fr PACKED=
THREADS=2 BATCH=32
while [ $# -gt 0 ]; do
    case $1 in
    --quick) ROUNDS=1 LINES=200 ;;
    --rounds) ROUNDS=$2; shift ;;
    --news-lines) NEWS_LINES=$2; shift ;;
    --tatoeba-lines) TATOEBA_LINES=$2; shift ;;
    --dir) DIR=$2; shift ;;
    -m | --model) PACKED=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pipeline.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
for v in ROUNDS; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "pipeline.sh: $v must be a positive integer" >&2; exit 2; }
done

PETIT=${PETIT:-./petit}
VENV=${VENV:-.venv}
DATA=${PETIT_DATA:-../shared/data/en-fr}
OUT=bench/out/pipeline
die() { echo "pipeline.sh: $*" >&2; exit 1; }
note() { echo "pipeline.sh: $*" >&2; }

[ -x "$PETIT" ] || die "$PETIT: not found; run make first (or set PETIT)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found: apt-get install -y time"
if ! "$VENV/bin/python" -c 'import ctranslate2, numpy' 2>/dev/null; then
    note "installing ctranslate2 into $VENV ..."
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q ctranslate2 numpy || die "cannot install ctranslate2"
fi
if [ ! -f "$DIR/student-packed.gguf" ] && [ -z "$PACKED" ]; then
    [ "$DIR" = runs/en-fr ] || die "$DIR: no recipe output there"
    note "$DIR missing: running recipe/en-fr.sh (hours) ..."
    OUT=$DIR bash recipe/en-fr.sh
fi
PACKED=${PACKED:-$DIR/student-packed.gguf}
declare -A FILE=([teacher]=$DIR/teacher.gguf [student]=$DIR/student.gguf [q8]=$DIR/student-q8.gguf
                 [q4]=$DIR/student-q4.gguf [packed]=$PACKED [baseline]=$DIR/baseline.gguf)
ENGINES=(teacher)
[ -f "${FILE[baseline]}" ] && ENGINES+=(baseline)
ENGINES+=(student q8 q4 packed)
for e in "${ENGINES[@]}"; do "$PETIT" info "${FILE[$e]}" >/dev/null || die "${FILE[$e]}: not a petit model"; done
mkdir -p "$OUT"
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS OMP_WAIT_POLICY=passive
T=${FILE[teacher]}
CT=$OUT/ct2_int8
if [ ! -f "$CT/model.bin" ] || [ "$T" -nt "$CT/model.bin" ]; then
    "$VENV/bin/python" tools/export_ct2.py "$T" "$CT" --force --quantization int8_7bit >"$OUT/export.log" 2>&1 ||
        die "export to CTranslate2 failed: $OUT/export.log"
fi
FILE[ct2-int8]=$CT/model.bin

# ---- test sets ----
prep() { # name file lines
    if [ "$3" -gt 0 ]; then head -n "$3" "$2.en" >"$OUT/$1.en"; head -n "$3" "$2.fr" >"$OUT/$1.fr"
    else cp "$2.en" "$OUT/$1.en"; cp "$2.fr" "$OUT/$1.fr"; fi
    "$PETIT" encode -m "$T" <"$OUT/$1.en" >"$OUT/$1.pieces"
}
lines() { [ "$LINES" -gt 0 ] && echo "$LINES" || echo "$1"; }
prep test2016 "$DATA/test/multi30k-test2016" "$(lines 0)"
prep test2017 "$DATA/test/multi30k-test2017" "$(lines 0)"
prep mscoco "$DATA/test/multi30k-mscoco2017" "$(lines 0)"
prep tatoeba "$DATA/test/tatoeba-test" "$(lines "$TATOEBA_LINES")"
prep news "$DATA/test/newstest2014" "$(lines "$NEWS_LINES")"
SETS=(test2016 test2017 mscoco tatoeba news)

# run ENGINE SET BEAM: leaves $OUT/hyp.txt, sets SECS and RSS (MB)
run() {
    local e=$1 src=$OUT/$2 k=$3
    if [ "$e" = ct2-int8 ]; then
        /usr/bin/time -f %M -o "$OUT/rss" "$VENV/bin/python" tools/ct2_translate.py "$CT" --beam "$k" --batch $BATCH \
            --threads $THREADS --compute-type int8 <"$src.pieces" >"$OUT/hyp.pieces" 2>"$OUT/err" || die "$e failed: $OUT/err"
        "$PETIT" decode -m "$T" <"$OUT/hyp.pieces" >"$OUT/hyp.txt"
        SECS=$(tail -n 1 "$OUT/err" | sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p')
    else
        /usr/bin/time -f %M -o "$OUT/rss" "$PETIT" translate -m "${FILE[$e]}" --beam "$k" --batch $BATCH \
            --threads $THREADS --verbose <"$src.en" >"$OUT/hyp.txt" 2>"$OUT/err" || die "$e failed: $OUT/err"
        SECS=$(sed -n 's/.* words out in \([0-9.]*\) s.*/\1/p' "$OUT/err")
    fi
    [ -n "$SECS" ] || die "$e: no timing in $OUT/err"
    RSS=$(($(tail -n 1 "$OUT/rss") / 1024))
}
toks() { "$PETIT" encode -m "$T" <"$OUT/hyp.txt" | awk '{n += NF + 1} END {print n + 0}'; }

# ---- quality ----
QUAL=$OUT/quality.tsv
: >"$QUAL"
for e in "${ENGINES[@]}" ct2-int8; do
    for s in "${SETS[@]}"; do
        run "$e" "$s" 4
        scores=$("$PETIT" bleu -m bleu,chrf -b "$OUT/$s.fr" <"$OUT/hyp.txt")
        bleu=$(sed -n 1p <<<"$scores") chrf=$(sed -n 2p <<<"$scores")
        cp "$OUT/hyp.txt" "$OUT/hyp.$s.$e.txt"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$e" "$s" "$bleu" "$chrf" "$RSS" "$SECS" | tee -a "$QUAL" >&2
    done
done

# ---- speed ----
SPEED=$OUT/speed.tsv
: >"$SPEED"
SP=(teacher student q8 q4 packed ct2-int8)
for ((r = 0; r < ROUNDS; r++)); do
    for k in 1 4; do
        for ((i = 0; i < ${#SP[@]}; i++)); do
            e=${SP[$(((i + r) % ${#SP[@]}))]}
            run "$e" test2016 "$k"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$e" "$k" "$SECS" "$(toks)" "$RSS" | tee -a "$SPEED" >&2
        done
    done
done

sizes=()
for e in "${ENGINES[@]}"; do sizes+=("$e=$(stat -c %s "${FILE[$e]}")"); done
sizes+=("ct2-int8=$(stat -c %s "$CT/model.bin")")
python3 - "$QUAL" "$SPEED" "$PACKED" "${sizes[@]}" <<'PY'
import json, statistics as st, sys
qual, speed, packed = sys.argv[1:4]
size = {k: int(v) / 1e6 for k, v in (a.split("=") for a in sys.argv[4:])}
B, C, RSS = {}, {}, {}
sets = []
for l in open(qual):
    e, s, b, c, rss, secs = l.split()
    B[(e, s)], C[(e, s)] = float(b), float(c)
    if s not in sets: sets.append(s)
    if s == "test2016": RSS[e] = int(rss)
T = {}
for l in open(speed):
    r, e, k, secs, toks, rss = l.split()
    T.setdefault((e, int(k)), []).append(int(toks) / float(secs))
tps = {k: st.median(v) for k, v in T.items()}
engines = [e for e in ["teacher", "baseline", "student", "q8", "q4", "packed", "ct2-int8"] if (e, "test2016") in B]
names = {"teacher": "teacher fp32", "baseline": "student, refs only", "student": "student fp32",
         "q8": "student q8", "q4": "student q4 QAT", "packed": "student packed", "ct2-int8": "CT2 int8 (teacher)"}
print(f"\npacked model: {packed}; beam 4, batch 32, 2 threads; BLEU / chrF (sacreBLEU 13a, chrF2)")
print(f"  {'model':<19} {'MB':>6} " + " ".join(f"{s:>13}" for s in sets) + f" {'RSS MB':>7} {'tok/s b1':>9} {'tok/s b4':>9}")
for e in engines:
    row = " ".join(f"{B[(e, s)]:6.2f}/{C[(e, s)]:6.2f}" for s in sets)
    sp = lambda k: f"{tps[(e, k)]:9.0f}" if (e, k) in tps else f"{'-':>9}"
    print(f"  {names[e]:<19} {size[e]:6.1f} {row} {RSS[e]:7d} {sp(1)} {sp(4)}")
d = B[("student", "test2016")] - B[("teacher", "test2016")]
ratio = lambda a, k: round(tps[(a, k)] / tps[("teacher", k)], 3)
print(f"\nstudent - teacher BLEU (test2016): {d:+.2f}  (target >= -1.0)")
for s in sets:
    print(f"  {s:<9} teacher {B[('teacher', s)]:6.2f}  student {B[('student', s)]:6.2f} ({B[('student', s)] - B[('teacher', s)]:+.2f})"
          + (f"  refs-only student {B[('baseline', s)]:6.2f} (KD buys {B[('student', s)] - B[('baseline', s)]:+.2f})"
             if ("baseline", s) in B else "")
          + f"  packed {B[('packed', s)]:6.2f} ({B[('packed', s)] - B[('teacher', s)]:+.2f})")
print(f"packed: {size['packed']:.2f} MB, {size['teacher'] / size['packed']:.1f}x smaller than the teacher (target >= 20x); "
      f"speed vs teacher: {ratio('packed', 1):.2f}x at beam 1, {ratio('packed', 4):.2f}x at beam 4 (target >= 3.5x)")
out = dict(bleu_teacher=B[("teacher", "test2016")], bleu_student=B[("student", "test2016")],
           bleu_packed=B[("packed", "test2016")], bleu_q8=B[("q8", "test2016")], bleu_q4=B[("q4", "test2016")],
           bleu_ct2_int8=B[("ct2-int8", "test2016")],
           bleu_news_teacher=B[("teacher", "news")], bleu_news_student=B[("student", "news")],
           bleu_news_packed=B[("packed", "news")],
           packed_mb=round(size["packed"], 3), size_ratio=round(size["teacher"] / size["packed"], 2),
           speed_ratio=ratio("packed", 4), speed_ratio_beam1=ratio("packed", 1),
           student_speed_ratio=ratio("student", 4), ct2_int8_speed_ratio=ratio("ct2-int8", 4))
if ("baseline", "test2016") in B:
    out["bleu_baseline"] = B[("baseline", "test2016")]
    out["bleu_news_baseline"] = B[("baseline", "news")]
print(json.dumps(out))
PY
