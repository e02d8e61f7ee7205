"""BBH (VoiceBench's 1,000-item subset): read a yes/no or (A)/(B) answer per task; score accuracy.

Rule of VoiceBench's `src/evaluator/bbh.py` (MatthewCYM/VoiceBench, HEAD 5338154, last changed in
b3e5fd9, 2025-04-19). The task is found by name inside the item's `id` (checked in the order of
`BBH_TASKS`). The response is normalized (lowercased; a trailing `<|user|>` and a leading turn
marker `<1>`-`<3>` dropped; `<|turn_end|>` removed; `:`, `**`, `"`, `-`, `,`, `.` and `：` turned
into spaces; whitespace collapsed), then the task's rules are tried in order and the first that
holds gives the answer (1 = yes / (B), 0 = no / (A)). Navigate, web of lies and sports first try
the shared yes/no rules. When no rule holds, the official code guesses with an unseeded
`random.choice([0, 1])`; here the guess is seeded by the item (`fallback.seeded_choice`) and the
verdict says it was a guess.

The rule tables are the official phrase lists, verbatim and in order, as (kind, text, answer). They
keep the official quirks, which the published numbers were made with:
- hyperbaton: a response that is exactly "b" answers 0 (A), like "a";
- sports: "the sentence ... is not plausible" (the regex) answers 1 (plausible);
- web of lies: a response ending in "must be lying" answers 1 (tells the truth).
Two official entries that can never decide are left out: the sports phrase "i would say that it is
not a plausible sentence." (normalization has removed every ".") and the second copy of the sports
phrase "yes the sentence is plausible".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lslm_eval.scoring.fallback import seeded_choice

# How a rule's text is tested against the normalized response.
CONTAINS = "contains"
EQUALS = "equals"
SEARCH = "search"  # a regular expression, anywhere
STARTS = "startswith"
ENDS = "endswith"

BBH_TASKS = ("sports_understanding", "hyperbaton", "navigate", "web_of_lies")  # the official dispatch order
REFERENCE_LABELS = {"yes": 1, "no": 0, "(a)": 0, "(b)": 1}  # lowercased reference -> answer
ANSWERS = (0, 1)
TURN_MARKERS = ("<1>", "<2>", "<3>")
USER_TURN_SUFFIX = "<|user|>"
TURN_END = "<|turn_end|>"
SPACED_OUT = (":", "**", '"', "-", ",", ".", "：")  # each replaced by a space, in this order

# VoiceBench BBHEvaluator.extract_answer_yn: tried first for navigate, web of lies and sports.
YES_NO_RULES: tuple[tuple[str, str, int], ...] = (
    (CONTAINS, "answer is no", 0),
    (CONTAINS, "answer is yes", 1),
    (CONTAINS, "the answer no", 0),
    (CONTAINS, "the answer yes", 1),
    (CONTAINS, "final answer no", 0),
    (CONTAINS, "final answer yes", 1),
    (CONTAINS, "i would answer no", 0),
    (CONTAINS, "i would answer yes", 1),
    (CONTAINS, "the answer is without any modification no", 0),
    (CONTAINS, "the answer is without any modification yes", 1),
    (CONTAINS, "the answer to the question is no", 0),
    (CONTAINS, "the answer to the question is yes", 1),
    (CONTAINS, "the answer is false", 0),
    (CONTAINS, "the answer is true", 1),
    (CONTAINS, "answer false", 0),
    (CONTAINS, "answer true", 1),
    (CONTAINS, "the answer is $\\boxed{\\text{false}}$", 0),
    (CONTAINS, "the answer is $\\boxed{\\text{true}}$", 1),
    (CONTAINS, "the answer is \\boxed{no}", 0),
    (CONTAINS, "the answer is \\boxed{yes}", 1),
    (CONTAINS, "the answer is \\boxed{\\text{false}}", 0),
    (CONTAINS, "the answer is \\boxed{\\text{true}}", 1),
    (CONTAINS, "the answer is \\boxed{\\text{no}}", 0),
    (CONTAINS, "the answer is \\boxed{\\text{yes}}", 1),
    (CONTAINS, "i will provide the answer as no", 0),
    (CONTAINS, "i will provide the answer as yes", 1),
    (CONTAINS, "prefix answer no", 0),
    (CONTAINS, "prefix answer yes", 1),
    (CONTAINS, "conclusion no", 0),
    (CONTAINS, "conclusion yes", 1),
)

# VoiceBench BBHEvaluator.extract_answer_hyperbaton.
HYPERBATON_RULES: tuple[tuple[str, str, int], ...] = (
    (EQUALS, "a", 0),
    (EQUALS, "b", 0),
    (CONTAINS, "the answer is (a)", 0),
    (CONTAINS, "the answer is (b)", 1),
    (CONTAINS, "the correct adjective order is option (a)", 0),
    (CONTAINS, "the correct adjective order is option (b)", 1),
    (CONTAINS, "the correct grammatical order is a", 0),
    (CONTAINS, "the correct grammatical order is b", 1),
    (CONTAINS, "the correct sentence is option (a)", 0),
    (CONTAINS, "the correct sentence is option (b)", 1),
    (CONTAINS, "the sentence with the correct adjectives is a", 0),
    (CONTAINS, "the sentence with the correct adjectives is b", 1),
    (CONTAINS, "correct adjective order options is a", 0),
    (CONTAINS, "correct adjective order options is b", 1),
    (CONTAINS, "the correct answer is (a)", 0),
    (CONTAINS, "the correct answer is (b)", 1),
    (CONTAINS, "the correct option is (a)", 0),
    (CONTAINS, "the correct option is (b)", 1),
    (CONTAINS, "the correct order of adjectives in the sentence is option a", 0),
    (CONTAINS, "the correct order of adjectives in the sentence is option b", 1),
    (CONTAINS, "the correct sentence would be option (a)", 0),
    (CONTAINS, "the correct sentence would be option (b)", 1),
    (CONTAINS, "the correct sentence is (a)", 0),
    (CONTAINS, "the correct sentence is (b)", 1),
    (CONTAINS, "the proper adjective order is a", 0),
    (CONTAINS, "the proper adjective order is b", 1),
    (CONTAINS, "the correct adjective order is (a)", 0),
    (CONTAINS, "the correct adjective order is (b)", 1),
    (CONTAINS, "correct adjective order is a", 0),
    (CONTAINS, "correct adjective order is b", 1),
    (CONTAINS, "the adjectives in option a are in the correct order", 0),
    (CONTAINS, "the adjectives in option b are in the correct order", 1),
    (CONTAINS, "the right adjective order is a)", 0),
    (CONTAINS, "the right adjective order is b)", 1),
    (CONTAINS, "the correct adjectivs is (a)", 0),
    (CONTAINS, "the correct adjectivs is (b)", 1),
    (CONTAINS, "the right adjective order is (a)", 0),
    (CONTAINS, "the right adjective order is (b)", 1),
    (CONTAINS, "correct adjectival order is a", 0),
    (CONTAINS, "correct adjectival order is b", 1),
    (CONTAINS, "the proper adjective order is (a)", 0),
    (CONTAINS, "the proper adjective order is (b)", 1),
    (CONTAINS, "the correct sentence order is a", 0),
    (CONTAINS, "the correct sentence order is b", 1),
    (CONTAINS, "option a correctly follows the standard adjective order", 0),
    (CONTAINS, "option b correctly follows the standard adjective order", 1),
    (CONTAINS, "the answer directly is a", 0),
    (CONTAINS, "the answer directly is b", 1),
    (CONTAINS, "the correct order would be option a", 0),
    (CONTAINS, "the correct order would be option b", 1),
    (CONTAINS, "final answer should be a", 0),
    (CONTAINS, "final answer should be b", 1),
    (CONTAINS, "final answer a", 0),
    (CONTAINS, "final answer b", 1),
    (CONTAINS, "option (a) uses the correct adjective sequence", 0),
    (CONTAINS, "option (b) uses the correct adjective sequence", 1),
    (CONTAINS, "the correct option is option a", 0),
    (CONTAINS, "the correct option is option b", 1),
    (CONTAINS, "the answer is without any modification a", 0),
    (CONTAINS, "the answer is without any modification b", 1),
    (CONTAINS, "the correct one is option a", 0),
    (CONTAINS, "the correct one is option b", 1),
    (CONTAINS, "answer is without any modification a", 0),
    (CONTAINS, "answer is without any modification b", 1),
    (CONTAINS, "the answer is without any modification option a", 0),
    (CONTAINS, "the answer is without any modification option b", 1),
    (CONTAINS, "answer is a", 0),
    (CONTAINS, "answer is b", 1),
    (CONTAINS, "the answer is [a]", 0),
    (CONTAINS, "the answer is [b]", 1),
    (CONTAINS, "option a follows the correct adjective order", 0),
    (CONTAINS, "option b follows the correct adjective order", 1),
    (CONTAINS, "the correct order of adjectives is a", 0),
    (CONTAINS, "the correct order of adjectives is b", 1),
    (CONTAINS, "option (a) is the correct answer", 0),
    (CONTAINS, "option (b) is the correct answer", 1),
    (CONTAINS, "the correct order is a", 0),
    (CONTAINS, "the correct order is b", 1),
    (CONTAINS, "the correct object order is a", 0),
    (CONTAINS, "the correct object order is b", 1),
    (CONTAINS, "the correct answer order is a", 0),
    (CONTAINS, "the correct answer order is b", 1),
    (CONTAINS, "the final answer without any modification is a", 0),
    (CONTAINS, "the final answer without any modification is b", 1),
    (CONTAINS, "the correct sentence is a", 0),
    (CONTAINS, "the correct sentence is b", 1),
    (CONTAINS, "correct adjective order option is a", 0),
    (CONTAINS, "correct adjective order option is b", 1),
    (CONTAINS, "correct adjective order is sentence a", 0),
    (CONTAINS, "correct adjective order is sentence b", 1),
    (CONTAINS, "correct objective order option is a", 0),
    (CONTAINS, "correct objective order option is b", 1),
    (CONTAINS, "the answer is is a", 0),
    (CONTAINS, "the answer is is b", 1),
    (CONTAINS, "the correct adjective order is option a", 0),
    (CONTAINS, "the correct adjective order is option b", 1),
    (CONTAINS, "the correct adjective order is provided in option a", 0),
    (CONTAINS, "the correct adjective order is provided in option b", 1),
    (CONTAINS, "option a is more accurate", 0),
    (CONTAINS, "option b is more accurate", 1),
    (CONTAINS, "answer is option a", 0),
    (CONTAINS, "answer is option b", 1),
    (CONTAINS, "option a has the adjectives in the correct order", 0),
    (CONTAINS, "option b has the adjectives in the correct order", 1),
    (CONTAINS, "option a is closer to being correct", 0),
    (CONTAINS, "option b is closer to being correct", 1),
    (CONTAINS, "the most logical order is option a", 0),
    (CONTAINS, "the most logical order is option b", 1),
    (CONTAINS, "in option a the adjectives are in the correct order", 0),
    (CONTAINS, "in option b the adjectives are in the correct order", 1),
    (CONTAINS, "sentence a is the closest to the correct adjective order", 0),
    (CONTAINS, "sentence b is the closest to the correct adjective order", 1),
    (CONTAINS, "option a has the correct order", 0),
    (CONTAINS, "option b has the correct order", 1),
    (CONTAINS, "sentence a has a more logical", 0),
    (CONTAINS, "sentence b has a more logical", 1),
    (CONTAINS, "the closest correct order is option a", 0),
    (CONTAINS, "the closest correct order is option b", 1),
    (CONTAINS, "sentence a has the correct adjective order", 0),
    (CONTAINS, "sentence b has the correct adjective order", 1),
    (CONTAINS, "option a is the closest to the typical order", 0),
    (CONTAINS, "option b is the closest to the typical order", 1),
    (CONTAINS, "the correct answer would be option a", 0),
    (CONTAINS, "the correct answer would be option b", 1),
    (CONTAINS, "the correct option is a", 0),
    (CONTAINS, "the correct option is b", 1),
    (CONTAINS, "option a has a better adjective order", 0),
    (CONTAINS, "option b has a better adjective order", 1),
    (CONTAINS, "option a has the correct adjective order", 0),
    (CONTAINS, "option b has the correct adjective order", 1),
    (CONTAINS, "option a seems to follow the typical order", 0),
    (CONTAINS, "option b seems to follow the typical order", 1),
    (CONTAINS, "the correct order is found in option a", 0),
    (CONTAINS, "the correct order is found in option b", 1),
    (CONTAINS, "the correct adjective order is in the first option", 0),
    (CONTAINS, "the correct adjective order is in the second option", 1),
    (CONTAINS, "the correct adverb order would be a", 0),
    (CONTAINS, "the correct adverb order would be b", 1),
    (CONTAINS, "the correct answer would be the a", 0),
    (CONTAINS, "the correct answer would be the b", 1),
    (CONTAINS, "the correct adjective order is in option a", 0),
    (CONTAINS, "the correct adjective order is in option b", 1),
    (CONTAINS, "the correct adjective order is in sentence a", 0),
    (CONTAINS, "the correct adjective order is in sentence b", 1),
    (CONTAINS, "the adjectives are in the correct order for a", 0),
    (CONTAINS, "the adjectives are in the correct order for b", 1),
    (CONTAINS, "the answer is [option a]", 0),
    (CONTAINS, "the answer is [option b]", 1),
    (CONTAINS, "option (a) has a correct adjective order", 0),
    (CONTAINS, "option (b) has a correct adjective order", 1),
    (CONTAINS, "the correct sentence would be a", 0),
    (CONTAINS, "the correct sentence would be b", 1),
    (CONTAINS, "option a follows the correct sequence of adjectives", 0),
    (CONTAINS, "option b follows the correct sequence of adjectives", 1),
    (CONTAINS, "option a would be closer to the correct order", 0),
    (CONTAINS, "option b would be closer to the correct order", 1),
    (CONTAINS, "the correct sentence with the adjective order is a", 0),
    (CONTAINS, "the correct sentence with the adjective order is b", 1),
    (CONTAINS, "option a is more grammatically correct", 0),
    (CONTAINS, "option b is more grammatically correct", 1),
    (CONTAINS, "option a would be more correct", 0),
    (CONTAINS, "option b would be more correct", 1),
    (CONTAINS, "option a is incorrect and option b is correct", 1),
    (CONTAINS, "option a is the closest match", 0),
    (CONTAINS, "option b is the closest match", 1),
    (CONTAINS, "option b follows the typical order of adjectives", 1),
    (CONTAINS, "the correct sentence with the adjective order is option a", 0),
    (CONTAINS, "the correct sentence with the adjective order is option b", 1),
    (CONTAINS, "the correct sentence is option a", 0),
    (CONTAINS, "the correct sentence is option b", 1),
    (CONTAINS, "the correct objective order is in option a", 0),
    (CONTAINS, "the correct objective order is in option b", 1),
    (CONTAINS, "the answer is option (a)", 0),
    (CONTAINS, "the answer is option (b)", 1),
    (CONTAINS, "the correct option would be (a)", 0),
    (CONTAINS, "the correct option would be (b)", 1),
    (CONTAINS, "the correct order is in option a", 0),
    (CONTAINS, "the correct order is in option b", 1),
    (CONTAINS, "the correct adjective order is found in option a", 0),
    (CONTAINS, "the correct adjective order is found in option b", 1),
    (CONTAINS, "option (a) follows the typical order of adjectives", 0),
    (CONTAINS, "option (b) follows the typical order of adjectives", 1),
    (CONTAINS, "option (a) has the correct adjective order", 0),
    (CONTAINS, "option (b) has the correct adjective order", 1),
    (CONTAINS, "option (a) follows the general adjective order", 0),
    (CONTAINS, "option (b) follows the general adjective order", 1),
    (CONTAINS, "option (a) would be more grammatically correct", 0),
    (CONTAINS, "option (b) would be more grammatically correct", 1),
    (CONTAINS, "option a is the correct", 0),
    (CONTAINS, "option b is the correct", 1),
    (CONTAINS, "option a has the correct word order", 0),
    (CONTAINS, "option b has the correct word order", 1),
    (CONTAINS, "option a follows the correct order", 0),
    (CONTAINS, "option b follows the correct order", 1),
    (CONTAINS, "following the typical order is the first option", 0),
    (CONTAINS, "following the typical order is the second option", 1),
    (CONTAINS, "option a has a slightly better chance of being correct", 0),
    (CONTAINS, "option b has a slightly better chance of being correct", 1),
    (CONTAINS, "the answer is sentence a", 0),
    (CONTAINS, "the answer is sentence b", 1),
    (CONTAINS, "the final answer is (a)", 0),
    (CONTAINS, "the final answer is (b)", 1),
    (SEARCH, "sentence a (.+?) seems to have a more logical", 0),
    (SEARCH, "sentence b (.+?) seems to have a more logical", 1),
    (SEARCH, "the correct adjective order is (.+?) option a", 0),
    (SEARCH, "the correct adjective order is (.+?) option b", 1),
    (STARTS, "a ", 0),
    (STARTS, "b ", 1),
    (STARTS, "a)", 0),
    (STARTS, "b)", 1),
)

# VoiceBench BBHEvaluator.extract_answer_navigate, after the yes/no rules.
NAVIGATE_RULES: tuple[tuple[str, str, int], ...] = (
    (CONTAINS, "you do not return to the starting point", 0),
    (CONTAINS, "you are not at the starting point", 0),
    (CONTAINS, "you haven t moved back to the starting point", 0),
    (CONTAINS, "you cannot return to the starting point", 0),
    (CONTAINS, "you return to the starting point", 1),
    (CONTAINS, "you are not facing the starting point", 0),
    (CONTAINS, "you haven t returned to the starting point", 0),
    (CONTAINS, "you end up back at the starting point", 1),
    (CONTAINS, "you are not back at the starting point", 0),
    (CONTAINS, "you will not return to the starting point", 0),
    (CONTAINS, "yes following these instructions", 1),
    (CONTAINS, "we end up back at the starting point", 1),
    (CONTAINS, "indeed returns us to the starting point", 1),
    (CONTAINS, "indeed bring us back to the starting point", 1),
    (CONTAINS, "you ll end up right back where you started", 1),
    (CONTAINS, "we ve now returned to the starting point", 1),
    (CONTAINS, "i have returned to the starting position", 1),
    (CONTAINS, "the final position is not directly at the starting point", 0),
    (CONTAINS, "it appears that we did not return to the exact starting point", 0),
    (CONTAINS, "does not return us to the starting point", 0),
    (CONTAINS, "i will end up back where i started", 1),
    (CONTAINS, "indeed return to the starting point", 1),
    (CONTAINS, "i ll be back where i started", 1),
    (CONTAINS, "i ll end up back at the starting point", 1),
    (CONTAINS, "after following these instructions we return to the starting point", 1),
    (CONTAINS, "we are back at the starting point!", 1),
    (CONTAINS, "we are now back at the starting point", 1),
    (CONTAINS, "you ll end up back where you started", 1),
    (CONTAINS, "we have now returned to the starting point", 1),
    (CONTAINS, "i ve returned to the starting point", 1),
    (CONTAINS, "following these instructions will always return us to the starting point", 1),
    (CONTAINS, "indeed return you to the starting point", 1),
    (CONTAINS, "the answer is the starting point", 1),
    (CONTAINS, "following these instructions doesn t return us to the starting point", 0),
    (CONTAINS, "following these directions does not lead you back to your original starting point", 0),
    (STARTS, "no", 0),
    (STARTS, "yes", 1),
    (ENDS, "no", 0),
    (ENDS, "yes", 1),
)

# VoiceBench BBHEvaluator.extract_answer_lies, after the yes/no rules.
WEB_OF_LIES_RULES: tuple[tuple[str, str, int], ...] = (
    (CONTAINS, "the prefix no applies to the statement", 0),
    (CONTAINS, "veena s statement cannot be true", 0),
    (CONTAINS, "therefore truly lorene tells the truth", 1),
    (CONTAINS, "the answer is the truth", 1),
    (CONTAINS, "affirmatively alejandro tells the truth", 1),
    (SEARCH, "answer is (.+?) tells a lie", 0),
    (SEARCH, "answer is (.+?) lies", 0),
    (SEARCH, "answer is (.+?) says lie", 0),
    (SEARCH, "answer is (.+?) doesn t tell the truth", 0),
    (SEARCH, "answer is (.+?) does not tell the truth", 0),
    (SEARCH, "answer is (.+?) didn t tell the truth", 0),
    (SEARCH, "answer is (.+?) tells the truth", 1),
    (SEARCH, "answer is (.+?) does tell the truth", 1),
    (SEARCH, "answer to the question (.+?) is no", 0),
    (SEARCH, "answer to the question (.+?) is yes", 1),
    (SEARCH, "from the above steps we can conclude that (.+?) tells the truth", 1),
    (ENDS, "does not tell the truth", 0),
    (ENDS, "cannot be telling the truth", 0),
    (ENDS, "is lying", 0),
    (ENDS, "tells the lie", 0),
    (ENDS, "is also telling the truth", 1),
    (ENDS, "must be lying", 1),
    (ENDS, "must be telling the truth", 1),
    (ENDS, "tells the truth", 1),
    (ENDS, "delfina does tell the truth", 1),
    (ENDS, "osvaldo is telling the truth", 1),
    (ENDS, "lies", 0),
    (STARTS, "no", 0),
    (STARTS, "yes", 1),
    (ENDS, "no", 0),
    (ENDS, "yes", 1),
)

# VoiceBench BBHEvaluator.extract_answer_sports, after the yes/no rules.
SPORTS_RULES: tuple[tuple[str, str, int], ...] = (
    (CONTAINS, "final answer the sentence is plausible", 1),
    (CONTAINS, "the answer is directly yes", 1),
    (CONTAINS, "no the sentence is not possible", 0),
    (CONTAINS, "the answer is it is not possible", 0),
    (CONTAINS, "the answer is the sentence is plausible", 1),
    (CONTAINS, "the sentence is not particularly plausible", 0),
    (CONTAINS, "the sentence is not plausible", 0),
    (CONTAINS, "yes the sentence is structurally plausible", 1),
    (CONTAINS, "is the sentence plausible? yes it is", 1),
    (CONTAINS, "no the original sentence is not plausible", 0),
    (CONTAINS, "it s not a plausible", 0),
    (CONTAINS, "to answer your original question no", 0),
    (CONTAINS, "making it plausible", 1),
    (CONTAINS, "making it implausible", 0),
    (CONTAINS, "it is indeed a plausible sentence", 1),
    (CONTAINS, "considering these points the sentence is plausible", 1),
    (CONTAINS, "i would say the sentence is plausible", 1),
    (CONTAINS, "i would say that the sentence is plausible", 1),
    (CONTAINS, "i d say it s not entirely plausible", 0),
    (CONTAINS, "therefore not plausible", 0),
    (CONTAINS, "making it an implausible statement", 0),
    (CONTAINS, "the following sentence is not plausible", 0),
    (CONTAINS, "considering these points the sentence is unlikely to be true", 0),
    (CONTAINS, "considering these points the sentence is not plausible", 0),
    (CONTAINS, "yes the sentence is plausible", 1),
    (CONTAINS, "based on this analysis the sentence is plausible", 1),
    (CONTAINS, "considering these points the sentence seems plausible", 1),
    (CONTAINS, "given the context the sentence is plausible", 1),
    (CONTAINS, "considering these factors the sentence is plausible", 1),
    (CONTAINS, "considering these points the sentence is unlikely to be plausible", 0),
    (CONTAINS, "given the context of sports particularly basketball this sentence is plausible", 1),
    (CONTAINS, "considering these points the sentence is likely true", 1),
    (CONTAINS, "considering these elements the sentence is plausible", 1),
    (CONTAINS, "i would say it s unlikely", 0),
    (CONTAINS, "it seems unlikely", 0),
    (CONTAINS, "given this analysis the sentence is plausible", 1),
    (CONTAINS, "considering these points the sentence is the plausible", 1),
    (CONTAINS, "the sentence is not entirely possible", 0),
    (CONTAINS, "the sentence is not entirely accurate", 0),
    (CONTAINS, "the sentence is not entirely plausible", 0),
    (CONTAINS, "the answer is plausible", 1),
    (CONTAINS, "modification of answer not possible", 0),
    (CONTAINS, "the answer is without any modification no", 0),
    (CONTAINS, "i would say that the sentence is generally plausible", 1),
    (CONTAINS, "given these points the sentence is plausible", 1),
    (CONTAINS, "considering these points the sentence seems to be a plausible", 1),
    (CONTAINS, "the sentence appears to be a plausible", 1),
    (EQUALS, "not plausible", 0),
    (SEARCH, "considering these points the sentence (.+?) is grammatically correct and makes sense", 1),
    (SEARCH, "considering these points the sentence (.+?) is plausible", 1),
    (SEARCH, "considering these points the sentence (.+?) is unlikely", 0),
    (SEARCH, "based on this analysis the sentence (.+?) is plausible", 1),
    (SEARCH, "considering these points the sentence (.+?) seems to be a possible", 1),
    (SEARCH, "based on these steps the sentence (.+?) is plausible", 1),
    (SEARCH, "based on this analysis the sentence (.+?) seems plausible", 1),
    (SEARCH, "considering these points the sentence (.+?) appears to be plausible", 1),
    (SEARCH, "considering these points the sentence (.+?) seems plausible", 1),
    (SEARCH, "the sentence (.+?) is not very plausible", 0),
    (SEARCH, "considering these points (.+?) is a plausible sentence", 1),
    (SEARCH, "given this information the sentence (.+?) is plausible", 1),
    (SEARCH, "given the context the sentence (.+?) is plausible", 1),
    (SEARCH, "the sentence (.+?) is flexible and realistic", 1),
    (SEARCH, "considering these points the sentence (.+?) is not a plausible statement", 0),
    (SEARCH, "the sentence (.+?) is not plausible", 1),
    (STARTS, "no", 0),
    (STARTS, "yes", 1),
    (STARTS, "the following sentence is plausible", 1),
    (ENDS, "no", 0),
    (ENDS, "yes", 1),
)

TASK_RULES = {
    "sports_understanding": YES_NO_RULES + SPORTS_RULES,
    "hyperbaton": HYPERBATON_RULES,
    "navigate": YES_NO_RULES + NAVIGATE_RULES,
    "web_of_lies": YES_NO_RULES + WEB_OF_LIES_RULES,
}
_COMPILED = {text: re.compile(text) for rules in TASK_RULES.values() for kind, text, _ in rules if kind == SEARCH}


@dataclass(frozen=True)
class BBHVerdict:
    """One BBH item: the answer taken (0/1), whether it was read (not guessed), and correctness."""

    predicted: int
    matched: bool
    correct: bool


def bbh_task(item_id: str) -> str:
    """The BBH task named inside `item_id`, e.g. "navigate" for "navigate_17"."""
    for task in BBH_TASKS:
        if task in item_id:
            return task
    raise ValueError(f"BBH item id {item_id!r} names none of the tasks VoiceBench scores: {BBH_TASKS}")


def normalize_response(response: str) -> str:
    """The official normalization applied before any rule is tried."""
    if not isinstance(response, str):
        raise TypeError(f"response must be a string, got {type(response).__name__}")
    text = response.lower()
    if text.endswith(USER_TURN_SUFFIX):
        text = text[: -len(USER_TURN_SUFFIX)].strip()
    if text.startswith(TURN_MARKERS):
        text = text[3:].strip()
    text = text.replace(TURN_END, "")
    for mark in SPACED_OUT:
        text = text.replace(mark, " ")
    return " ".join(text.split())


def _holds(kind: str, rule_text: str, text: str) -> bool:
    if kind == CONTAINS:
        return rule_text in text
    if kind == EQUALS:
        return text == rule_text
    if kind == SEARCH:
        return _COMPILED[rule_text].search(text) is not None
    if kind == STARTS:
        return text.startswith(rule_text)
    return text.endswith(rule_text)


def read_bbh_answer(response: str, item_id: str) -> int | None:
    """The answer (0/1) the official rules read from `response`, or None when no rule holds."""
    rules = TASK_RULES[bbh_task(item_id)]
    text = normalize_response(response)
    for kind, rule_text, answer in rules:
        if _holds(kind, rule_text, text):
            return answer
    return None


def extract_bbh_answer(response: str, item_id: str, item_key: str | None = None) -> tuple[int, bool]:
    """(answer, matched): the answer read, else a guess seeded by `item_key` (default: `item_id`)."""
    answer = read_bbh_answer(response, item_id)
    if answer is not None:
        return answer, True
    return seeded_choice(ANSWERS, item_key if item_key is not None else item_id), False


def bbh_reference_label(reference: str) -> int:
    """The answer a reference stands for: "Yes"/"No"/"(A)"/"(B)" in any case -> 1/0/0/1."""
    label = REFERENCE_LABELS.get(reference.lower()) if isinstance(reference, str) else None
    if label is None:
        raise ValueError(f"a BBH reference must be one of yes, no, (A), (B) (any case), got {reference!r}")
    return label


def bbh_correct(response: str, reference: str, item_id: str, item_key: str | None = None) -> BBHVerdict:
    """Score one BBH item."""
    truth = bbh_reference_label(reference)
    predicted, matched = extract_bbh_answer(response, item_id, item_key)
    return BBHVerdict(predicted=predicted, matched=matched, correct=predicted == truth)
