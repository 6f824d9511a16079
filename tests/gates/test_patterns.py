"""Both translations of RE2 patterns agree with RE2 itself, text by text.

The typescript target writes patterns as JavaScript RegExp; the prover turns
them into automata. Either one drifting from RE2 would make a generated
decision or a proof wrong, so each is compared with RE2's search on a corpus
of texts: hand-picked traps, seeded random texts, and strings the automaton
itself accepts.
"""

from __future__ import annotations

import contextlib
import random
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routegate import _re2
from routegate._re2syntax import Untranslatable, parse
from routegate.gen._jsregex import to_javascript
from routegate.proof import _automata, _budget, _dfa, _samples

from .conftest import TypeScriptRun

PATTERNS = [
    "^claude",
    "^(sonnet|opus|haiku)$",
    "(?i)^minimax-m",
    "(?i)^(mimo-|xiaomi[:/])",
    "^moonshot[:/-]",
    "a.c",
    "^a.c$",
    "x*y+z?",
    "^(ab){2,3}$",
    "^a{2}b{1,}c{0,1}$",
    "a*?b",
    "[^a-c]",
    "(?i)[^k]",
    "(?i)k",
    "(?i)s$",
    r"\d+\.\d",
    r"\w-\W",
    r"\s",
    r"\S$",
    "[[:alpha:]][[:^digit:]]",
    "(?i)[[:lower:]]{2}",
    r"\x41\x{212A}",
    r"\Q.*\E",
    "ab|^cd|ef$",
    "(?:a|b)(?P<n>c)",
    r"\.tail$",
    r"[\-\]]",
    "[]a]",
    "^$",
    "é+",
    r"[^\x00-\x{7f}]",
    r"(?i)\w",
    r"(?i)\W",
    r"(?i)[^\d]",
    r"\Aab\z",
    r"[\W\d]x",
    "(?i)K",
    r"\x{17F}",
    "(?i)[a-c]{2,}",
    r"[\t ]",
    r"\v",
    "[[:space:]]",
    "[[:punct:]]+",
    "(ab|a)(bc|c)$",
]
# Anchors anywhere, not only at the ends of a branch: the prover models ^ and $ as conditions on position.
ANCHORS_INSIDE = [r"^(a$|b)", "a^b", "(?:^ab)|(?:^cd)", "(a|^b)c", "(a$)|b", "x($|y)", "(?:^|/)k$", "^(^a)$"]
JS_ONLY = [r"\bfoo", r"foo\B", r"^\bk"]  # word boundaries: the generator handles them, the prover does not
TRAPS = [
    "",
    "claude-3",
    "xclaude",
    "sonnet",
    "sonnet ",
    "Sonnet",
    "MiniMax-M2",
    "MINIMAX-m",
    "miniMax-\u212a",
    "xiaomi/",
    "mimo-v",
    "moonshot-",
    "abc",
    "a\nc",
    "a\u2028c",
    "a\rc",
    "a\u2029c",
    "a😀c",
    "yyz",
    "abab",
    "ababab",
    "aabcc",
    "aab",
    "d",
    "K",
    "k",
    "\u212a",
    "s",
    "S",
    "\u017f",
    "ſ",
    "İ",
    "ı",
    "12.3",
    "a-b",
    "a-!",
    " ",
    "\t",
    "\u00a0",
    "\u000b",
    "x\u000b",
    ".*",
    "a.*b",
    "cdx",
    "xef",
    "ac",
    "bc",
    "é",
    "éé",
    "日本",
    "_",
    "x_x",
    "Ab\u212a",
    "a\u212a",
    "foo",
    "xfoo",
    "foobar",
    "fooBar",
    "foo-",
    "-k",
    "k-",
    "tail.tail",
    "a.tail",
    "]",
    "-",
    "AK",
    "A\u212a",
    "ab",
    "abc",
    "abcab",
]


def texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "abcABCkKsSxyz019-._/:é日 \t\n\r\u2028\u00a0\u212a\u017f😀"
    return TRAPS + ["".join(rng.choices(alphabet, k=rng.randint(0, 7))) for _ in range(count)]


def re2_answers(patterns: list[str], corpus: list[str]) -> list[list[bool]]:
    return [[bool(_re2.compile(p).search(t)) for t in corpus] for p in patterns]


def test_javascript_regexp_matches_exactly_what_re2_matches(typescript: TypeScriptRun) -> None:
    patterns = PATTERNS + JS_ONLY
    corpus = texts(seed=5, count=1500)
    translated = [list(to_javascript(p)) for p in patterns]
    got = typescript.run(None, {"regex": {"patterns": translated, "texts": corpus}})["regex"]
    want = re2_answers(patterns, corpus)
    wrong = [
        (pattern, source, text, expected)
        for pattern, (source, _), row_got, row_want in zip(patterns, translated, got, want, strict=True)
        for text, actual, expected in zip(corpus, row_got, row_want, strict=True)
        if actual != expected
    ]
    assert not wrong, f"{len(wrong)} disagreements, first: {wrong[:5]}"


def unbounded(what: str) -> _budget.Meter:
    """A meter no test's automaton runs out of."""
    return _budget.Ledger(_budget.Budget(states=10**9, seconds=10**6), 1).meter(what)


def automaton(pattern: str) -> _dfa.Automaton:
    """The prover's automaton of ``pattern``, checked against RE2 as the prover checks it."""
    return _automata.Automata().pattern(pattern, unbounded(pattern))


def own_samples(fsm: _dfa.Automaton, count: int, seed: int) -> list[str]:
    return _samples.samples(fsm, count, unbounded("samples"), seed=seed)


def test_prover_automata_accept_exactly_what_re2_finds() -> None:
    corpus = texts(seed=6, count=1500)
    for pattern in PATTERNS + ANCHORS_INSIDE:
        fsm = automaton(pattern)
        compiled = _re2.compile(pattern)
        own = own_samples(fsm, 40, seed=3)
        for text in corpus + own:
            assert fsm.accepts(text, unbounded(text)) == bool(compiled.search(text)), (pattern, text)


@pytest.mark.parametrize("pattern", [r"\bfoo", r"(?s)a.b", r"\pL", r"x\By", r"(?i)^é"])
def test_the_prover_refuses_what_it_cannot_model(pattern: str) -> None:
    with pytest.raises(_automata.BeyondProver):
        automaton(pattern)


def test_the_parser_names_the_construct_it_refuses() -> None:
    with pytest.raises(Untranslatable) as raised:
        parse(r"ab(?=c)")
    assert raised.value.construct.startswith("flag group")
    with pytest.raises(Untranslatable, match="escape it as"):
        parse("x{a}")


_ATOMS = [
    "a",
    "b",
    "k",
    "K",
    "s",
    "-",
    "/",
    ".",
    r"\.",
    "[a-c]",
    "[^a]",
    r"[^\d]",
    r"\d",
    r"\w",
    r"\W",
    r"\s",
    r"\S",
    "[[:alpha:]]",
    "[[:^digit:]]",
    "(?:a|bb)",
    "(a|^b)",
    "x{2}",
    "é",
    r"\x{212A}",
    "ſ",
    "[k-m]",
    r"[\-.]",
    r"\Q+\E",
]
_QUANTIFIERS = ["", "", "", "*", "+", "?", "{1,2}", "{2,}", "*?"]


def random_patterns(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    found: list[str] = []
    while len(found) < count:

        def concat() -> str:
            return "".join(rng.choice(_ATOMS) + rng.choice(_QUANTIFIERS) for _ in range(rng.randint(1, 4)))

        pattern = rng.choice(["", "(?i)"]) + rng.choice(["", "^"]) + concat()
        if rng.random() < 0.3:
            pattern += "|" + concat()
        pattern += rng.choice(["", "$"])
        if _re2.compile_error(pattern) is None:
            found.append(pattern)
    return found


def short_texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "abkKsSxm-/.1 _Zé\u212aſ+"
    return TRAPS + ["".join(rng.choices(alphabet, k=rng.randint(0, 6))) for _ in range(count)]


def test_random_patterns_translate_to_javascript_faithfully_or_not_at_all(typescript: TypeScriptRun) -> None:
    patterns, translated = [], []
    for pattern in random_patterns(seed=41, count=400):
        try:
            translated.append(list(to_javascript(pattern)))
        except Untranslatable:
            continue
        patterns.append(pattern)
    assert len(patterns) > 250  # the subset covers most of what the generator writes
    corpus = short_texts(seed=42, count=400)
    got = typescript.run(None, {"regex": {"patterns": translated, "texts": corpus}})["regex"]
    want = re2_answers(patterns, corpus)
    wrong = [
        (pattern, source, text)
        for pattern, (source, _), row_got, row_want in zip(patterns, translated, got, want, strict=True)
        for text, actual, expected in zip(corpus, row_got, row_want, strict=True)
        if actual != expected
    ]
    assert not wrong, f"{len(wrong)} disagreements, first: {wrong[:5]}"


def test_random_patterns_become_automata_that_agree_with_re2_or_are_refused() -> None:
    corpus = short_texts(seed=43, count=300)
    modelled = 0
    for pattern in random_patterns(seed=44, count=250):
        try:
            fsm = automaton(pattern)
        except _budget.NotProven:
            continue
        modelled += 1
        compiled = _re2.compile(pattern)
        for text in corpus + own_samples(fsm, 10, seed=1):
            assert fsm.accepts(text, unbounded(text)) == bool(compiled.search(text)), (pattern, text)
    assert modelled > 150


_TOKENS = [*"ab^$.*+?()[]{}|\\:-,1x", r"\d", r"\W", "[a-z]", "[^", "(?i)", "(?:", "(?P<n>", "{1,2}", "{2,}"]
_TOKENS += [r"\x{212A}", r"\x41", "[[:alpha:]]", "[[:^space:]", r"\Q", r"\E", r"\b", r"\A", r"\z", r"\pL", "é"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=10).map("".join))
def test_the_parser_ends_on_any_text_with_a_tree_or_a_refusal(pattern: str) -> None:
    signal.alarm(5)  # a parser that stops advancing would hang here; fail instead
    try:
        try:
            regex = parse(pattern)
        except Untranslatable:
            return
        if _re2.compile_error(pattern) is not None:
            return  # consumers only ever see patterns RE2 accepted at load time
        # Such a pattern is expressed, or refused, by both consumers: never a crash.
        for translate in (to_javascript, automaton):
            with contextlib.suppress(Untranslatable, _budget.NotProven):
                translate(regex.source)
    finally:
        signal.alarm(0)


def test_assertions_are_a_closed_set_of_kinds() -> None:
    from routegate._re2syntax import Assert, AssertKind, Concat

    root = parse(r"^a\bb\Bc$").root
    assert isinstance(root, Concat)
    kinds = [item.kind for item in root.items if isinstance(item, Assert)]
    assert kinds == [AssertKind.BEGIN, AssertKind.WORD_BOUNDARY, AssertKind.NOT_WORD_BOUNDARY, AssertKind.END]
    assert parse(r"\Aa\z").root == Concat((Assert(AssertKind.BEGIN), parse("a").root, Assert(AssertKind.END)))
