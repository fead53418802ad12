#!/usr/bin/python3
"""Generates pretokenize_expected.inc: expected pre-tokenizer splits, computed independently of
the C++ engine.

Each pre-tokenizer is written here the way its tokenizer.json states it (a Sequence of
Split / ByteLevel / Digits / Punctuation steps with Hugging Face semantics), not as the C++
table's list of patterns: Digits and Punctuation are predicate splits over unicodedata
categories, ByteLevel maps bytes with GPT-2's byte-to-unicode table built here, and Split
patterns run on the `regex` module (Debian: python3-regex), which has \\p{..}, scoped (?i:)
and, in its V1 mode, Oniguruma-style nested classes. \\s is spelled \\p{White_Space}, which is
what Oniguruma's \\s means for Unicode text.

Only needed to regenerate the file:
  /usr/bin/python3 tests/tokenizer/gen_pretokenize_expected.py > tests/tokenizer/pretokenize_expected.inc
"""
import string
import sys
import unicodedata

import regex

WS = r"\p{White_Space}"


def pat(p):
    # \s and \S as Unicode White_Space (outside and inside classes).
    return p.replace(r"\s", WS).replace(r"\S", r"\P{White_Space}")


# ---- GPT-2's byte <-> unicode map, written from its description: printable Latin-1 bytes map
# to themselves, the other 68 bytes to U+0100.. in byte order.
def byte_map():
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    m, n = {}, 0
    for b in range(256):
        if b in keep:
            m[b] = chr(b)
        else:
            m[b] = chr(256 + n)
            n += 1
    return m


B2U = byte_map()
U2B = {v: k for k, v in B2U.items()}

# A piece is (text, mapped): text is a str before the ByteLevel step and a str of byte images
# after it.


def split_regex(pieces, pattern, v1=False):
    rx = regex.compile(("(?V1)" if v1 else "") + pat(pattern))
    out = []
    for s in pieces:
        last = 0
        for m in rx.finditer(s):
            if m.start() == m.end():
                continue
            if m.start() > last:
                out.append(s[last:m.start()])
            out.append(m.group(0))
            last = m.end()
        if last < len(s):
            out.append(s[last:])
    return out


def split_pred(pieces, pred, contiguous):
    out = []
    for s in pieces:
        cur = ""
        run = ""
        for ch in s:
            if pred(ch):
                if cur:
                    out.append(cur)
                    cur = ""
                if contiguous:
                    run += ch
                else:
                    out.append(ch)
            else:
                if run:
                    out.append(run)
                    run = ""
                cur += ch
        if run:
            out.append(run)
        if cur:
            out.append(cur)
    return out


def is_numeric(ch):  # Rust char::is_numeric: Nd, Nl, No
    return unicodedata.category(ch)[0] == "N"


def is_punct(ch):  # tokenizers' is_punctuation: ASCII punctuation or Unicode P*
    return ch in string.punctuation or unicodedata.category(ch)[0] == "P"


GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def byte_level(pieces, use_regex):
    if use_regex:
        pieces = split_regex(pieces, GPT2_RE)
    return ["".join(B2U[b] for b in s.encode("utf-8")) for s in pieces]


def Split(p, v1=False):
    return lambda ps: split_regex(ps, p, v1)


def ByteLevel(use_regex):
    return lambda ps: byte_level(ps, use_regex)


def Digits(individual):
    return lambda ps: split_pred(ps, is_numeric, contiguous=not individual)


def Punctuation():
    return lambda ps: split_pred(ps, is_punct, contiguous=True)


LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
TEKKEN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
          r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
          r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
O200K = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
         r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
         r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
         r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
         r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
BLOOM = r" ?[^(\s|[.,!?…。，、।۔،])]+"
# deepseek-llm's letter class; the tokenizer.json spells it with literal chars, some of which
# (U+1FD3, U+2126, U+212A, ...) do not survive Unicode normalization of copied text, so it is
# kept as code point ranges (the same list the shared deepseek-llm vectors confirm).
DEEPSEEK_LETTER_RANGES = [
    (0x41, 0x5A), (0x61, 0x7A), (0xB5, 0xB5), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x1BA),
    (0x1BC, 0x1BF), (0x1C4, 0x293), (0x295, 0x2AF), (0x370, 0x373), (0x376, 0x377),
    (0x37B, 0x37D), (0x37F, 0x37F), (0x386, 0x386), (0x388, 0x38A), (0x38C, 0x38C),
    (0x38E, 0x3A1), (0x3A3, 0x3F5), (0x3F7, 0x481), (0x48A, 0x52F), (0x531, 0x556),
    (0x10A0, 0x10C5), (0x13A0, 0x13F5), (0x13F8, 0x13FD), (0x1C90, 0x1CBA), (0x1CBD, 0x1CBF),
    (0x1D00, 0x1D2B), (0x1D6B, 0x1D77), (0x1D79, 0x1D9A), (0x1E00, 0x1F15), (0x1F18, 0x1F1D),
    (0x1F20, 0x1F45), (0x1F48, 0x1F4D), (0x1F50, 0x1F57), (0x1F59, 0x1F59), (0x1F5B, 0x1F5B),
    (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC), (0x1FBE, 0x1FBE),
    (0x1FC2, 0x1FC4), (0x1FC6, 0x1FCC), (0x1FD0, 0x1FD3), (0x1FD6, 0x1FDB), (0x1FE0, 0x1FEC),
    (0x1FF2, 0x1FF4), (0x1FF6, 0x1FFC), (0x2102, 0x2102), (0x2107, 0x2107), (0x210A, 0x2113),
    (0x2115, 0x2115), (0x2119, 0x211D), (0x2124, 0x2124), (0x2126, 0x2126), (0x2128, 0x2128),
    (0x212A, 0x212D), (0x212F, 0x2134), (0x2139, 0x2139), (0x213C, 0x213F), (0x2145, 0x2149),
    (0x214E, 0x214E), (0x2183, 0x2184), (0x2C00, 0x2C7B), (0x2C7E, 0x2CE4), (0x2CEB, 0x2CEE),
    (0x2CF2, 0x2CF3), (0xA640, 0xA66D), (0xA680, 0xA69B), (0xA722, 0xA76F), (0xA771, 0xA787),
    (0xA78B, 0xA78E), (0xAB70, 0xABBF), (0xFB00, 0xFB06), (0xFB13, 0xFB17), (0xFF21, 0xFF3A),
    (0xFF41, 0xFF5A), (0x10400, 0x1044F), (0x104B0, 0x104D3), (0x104D8, 0x104FB),
    (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2), (0x118A0, 0x118DF), (0x1E900, 0x1E943),
]
DEEPSEEK_LETTERS = "[" + "".join(
    "\\U%08x-\\U%08x" % r for r in DEEPSEEK_LETTER_RANGES) + "]"
CJK = "[一-龥ࠀ-一가-퟿]+"

# name (tokenizer.ggml.pre) -> the model's pre_tokenizer Sequence.
PIPELINES = {
    "gpt-2": [ByteLevel(True)],
    "phi-2": [ByteLevel(True)],
    "mpt": [ByteLevel(True)],
    "olmo": [ByteLevel(True)],
    "jais": [ByteLevel(True)],
    "llama-bpe": [Split(LLAMA3), ByteLevel(False)],
    "dbrx": [Split(LLAMA3), ByteLevel(False)],
    "chatglm4": [Split(LLAMA3), ByteLevel(False)],
    "chatglm-bpe": [Split(LLAMA3), ByteLevel(False)],
    "qwen2": [Split(QWEN2), ByteLevel(False)],
    "stablelm2": [Split(QWEN2), ByteLevel(False)],
    "falcon": [Punctuation(), ByteLevel(True), Digits(False), Split("[0-9][0-9][0-9]")],
    "starcoder": [Digits(True), ByteLevel(True)],
    "refact": [Digits(True), ByteLevel(True)],
    "command-r": [Digits(True), ByteLevel(True)],
    "smollm": [Digits(True), ByteLevel(True)],
    "exaone": [Digits(True), ByteLevel(True)],
    "bloom": [Split(BLOOM, v1=True), ByteLevel(False)],
    "poro-chat": [Split(BLOOM, v1=True), ByteLevel(False)],
    "poro": [Split(BLOOM, v1=True), ByteLevel(False)],
    "viking": [Split(BLOOM, v1=True), Digits(True), ByteLevel(False)],
    "tekken": [Split(TEKKEN), ByteLevel(False)],
    "gpt-4o": [Split(O200K), ByteLevel(False)],
    "deepseek-llm": [Split(r"[\r\n]"), Split(r"\s?" + DEEPSEEK_LETTERS + "+"),
                     Split(r"\s?[!-/:-~！-／：-～‘-‟　-。]+"), Split(r"\s+$"), Split(CJK),
                     Digits(False), ByteLevel(False)],
    "deepseek-coder": [Split(r"[\r\n]"), Split(r"\s?\p{L}+"), Split(r"\s?\p{P}+"), Split(CJK),
                       Digits(True), ByteLevel(False)],
}

INPUTS = [
    "Hello world", " Hello World!", "Hello, world! How's it going?",
    "I'm here, you're there, we've been, she'll go, he'd say, it's, don't",
    "I'M HERE, YOU'RE, WE'VE, DON'T 'S 's", "it'ſ",
    "1", "12", "123", "1234", "12345", "1234567", " 1234567 ", "3.14159", "x=12345;",
    "a1b22c333d4444", "٣٤٥ ١٢", "½ ⅔ Ⅻ", "2²", "мир 999", "x²y",
    "我想在apple工作1314151天～", "中文，标点。", "한국어 문장", "日本語のテキスト、です。",
    "  leading", "trailing   ", "a  b   c", "a\tb", "\t\tx", "line1\nline2\n\nline3", "a \n b",
    "\r\n\r\n", " \n\n ", "x\n\n\n", "...", "!!!", "(parens) [brackets] {braces}", "a/b/c",
    "path/to/file.txt", "foo()\n", "#include <stdio.h>", "def f(x):\n    return x*2\n",
    "CamelCaseWord", "HTTPServer", "iPhone XR", "ÉCOLE école", "mixedUPPERlower",
    "нещо на Български", "Führer Cửa Việt", "emoji 🦙 🚀 test", "…。，、।۔،", "Hello… world。",
    "a|b(c)d", "\u00a0nbsp", "\u3000ideographic space", "e\u0301t\u0301", "ﬀ ligature",
    "$100 + 5% = <x> ^ ~ | `q`",
]


def run(name, text):
    pieces = [text]
    mapped = False
    for step in PIPELINES[name]:
        pieces = step(pieces)
    # Every pipeline ends mapped (a ByteLevel step); back to bytes.
    return [bytes(U2B[c] for c in p) for p in pieces]


def c_str(b):
    out = '"'
    for x in b:
        c = chr(x)
        if c == '"' or c == "\\":
            out += "\\" + c
        elif 0x20 <= x < 0x7F and c != "?":
            out += c
        else:
            out += "\\%03o" % x
    return out + '"'


def main():
    w = sys.stdout.write
    w("// GENERATED by gen_pretokenize_expected.py (regex %s, unicodedata %s); do not edit.\n"
      % (regex.__version__, unicodedata.unidata_version))
    w("// clang-format off\n")
    for name in PIPELINES:
        for text in INPUTS:
            pieces = run(name, text)
            assert b"".join(pieces) == text.encode("utf-8")
            # Pieces joined by \x1F (no input contains it): plain C strings keep this large
            # table cheap to compile.
            assert not any(b"\x1f" in p for p in pieces)
            w("{%s, %s, %s},\n" % (c_str(name.encode()), c_str(text.encode("utf-8")),
                                    c_str(b"\x1f".join(pieces))))


if __name__ == "__main__":
    main()
