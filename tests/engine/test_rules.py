"""Every heuristic rule against hand-made texts that pass and fail it, and the bad inputs that
must give a value or "not applicable" (never an exception)."""
from __future__ import annotations

import math

import pytest

from engine import gopher, line_rules
from engine.rules import check_text

GOOD = ("The river town grew around a small harbour that traded grain and timber with the coast.\n"
        "In the winter months the fishermen repaired their boats and sold salted cod at the market.\n"
        "A stone bridge, built with money from the guild, replaced the old ferry in the last century.\n"
        "Visitors still walk to the lighthouse to watch the ships that have come in with the tide.\n"
        "The local school teaches the history of the port to every child who grows up there.\n"
        "Most families have lived in the valley for generations and know each other well.")
SETS = {"quality": (gopher.quality_measures, gopher.QUALITY_RULES),
        "repetition": (gopher.repetition_measures, gopher.REPETITION_RULES),
        "c4": (line_rules.c4_measures, line_rules.C4_RULES),
        "fineweb": (line_rules.fineweb_measures, line_rules.FINEWEB_RULES)}
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def failed(text, which):
    measure, rules = SETS[which]
    return check_text(text, measure, rules)[4]


def unique_words(n):  # n distinct words: no repeated n-gram, no stop word
    return [f"{WORDS[i % 16]}{i // 16}" for i in range(n)]


@pytest.mark.parametrize("which", list(SETS))
def test_an_ordinary_paragraph_passes_every_rule(which):
    assert failed(GOOD, which) == []
    value, _, label, reason, _, _ = check_text(GOOD, *SETS[which])
    assert value == 1.0 and label == "" and reason == ""


FAILS = [  # (rule, text that fails it)
    ("gopher_min_words", "The cat sat with the dog."),
    ("gopher_max_words", " ".join(["the and"] * 60_000)),
    ("gopher_min_mean_word_length", GOOD.replace("the ", "a b c d e f g h i j k l m n o p ")),
    ("gopher_max_mean_word_length", " ".join(["the and"] + ["extraordinarilylongwordings"] * 60)),
    ("gopher_hash_ratio", GOOD + " #tag" * 40),
    ("gopher_ellipsis_ratio", GOOD + " more..." * 40),
    ("gopher_bullet_lines", "\n".join("- " + line for line in GOOD.split("\n"))),
    ("gopher_ellipsis_lines", GOOD.replace(".\n", "...\n")),
    ("gopher_alpha_words", GOOD + " 12 34 56 78" * 40),
    ("gopher_stop_words", " ".join(unique_words(80)) + "."),
    ("gopher_dup_para_frac", "\n\n".join([GOOD, "Short para.", "Short para.", "Short para."])),
    ("gopher_dup_para_chars", GOOD + "\n\n" + GOOD),
    ("gopher_dup_line_frac", GOOD + "\nok\nok\nok\nok\nok\nok\nok"),
    ("gopher_dup_line_chars", GOOD + "\n" + GOOD.split("\n")[0] * 1 + "\n" + "\n".join(GOOD.split("\n")[:3])),
    ("gopher_top_2gram", "cookies cookies we use cookies " * 30),
    ("gopher_top_3gram", " ".join(unique_words(60)) + " one two three" * 12),
    ("gopher_top_4gram", " ".join(unique_words(60)) + " one two three four" * 9),
    ("gopher_dup_5gram", " ".join(unique_words(100)) + " " + " ".join(unique_words(25))),
    ("gopher_dup_10gram", " ".join(unique_words(150)) + " " + " ".join(unique_words(20))),
    ("c4_min_sentences", "Buy now\nClick here\nfree shipping today"),
    ("c4_lorem_ipsum", GOOD + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."),
    ("c4_curly_bracket", GOOD + "\nfunction f() { return 1; }"),
    ("fineweb_line_punct", "\n".join(line.rstrip(".") for line in GOOD.split("\n"))),
    ("fineweb_short_lines", GOOD + "\n" + "\n".join(f"item {w}" for w in WORDS)),
    ("fineweb_dup_line_chars", GOOD + "\n" + GOOD.split("\n")[0]),
    ("fineweb_newline_ratio", "\n".join(f"{w} one." for w in unique_words(40))),
]
_SET_OF = {r.name: k for k, (_, rules) in SETS.items() for r in rules}


@pytest.mark.parametrize("rule,text", FAILS, ids=[r for r, _ in FAILS])
def test_each_rule_fails_its_bad_text(rule, text):
    assert rule in failed(text, _SET_OF[rule])


def test_every_rule_has_a_failing_text():
    tested = {r for r, _ in FAILS}
    untested = set(_SET_OF) - tested - {f"gopher_dup_{n}gram" for n in range(6, 10)}  # same code as 5 and 10
    assert not untested


def test_the_demo_junk_fails_a_named_rule_with_a_reason():
    _, _, label, reason, _, _ = check_text("cookies cookies we use cookies " * 30, *SETS["repetition"])
    assert label == "gopher_top_2gram" and reason.startswith("top 2-gram covers") and "% of characters" in reason
    _, _, label, reason, _, _ = check_text("a" * 400, *SETS["quality"])
    assert label == "gopher_min_words" and reason == "1 words (needs at least 50)"


BAD = ["", "   \n\t ", "x" * 50_000_000, "这是一个中文句子。" * 30, "Hello world. Привет мир. 你好世界。" * 10,
       bytes(range(256)).decode("latin-1") * 20, "\x00" * 1000]


@pytest.mark.parametrize("which", list(SETS))
def test_bad_input_gives_a_value_or_not_applicable(which):
    for text in BAD:
        value, truncated, label, reason, _, _ = check_text(text, *SETS[which])
        assert (0 <= value <= 1) or (math.isnan(value) and reason.startswith("not applicable"))
        assert truncated == (len(text) > 200_000)


def _reference_top(words, n):  # datatrove's find_top_duplicate, on joined strings
    from collections import Counter

    grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def _reference_dup(words, n):  # datatrove's find_all_duplicate
    seen, chars, i = set(), 0, 0
    while i < len(words) - n + 1:
        gram = "".join(words[i:i + n])
        if gram in seen:
            chars, i = chars + len(gram), i + n
        else:
            seen.add(gram)
            i += 1
    return chars


@pytest.mark.parametrize("text", [GOOD, "cookies cookies we use cookies " * 30, "a b a b c a b " * 20,
                                  " ".join(unique_words(100)) + " " + " ".join(unique_words(25))])
def test_vectorised_ngram_measures_equal_the_reference_loops(text):
    from engine.rules import tokens

    words, got = tokens(text), gopher.repetition_measures(text)
    for n in (2, 3, 4):
        assert got[f"top_{n}gram"] == pytest.approx(min(1.0, _reference_top(words, n) / len(text)))
    for n in range(5, 11):
        assert got[f"dup_{n}gram"] == pytest.approx(_reference_dup(words, n) / len(text))
