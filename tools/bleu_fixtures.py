#!/usr/bin/env python3
"""Reference data for petit's BLEU and chrF (src/eval/bleu.c), made with sacreBLEU.

    python tools/bleu_fixtures.py unicode    # writes src/eval/bleu_unicode.c
    python tools/bleu_fixtures.py fixtures   # writes tests/data/bleu/*

Needs `pip install sacrebleu` (which brings `regex`); run from the repository
root. Nothing in `make` or `make test` runs this: its outputs are committed, so
the C tests need no Python.

`unicode` tabulates, for every code point, the properties sacreBLEU's text
handling depends on, taken from the very code it runs:
  - Python's str.isspace (str.split and str.rstrip use it),
  - Python's str.lower (--lowercase), including U+0130 and the final-sigma
    rule, whose "cased" and "case-ignorable" classes are read back from
    str.lower itself,
  - the `regex` module's \\p{N}, \\p{P} and \\p{S} (the intl tokenizer).
Python's unicodedata and `regex` carry different Unicode versions; each table
uses the one sacreBLEU uses for it.

`fixtures` writes hypothesis files (deterministic perturbations of the
references in ../shared/data/en-fr), a file of tricky lines with sacreBLEU's
tokenization of each, and the expected statistics and scores of every case
(tests/data/bleu/cases.txt), read by tests/test_bleu.c and
tests/t_bleu_cli.sh.

The sys-*.fr files in tests/data/bleu/ are different: they are real, weak
system output, committed as they came and only read here (never rewritten).
They were produced by `petit translate` with the demo model of
`bash recipe/demo.sh 200` (a 200-step Multi30k model, d_model 128, 3+3
layers; runs/demo/model.gguf, git-ignored, of sha256
8761f93cd0303041b3fc1b8da597b1bf5b23961d38660e8d213d9912cc76ffbf), from the
repository root with DATA=../shared/data/en-fr:

    ./petit translate -m runs/demo/model.gguf --beam 4 --threads 1 \
        < $DATA/test/multi30k-test2016.en > tests/data/bleu/sys-m30k-2016.beam4.fr
    ./petit translate -m runs/demo/model.gguf --beam 1 --threads 1 \
        < $DATA/test/multi30k-test2016.en > tests/data/bleu/sys-m30k-2016.greedy.fr
    head -n 500 $DATA/test/newstest2014.en |
        ./petit translate -m runs/demo/model.gguf --beam 4 --threads 1 \
        > tests/data/bleu/sys-nt14-500.beam4.fr

(newstest2014 is out of domain for a Multi30k model: that output is mostly
wrong, which is the point, low n-gram precisions and BP < 1 on real text.)
Their references are multi30k-test2016.fr and the first 500 lines of
newstest2014.fr (written here as tests/data/bleu/nt14-500.fr).
"""
import os
import random
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "en-fr")
OUT = os.path.join(ROOT, "tests", "data", "bleu")
MAXCP = 0x110000


def surrogate(c):
    return 0xD800 <= c < 0xE000


def ranges_of(classify):
    """[(lo, hi, cls)] over all code points where classify(c) is not None."""
    out = []
    for c in range(MAXCP):
        if surrogate(c):
            continue
        k = classify(c)
        if k is None:
            continue
        if out and out[-1][2] == k and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c, k])
    return out


# ---- unicode ------------------------------------------------------------

def case_class(c):
    """'C' cased and not case-ignorable, 'I' case-ignorable, None neither,
    as CPython's final-sigma rule sees them (read back through str.lower)."""
    x = chr(c)
    after_cased = (x + "\u03a3").lower().endswith("\u03c2")
    skipped = ("A" + x + "\u03a3").lower().endswith("\u03c2")
    blocks = ("A\u03a3" + x).lower().startswith("a\u03c3")
    k = "C" if after_cased else "I" if skipped else None
    assert blocks == (k == "C"), hex(c)
    return k


def cmd_unicode():
    import regex

    pn, pp, ps = (regex.compile(p) for p in (r"\p{N}", r"\p{P}", r"\p{S}"))

    def intl_class(c):
        x = chr(c)
        if pn.match(x):
            return "N"
        if pp.match(x):
            return "P"
        if ps.match(x):
            return "S"
        return None

    intl = ranges_of(intl_class)
    case = ranges_of(case_class)
    spaces = [c for c in range(MAXCP) if chr(c).isspace()]

    # lowercase mappings: runs of code points lo..hi (every `stride`-th) that
    # map to c + delta; U+0130 (the only one-to-many mapping) is special.
    multi = [c for c in range(MAXCP) if not surrogate(c) and len(chr(c).lower()) > 1]
    assert multi == [0x130], multi
    low = []
    for c in range(MAXCP):
        if surrogate(c) or c == 0x130:
            continue
        m = chr(c).lower()
        if m == chr(c):
            continue
        d = ord(m) - c
        if low:
            lo, hi, dd, st = low[-1]
            if dd == d and ((st == 0 and c - hi in (1, 2)) or (st and c - hi == st)):
                low[-1] = [lo, c, d, c - hi]
                continue
        low.append([c, c, d, 0])
    for r in low:
        if r[3] == 0:
            r[3] = 1

    # self-check the run table against str.lower
    def lower_of(c):
        for lo, hi, d, st in low:
            if lo <= c <= hi and (c - lo) % st == 0:
                return c + d
        return c
    for c in range(MAXCP):
        if surrogate(c) or c == 0x130:
            continue
        assert chr(lower_of(c)) == chr(c).lower(), hex(c)

    cls_name = {"N": "PT_UC_NUMBER", "P": "PT_UC_PUNCT", "S": "PT_UC_SYMBOL",
                "C": "PT_UC_CASED", "I": "PT_UC_CASE_IGNORABLE"}
    L = []
    w = L.append
    w("/* bleu_unicode.c: code point tables for sacreBLEU-exact text handling.")
    w(" *")
    w(" * GENERATED by `python tools/bleu_fixtures.py unicode`; do not edit.")
    w(f" * Whitespace, lowercase, cased/case-ignorable: Python {sys.version.split()[0]}"
      f" (Unicode {unicodedata.unidata_version}),")
    w(f" * read from str.isspace and str.lower. \\p{{N}} \\p{{P}} \\p{{S}} (intl tokenizer):")
    w(f" * the regex module {regex.__version__}, which carries its own, newer Unicode tables.")
    w(" * Ranges are sorted and disjoint and looked up by binary search; the")
    w(" * functions are declared in bleu.h. */")
    w('#include "eval/bleu.h"')
    w("")
    w("/* [lo, hi] with a class (v) for the class tables; for the lowercase runs,")
    w(" * every c in [lo, hi] with (c - lo) % stride == 0 lowercases to c + v */")
    w("typedef struct {")
    w("    uint32_t lo, hi;")
    w("    int32_t v, stride;")
    w("} uc_range;")
    w("")
    w(f"static const uc_range intl_ranges[{len(intl)}] = {{")
    for lo, hi, k in intl:
        w(f"    {{0x{lo:04X}, 0x{hi:04X}, {cls_name[k]}, 0}},")
    w("};")
    w("")
    w(f"static const uc_range case_ranges[{len(case)}] = {{")
    for lo, hi, k in case:
        w(f"    {{0x{lo:04X}, 0x{hi:04X}, {cls_name[k]}, 0}},")
    w("};")
    w("")
    w(f"static const uc_range lower_runs[{len(low)}] = {{")
    for lo, hi, d, st in low:
        w(f"    {{0x{lo:04X}, 0x{hi:04X}, {d}, {st}}},")
    w("};")
    w("")
    w("#define N_OF(t) ((int)(sizeof(t) / sizeof((t)[0])))")
    w("")
    w("/* the entry of tab[0..n) whose [lo, hi] holds c, or NULL */")
    w("static const uc_range *find(const uc_range *tab, int n, uint32_t c) {")
    w("    int a = 0, b = n - 1;")
    w("    while (a <= b) {")
    w("        int m = (a + b) / 2;")
    w("        if (c < tab[m].lo) b = m - 1;")
    w("        else if (c > tab[m].hi) a = m + 1;")
    w("        else return &tab[m];")
    w("    }")
    w("    return NULL;")
    w("}")
    w("")
    cls_num = {None: 0, "N": 1, "P": 2, "S": 3}
    w("/* pt_uc_intl_class of the ASCII code points, the common case */")
    w('_Static_assert(PT_UC_NUMBER == 1 && PT_UC_PUNCT == 2 && PT_UC_SYMBOL == 3, "intl_ascii");')
    w("static const signed char intl_ascii[128] = {")
    for i in range(0, 128, 32):
        w("    " + ", ".join(str(cls_num[intl_class(c)]) for c in range(i, i + 32)) + ",")
    w("};")
    w("")
    w("int pt_uc_intl_class(uint32_t c) {")
    w("    if (c < 128) return intl_ascii[c];")
    w("    const uc_range *r = find(intl_ranges, N_OF(intl_ranges), c);")
    w("    return r ? r->v : PT_UC_OTHER;")
    w("}")
    w("")
    w("int pt_uc_case_class(uint32_t c) {")
    w("    const uc_range *r = find(case_ranges, N_OF(case_ranges), c);")
    w("    return r ? r->v : PT_UC_OTHER;")
    w("}")
    w("")
    w("uint32_t pt_uc_lower(uint32_t c) {")
    w("    const uc_range *r = find(lower_runs, N_OF(lower_runs), c);")
    w("    if (!r || (c - r->lo) % (uint32_t)r->stride) return c;")
    w("    return (uint32_t)((int32_t)c + r->v);")
    w("}")
    w("")
    w("int pt_uc_is_space(uint32_t c) {")
    w("    switch (c) {")
    for i in range(0, len(spaces), 6):
        w("    " + " ".join(f"case 0x{c:04X}:" for c in spaces[i:i + 6]))
    w("        return 1;")
    w("    default:")
    w("        return 0;")
    w("    }")
    w("}")
    path = os.path.join(ROOT, "src", "eval", "bleu_unicode.c")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")
    print(f"wrote {path}: {len(intl)} intl ranges, {len(case)} case ranges, "
          f"{len(low)} lowercase runs, {len(spaces)} spaces")


# ---- fixtures -------------------------------------------------------------

def read_lines(path):
    """Lines as sacreBLEU's command line reads a file: split at '\n' only,
    each rstripped."""
    with open(path, encoding="utf-8", newline="\n") as f:
        return [line.rstrip() for line in f]


def write_lines(name, lines):
    """Write lines (no '\n' inside) to tests/data/bleu/name, '\n'-terminated."""
    for x in lines:
        assert "\n" not in x, name
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write("".join(x + "\n" for x in lines).encode("utf-8"))
    return path


def perturb_words(line, rng, p_drop, p_swap, p_case, p_dup, p_entity=0.0, vocab=None,
                  p_replace=0.0, p_empty=0.0):
    """A deterministic "system output": the reference with words dropped,
    swapped, recased, duplicated or replaced, and quotes written as &quot;."""
    if rng.random() < p_empty:
        return ""
    words = line.split()
    out = []
    for w in words:
        r = rng.random()
        if r < p_drop:
            continue
        if vocab and rng.random() < p_replace:
            w = vocab[rng.randrange(len(vocab))]
        r = rng.random()
        if r < p_case / 3:
            w = w.lower()
        elif r < 2 * p_case / 3:
            w = w.upper()
        elif r < p_case:
            w = w.capitalize()
        if p_entity and '"' in w and rng.random() < p_entity:
            w = w.replace('"', "&quot;")
        out.append(w)
        if rng.random() < p_dup:
            out.append(w)
    for i in range(len(out) - 1):
        if rng.random() < p_swap:
            out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def perturb_chars(line, rng):
    """Character-level damage for the tricky lines."""
    cs = list(line)
    for _ in range(1 + len(cs) // 8):
        if not cs:
            break
        i = rng.randrange(len(cs))
        op = rng.randrange(4)
        if op == 0:
            del cs[i]
        elif op == 1 and i + 1 < len(cs):
            cs[i], cs[i + 1] = cs[i + 1], cs[i]
        elif op == 2:
            cs.insert(i, cs[i])
        else:
            cs[i] = cs[i].swapcase()
    return "".join(cs).replace("\n", " ")


HANDCRAFTED = [
    "Hello, world.",
    "It costs $1,000.50, not 1.000,50 \u20ac.",
    "3.14 and 2,718 and 1.5-2.5 and 10-20 and -5 and 5- and a-b",
    "The year 2014.",
    "End with number 42.",
    "Numbers: 1,234,567.89 1.234.567,89 ,5 .5 5. 5, 1,a a,1 a.1 1.a",
    "mixed 5.a 5,a a.5 a,5 .. ,, .,., 1..2 1,,2 a... a,,, 1... 1,,,",
    "1-2 1 -2 1- 2 a1-b2 -1- 1--2 2-- -- 3-4-5",
    "&quot;Quoted&quot; &amp; &lt;tag&gt; &amp;quot; &amp;lt; &QUOT; &apos; &#39;",
    "&amp;amp; &&quot; &quot&quot; &lt;&gt; & amp; &amp",
    "<skipped> words <skipped> word<skipped>word <SKIPPED> <skip ped>",
    "\"double\" 'single' `back` \u00abguillemets\u00bb \u201elow\u201c \u201ccurly\u201d \u2018single\u2019",
    "l'homme d\u2019affaires aujourd'hui qu'il l'a dit",
    "e-mail, co-operate -- dash \u2014 em \u2013 en \u2010 hyphen \u2212 minus",
    "ellipsis... and ?! and !!! and \u2026 and ?!?",
    "URLs: http://www.example.com/path?q=1&x=2#frag and a@b.c and C:\\dir\\file",
    "Math: a+b=c, x<y>z, 5%, #1, @user, ^hat, _under_, |pipe|, ~tilde, {brace}, [bracket], (paren)",
    "Tabs\there\tand\x0bvertical\x0cform feeds",
    "NBSP\xa0inside and\u2009thin\u202fnarrow\u3000ideographic\u2007figure",
    "\x1cfile\x1dgroup\x1erecord\x1funit separators",
    "next line\x85char and line\u2028sep para\u2029sep ogham\u1680space",
    "zero\u200bwidth and BOM\ufeffinside and word\u2060joiner",
    "trailing spaces   ",
    "   leading spaces",
    "trailing nbsp\xa0\xa0",
    "trailing ideographic\u3000",
    "carriage\rreturn inside",
    "trailing cr\r",
    "",
    " ",
    "\t",
    ".",
    "5.",
    "a.",
    "-",
    "&",
    "\u03a3 \u039f\u0394\u039f\u03a3 \u039f\u0394\u039f\u03a3. \u03a3\u0391\u03a3 \u03a3.\u03a3 \u0391\u03a3\u0301 \u0391\u03a3\u0301\u0391",
    "\u0391\u03a3, \u0391\u03a3. \u0391\u03a3'\u0391 \u0391\u03a3-\u0391 \u0391\u0345\u03a3 \u0391\u00ad\u03a3 1\u03a3 \u03a3\u03a3\u03a3",
    "\u0130stanbul \u0130\u0130 \u0130\u0307 DIYARBAKIR \u0131",
    "\u00c0\u00c9\u00ce\u00d5\u00dc \u00c7A \u0152UVRE \u01c4 \u01c5 \u01c6 \u1f88 \u1e9e \u00df",
    "\u023a \u023e \u2126 \u212a \u212b \u2c6f \ua7ae",
    "Unicode punct: \u00a1\u00bf \u00b6 \u00a7 \u00b7 \u2039\u203a \u203c \u2047 \u3002\u3001\u300c\u300d \uff1a\uff0c",
    "Symbols: \u00a9 \u00ae \u2122 \u00b0 \u00b1 \u00d7 \u00f7 \u20ac \u00a3 \u00a5 \u20b9 \u2190 \u2192 \u2211 \u221a \u221e \u2665 \u263a \U0001f600 \U0001f44d\U0001f3fd",
    "Numbers: \u00bd \u00be \u00b2 \u00b3 \u2460 \u216b \u0663 \u096a \U0001d7d8 5\u00bd 1\u00b2.",
    "Combining: e\u0301 caf\u00e9 cafe\u0301 n\u0303 a\u0308. a\u0308,",
    "\u4e2d\u6587\uff0c\u6807\u70b9\u3002\u65e5\u672c\u8a9e\u306e\u300c\u30c6\u30b9\u30c8\u300d\u3067\u3059\uff01\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4.",
    "\u0645\u0631\u062d\u0628\u0627\u060c \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f \u0661\u0662\u0663",
    "\u0928\u092e\u0938\u094d\u0924\u0947\u0964 \u092f\u0939 \u092a\u0930\u0940\u0915\u094d\u0937\u093e \u0939\u0948\u0965",
    "Lots   of    internal     spaces",
    "nul\x00byte and \x00 alone",
    "controls \x01\x02\x7f\x1b[0m",
    "private \ue000 \U000f0000 unassigned \u0378 \U000e0001",
    "\U0001d400\U0001d401\U0001d402 \U00010400\U00010428 \U0001e900",
    "\ufb01 \ufb02 \u0149 \u01f0 \u1e96",
    "new in recent Unicode: \u20c0 \U00011f43 \U0001fb95 \U0001cc00",
    "A.B.C. U.S.A. e.g. i.e. etc.",
    "He said: \"No!\" -- and left.",
    "(1) [2] {3} <4>",
    "5$ $5 5\u20ac \u20ac5 5% %5 #5 5#",
    "don't won't can't it's",
    "C'est l'\u00e9t\u00e9 ! Vraiment ? Oui ; non : peut-\u00eatre.",
    "\u00ab Bonjour \u00bb, dit-il.",
    "1.000.000,00 \u20ac ou 1 000 000,00 \u20ac",
    "10h30-11h00 15-20% 2014-2015 XIX-XX",
]


def tricky_lines():
    rng = random.Random(13)
    lines = list(HANDCRAFTED)
    # real lines the tokenizers have work to do on
    import re
    pick = re.compile(r"[&\"'\u2019\u00ab\u00bb%$\u20ac]|\d[.,]\d|\d-|\.\.\.")
    for name in ("test/newstest2014.en", "test/newstest2014.fr", "dev/newstest2013.fr"):
        cand = [x for x in read_lines(os.path.join(DATA, name)) if pick.search(x)]
        lines += rng.sample(cand, 40)
    atoms = ["a", "B", "word", "Word", "WORD", "\u03a3", "\u03c2", "\u0130", "\u0345", "1", "9",
             "12", "3.5", "1,000", ".", ",", "-", "--", "&", "&quot;", "&amp;", "&lt;", "&gt;",
             "&QUOT;", "<skipped>", " ", "  ", "\t", "\xa0", "\u2009", "\r", "\x0b", "\x1c",
             "\x85", "\u3000", "\"", "'", "\u2019", "\u00ab", "\u00bb", "(", ")", "$", "\u20ac",
             "%", "/", ":", ";", "?", "!", "\u2026", "\u2014", "\u2013", "\u00b7", "\u0663",
             "\u00bd", "\U0001f600", "\u0301", "\u200b", "\x00", "\u00e9", "\u00c9", "\u01c4",
             "\u3002", "\u3001", "\u4e2d", "\u00df", "\u1e9e", "\u212a", "\u2126", "\u1f88",
             "'s", "{", "}", "[", "]", "^", "_", "`", "|", "~", "@", "#", "+", "=", "<", ">",
             "\\", "*", "\u00a7", "\u00b2", "\u2460", "\U00010400"]
    for _ in range(160):
        lines.append("".join(rng.choice(atoms) for _ in range(rng.randrange(1, 30))))
    return lines


def sacre_bleu(tok, lc):
    from sacrebleu.metrics import BLEU
    return BLEU(tokenize=tok, lowercase=lc)


def score_case(hyps, refs, tok, blc, clc):
    """sacreBLEU's corpus BLEU and chrF, exactly as its command line computes
    them from files (lines already read with rstrip)."""
    from sacrebleu.metrics import BLEU, CHRF
    bleu = BLEU(tokenize=tok, lowercase=blc)
    chrf = CHRF(lowercase=clc)
    b = bleu.corpus_score(hyps, refs)
    c = chrf.corpus_score(hyps, refs)
    bsig = bleu.get_signature().format()
    csig = chrf.get_signature().format()
    return b, c, b.format(width=2, signature=bsig), c.format(width=2, signature=csig)


def cmd_fixtures():
    import subprocess
    import sacrebleu
    os.makedirs(OUT, exist_ok=True)
    data = lambda name: os.path.join(DATA, name)
    cases = []  # (name, hyp_spec, [ref_specs], [(tok, lc)...], hyps, refs)

    def spec_data(name):
        return "$DATA/" + name

    def spec_out(name):
        return "tests/data/bleu/" + name

    # 1. newstest2014.fr against a perturbed copy: full test set
    rng = random.Random(2014)
    nt14 = read_lines(data("test/newstest2014.fr"))
    vocab = sorted(set(w for x in nt14 for w in x.split()))
    hyp = [perturb_words(x, rng, 0.08, 0.05, 0.05, 0.03, p_entity=0.5, vocab=vocab,
                         p_replace=0.05, p_empty=0.005) for x in nt14]
    write_lines("nt14-perturbed.fr", hyp)
    for tok, lc in (("13a", False), ("13a", True), ("intl", False), ("none", False),
                    ("intl", True)):
        cases.append((f"nt14-perturbed-{tok}{'-lc' if lc else ''}",
                      spec_out("nt14-perturbed.fr"), [spec_data("test/newstest2014.fr")],
                      tok, lc, hyp, [nt14]))

    # 2. the English side scored against the French side (low scores)
    nt14en = read_lines(data("test/newstest2014.en"))
    cases.append(("nt14-en-vs-fr", spec_data("test/newstest2014.en"),
                  [spec_data("test/newstest2014.fr")], "13a", False, nt14en, [nt14]))
    # sacreBLEU's -lc lowercases for BLEU only
    cases.append(("nt14-en-vs-fr-bleu-lc", spec_data("test/newstest2014.en"),
                  [spec_data("test/newstest2014.fr")], "13a", (True, False), nt14en, [nt14]))

    # 3. Multi30k: two different test sets as hypothesis and reference
    m16 = read_lines(data("test/multi30k-test2016.fr"))
    m17 = read_lines(data("test/multi30k-test2017.fr"))
    m16en = read_lines(data("test/multi30k-test2016.en"))
    cases.append(("m30k-2017-vs-2016", spec_data("test/multi30k-test2017.fr"),
                  [spec_data("test/multi30k-test2016.fr")], "13a", False, m17, [m16]))
    cases.append(("m30k-2016-en-vs-fr-intl-lc", spec_data("test/multi30k-test2016.en"),
                  [spec_data("test/multi30k-test2016.fr")], "intl", True, m16en, [m16]))
    # ... and two references at once (the 2016 and 2017 French)
    cases.append(("m30k-en-vs-2refs", spec_data("test/multi30k-test2016.en"),
                  [spec_data("test/multi30k-test2016.fr"), spec_data("test/multi30k-test2017.fr")],
                  "13a", False, m16en, [m16, m17]))

    # 4. Tatoeba: English sentences with several French translations give
    # 2 and 3 references; the hypothesis is a perturbed translation
    from collections import OrderedDict
    groups = OrderedDict()
    for e, f in zip(read_lines(data("test/tatoeba-test.en")), read_lines(data("test/tatoeba-test.fr"))):
        groups.setdefault(e, []).append(f)
    rng = random.Random(7)
    two = [v for v in groups.values() if len(v) >= 2]
    ra, rb = [v[0] for v in two], [v[1] for v in two]
    hyp = [perturb_words(v[rng.randrange(2)], rng, 0.1, 0.05, 0.05, 0.02, p_empty=0.01) for v in two]
    write_lines("tatoeba-ref-a.fr", ra)
    write_lines("tatoeba-ref-b.fr", rb)
    write_lines("tatoeba-hyp.fr", hyp)
    for tok, lc in (("13a", False), ("intl", True)):
        cases.append((f"tatoeba-2refs-{tok}{'-lc' if lc else ''}", spec_out("tatoeba-hyp.fr"),
                      [spec_out("tatoeba-ref-a.fr"), spec_out("tatoeba-ref-b.fr")], tok, lc,
                      hyp, [ra, rb]))
    three = [v for v in groups.values() if len(v) >= 3]
    r3 = [[v[k] for v in three] for k in range(3)]
    hyp3 = [perturb_words(v[-1], rng, 0.15, 0.1, 0.1, 0.05) for v in three]
    for k in range(3):
        write_lines(f"tatoeba3-ref-{k}.fr", r3[k])
    write_lines("tatoeba3-hyp.fr", hyp3)
    cases.append(("tatoeba-3refs", spec_out("tatoeba3-hyp.fr"),
                  [spec_out(f"tatoeba3-ref-{k}.fr") for k in range(3)], "13a", False, hyp3, r3))

    # 5. newstest2013: a short system (BP < 1) and a long one (ratio > 1)
    nt13 = read_lines(data("dev/newstest2013.fr"))[:600]
    write_lines("nt13-600.fr", nt13)
    rng = random.Random(2013)
    short = [perturb_words(x, rng, 0.35, 0.1, 0.02, 0.0) for x in nt13]
    long_ = [perturb_words(x, rng, 0.02, 0.2, 0.02, 0.3) for x in nt13]
    write_lines("nt13-short.fr", short)
    write_lines("nt13-long.fr", long_)
    cases.append(("nt13-short", spec_out("nt13-short.fr"), [spec_out("nt13-600.fr")], "13a",
                  False, short, [nt13]))
    cases.append(("nt13-long-lc", spec_out("nt13-long.fr"), [spec_out("nt13-600.fr")], "13a",
                  True, long_, [nt13]))

    # 6. the tricky lines against a damaged copy, every tokenizer
    tricky = tricky_lines()
    rng = random.Random(99)
    tricky_hyp = [perturb_chars(x, rng) for x in tricky]
    write_lines("tricky.txt", tricky)
    write_lines("tricky-hyp.txt", tricky_hyp)
    # what the command line reads back: rstripped lines
    t_ref = [x.rstrip() for x in tricky]
    t_hyp = [x.rstrip() for x in tricky_hyp]
    for tok, lc in (("13a", False), ("13a", True), ("intl", False), ("intl", True), ("none", False)):
        cases.append((f"tricky-{tok}{'-lc' if lc else ''}", spec_out("tricky-hyp.txt"),
                      [spec_out("tricky.txt")], tok, lc, t_hyp, [t_ref]))

    # tokenizer outputs of the tricky lines: the tokens BLEU counts on each
    # line, joined by single spaces (the none tokenizer leaves the joining to
    # the n-gram extraction, which splits at whitespace)
    for tok, lc in (("13a", False), ("13a", True), ("intl", False), ("intl", True), ("none", True)):
        b = sacre_bleu(tok, lc)
        write_lines(f"tricky.tok-{tok}{'-lc' if lc else ''}",
                    [" ".join(b._preprocess_segment(x.rstrip()).split()) for x in tricky])
    write_lines("tricky.lower", [x.lower() for x in tricky])

    # 7. real system output of a small demo model (see the docstring for the
    # exact commands; the files are inputs here, never rewritten)
    sys_m16_beam4 = read_lines(os.path.join(OUT, "sys-m30k-2016.beam4.fr"))
    sys_m16_greedy = read_lines(os.path.join(OUT, "sys-m30k-2016.greedy.fr"))
    sys_nt14_beam4 = read_lines(os.path.join(OUT, "sys-nt14-500.beam4.fr"))
    nt14_500 = nt14[:500]
    write_lines("nt14-500.fr", nt14_500)
    assert len(sys_m16_beam4) == len(sys_m16_greedy) == len(m16) == 1000
    assert len(sys_nt14_beam4) == len(nt14_500) == 500
    m16_ref = [spec_data("test/multi30k-test2016.fr")]
    cases.append(("sys-m30k-2016-beam4", spec_out("sys-m30k-2016.beam4.fr"), m16_ref,
                  "13a", False, sys_m16_beam4, [m16]))
    # `sacrebleu -tok intl -lc`: -lc lowercases for BLEU only
    cases.append(("sys-m30k-2016-beam4-intl-lc", spec_out("sys-m30k-2016.beam4.fr"), m16_ref,
                  "intl", (True, False), sys_m16_beam4, [m16]))
    cases.append(("sys-m30k-2016-greedy", spec_out("sys-m30k-2016.greedy.fr"), m16_ref,
                  "13a", False, sys_m16_greedy, [m16]))
    cases.append(("sys-nt14-500-beam4", spec_out("sys-nt14-500.beam4.fr"),
                  [spec_out("nt14-500.fr")], "13a", False, sys_nt14_beam4, [nt14_500]))
    cases.append(("sys-nt14-500-beam4-intl-lc", spec_out("sys-nt14-500.beam4.fr"),
                  [spec_out("nt14-500.fr")], "intl", (True, False), sys_nt14_beam4, [nt14_500]))

    # expected corpus scores
    L = [f"# GENERATED by tools/bleu_fixtures.py fixtures with sacreBLEU {sacrebleu.__version__}",
         "# (Python " + sys.version.split()[0] + "); read by tests/test_bleu.c and tests/t_bleu_cli.sh.",
         "# case NAME / hyp FILE / ref FILE... / opts TOK BLEU_LC CHRF_LC /",
         "# bleu SCORE BP RATIO HYP_LEN REF_LEN CORRECT1..4 TOTAL1..4 PRECISION1..4 /",
         "# chrf SCORE / text LINE (sacreBLEU's text output, width 2) / end.",
         "# Floats are Python reprs (they read back exactly). $DATA is ../shared/data/en-fr.",
         "# sys-* cases: real output of `petit translate` with a 200-step demo model",
         "# (recipe/demo.sh 200), beam 4 or greedy; commands in tools/bleu_fixtures.py."]
    cli_checked = 0
    for name, hyp_spec, ref_specs, tok, lc, hyps, refs in cases:
        blc, clc = (lc, lc) if isinstance(lc, bool) else lc
        b, c, bline, cline = score_case(hyps, refs, tok, blc, clc)
        L.append(f"case {name}")
        L.append(f"hyp {hyp_spec}")
        for r in ref_specs:
            L.append(f"ref {r}")
        L.append(f"opts {tok} {int(blc)} {int(clc)}")
        L.append("bleu " + " ".join(repr(x) for x in [b.score, b.bp, b.ratio]) + " " +
                 " ".join(str(x) for x in [b.sys_len, b.ref_len] + list(b.counts) + list(b.totals)) +
                 " " + " ".join(repr(float(x)) for x in b.precisions))
        L.append(f"chrf {c.score!r}")
        L.append(f"text {bline}")
        L.append(f"text {cline}")
        L.append("end")
        # the command line must agree with the API as called here
        if cli_checked < 3 or tok != "13a" or blc or clc or name.startswith("sys-"):
            resolve = lambda sp: sp.replace("$DATA", DATA) if sp.startswith("$DATA") else os.path.join(ROOT, sp)
            cmd = [os.path.join(os.path.dirname(sys.executable), "sacrebleu"),
                   *[resolve(r) for r in ref_specs], "-i", resolve(hyp_spec), "-m", "bleu", "chrf",
                   "-f", "text", "-w", "2", "-tok", tok] + (["-lc"] if blc else []) + \
                (["--chrf-lowercase"] if clc else [])
            got = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            got = [x.strip() for x in got.splitlines()]
            assert got == [bline, cline], (name, got, bline, cline)
            cli_checked += 1
        print(f"{name:32s} {bline.split(' = ')[1][:6]}  chrF {c.score:.2f}")
    with open(os.path.join(OUT, "cases.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")

    # sentence-level scores (effective order on, as sacrebleu.sentence_bleu)
    S = ["# GENERATED by tools/bleu_fixtures.py: sentence BLEU and chrF per line,",
         "# sacrebleu.sentence_bleu / sentence_chrf defaults. Each block:",
         "# sentences HYP REF... then one line per sentence: BLEU chrF (Python reprs)."]
    for hyp_spec, ref_specs, hyps, refs, n in (
            (spec_out("nt14-perturbed.fr"), [spec_data("test/newstest2014.fr")],
             read_lines(os.path.join(OUT, "nt14-perturbed.fr")), [nt14], 400),
            (spec_out("tatoeba-hyp.fr"), [spec_out("tatoeba-ref-a.fr"), spec_out("tatoeba-ref-b.fr")],
             read_lines(os.path.join(OUT, "tatoeba-hyp.fr")), [ra, rb], 400),
            (spec_out("tricky-hyp.txt"), [spec_out("tricky.txt")], t_hyp, [t_ref], len(t_hyp)),
            (spec_out("sys-m30k-2016.beam4.fr"), m16_ref, sys_m16_beam4, [m16], len(m16))):
        S.append("sentences " + " ".join([hyp_spec] + ref_specs) + f" {n}")
        for i in range(n):
            rr = [r[i] for r in refs]
            sb = sacrebleu.sentence_bleu(hyps[i], rr)
            sc = sacrebleu.sentence_chrf(hyps[i], rr)
            S.append(f"{sb.score!r} {sc.score!r}")
    with open(os.path.join(OUT, "sentences.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(S) + "\n")

    # sacreBLEU's own sentence-level output (-sl), for tests/t_bleu_cli.sh
    exe = os.path.join(os.path.dirname(sys.executable), "sacrebleu")
    for out, refs_, hyp_, metric in (
            ("sl-tatoeba3.bleu", [f"tatoeba3-ref-{k}.fr" for k in range(3)], "tatoeba3-hyp.fr", "bleu"),
            ("sl-tatoeba3.chrf", [f"tatoeba3-ref-{k}.fr" for k in range(3)], "tatoeba3-hyp.fr", "chrf"),
            ("sl-tricky.bleu", ["tricky.txt"], "tricky-hyp.txt", "bleu")):
        got = subprocess.run([exe, *[os.path.join(OUT, r) for r in refs_], "-i", os.path.join(OUT, hyp_),
                              "-sl", "-m", metric, "-w", "2", "-f", "text"],
                             capture_output=True, text=True, check=True).stdout
        with open(os.path.join(OUT, out), "w", encoding="utf-8") as f:
            f.write(got)
    print("wrote", OUT)


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("unicode", "fixtures"):
        sys.exit(__doc__)
    if sys.argv[1] == "unicode":
        cmd_unicode()
    else:
        cmd_fixtures()


if __name__ == "__main__":
    main()
