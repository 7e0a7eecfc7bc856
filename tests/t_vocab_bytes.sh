#!/usr/bin/env bash
# petit vocab's defaults (byte fallback, split digits): every character class
# a translator meets (digits, symbols, « », €, dashes, emoji, CJK) encodes
# without <unk> and decodes back to itself; the check after training passes;
# with --no-byte-fallback the same text needs <unk> (so the check can fail).
set -u
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
command -v spm_train >/dev/null || { echo "skip: no spm_train (apt-get install sentencepiece)"; exit 0; }

head -3000 "$DATA/train/tatoeba.fr" > "$W/t.txt"
"$P" vocab -i "$W/t.txt" -o "$W/v" --size 600 --threads 1 2> "$W/err" || { bad "vocab: $(cat "$W/err")"; exit 1; }
grep -q 'byte fallback, split digits' "$W/err" && ok "defaults: byte fallback, split digits" || bad "defaults: $(cat "$W/err")"
grep -q 'round trip over 3000 lines: 0 with <unk>, 0 decoded differently' "$W/err" && ok "round-trip check after training" \
    || bad "round-trip check: $(cat "$W/err")"
cat > "$W/c.txt" <<'TXT'
Il a 95 ans ! 0123456789 1,50 € 12.5% $40 & @ # ( ) [ ] { } X Z
« Bonjour » — c'est – ça “quoted” ‘single’
Emoji 😀🎉 and CJK 漢字かなカナ 한국어, Ελληνικά, русский, العربية
TXT
n=0
while IFS= read -r line; do
    n=$((n + 1))
    ids=$(printf '%s\n' "$line" | "$P" encode -m "$W/v.model" --ids)
    case " $ids " in *" 0 "*) bad "line $n has <unk>: $ids" ;; *) ok "line $n: no <unk>" ;; esac
    back=$(printf '%s\n' "$ids" | "$P" decode -m "$W/v.model" --ids 2>&1)
    # (lines free of what nmt_nfkc rewrites, such as … for ...: back to the bytes given)
    if [ "$back" = "$line" ]; then ok "line $n round-trips"; else bad "line $n: '$back' vs '$line'"; fi
done < "$W/c.txt"
digits=$(printf '0123456789\n' | "$P" encode -m "$W/v.model" | tr ' ' '\n' | grep -c '[0-9]')
[ "$digits" -ge 10 ] && ok "digits split one a piece" || bad "digits not split ($digits pieces with digits)"
"$P" vocab -i "$W/t.txt" -o "$W/nb" --size 600 --threads 1 --no-byte-fallback 2>/dev/null || true
ids=$(printf '漢字 😀\n' | "$P" encode -m "$W/nb.model" --ids)
case " $ids " in *" 0 "*) ok "without byte fallback the same text needs <unk>" ;; *) bad "no <unk> without byte fallback: $ids" ;; esac
exit $fail
