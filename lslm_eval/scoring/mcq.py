"""OpenBookQA and MMSU: read the chosen letter A-D from a free-form response; score accuracy.

Rule of VoiceBench's `src/evaluator/mcq.py` (MatthewCYM/VoiceBench, HEAD 5338154): lowercase the
response and drop a leading turn marker `<1>`/`<2>`/`<3>`; then try each answer template in order,
each with the letters a, b, c, d in turn, and take the first whose filled-in text occurs in the
response; failing that, accept a response that is exactly one letter or starts with a letter
followed by `.`, `,`, `:` or `)`. When nothing matches, the official code guesses with an unseeded
`random.choice`; here the guess is seeded by the item (`fallback.seeded_choice`), and the verdict
says that it was a guess so that the fail rate can be reported beside accuracy.

The official code's three last checks (`would be a.`, `would be "a.`, `... scorpion (a)`) are left
out: whenever one of them holds, the templates `would be [CHOICE]`, `"[CHOICE].` or `([CHOICE])`
have already matched, so they can never decide.
"""

from __future__ import annotations

from dataclasses import dataclass

from lslm_eval.scoring.fallback import seeded_choice

LETTERS = ("A", "B", "C", "D")
CHOICE_PLACEHOLDER = "[CHOICE]"
TURN_MARKERS = ("<1>", "<2>", "<3>")  # some models prefix their reply with a turn number
LETTER_PREFIX_PUNCTUATION = (".", ",", ":", ")")

# Verbatim from VoiceBench's MCQEvaluator.extract_answer, in its order (matched against the
# lowercased response). The official list has "is [CHOICE]," twice; its second, unreachable copy
# is left out.
ANSWER_TEMPLATES: tuple[str, ...] = (
    "答案是[CHOICE]",
    "答案是 [CHOICE]",
    "答案是选项[CHOICE]",
    "答案应该是[CHOICE]",
    "答案应该是 [CHOICE]",
    "答案就是选项[CHOICE]",
    "答案是‘[CHOICE]",
    "是[CHOICE]：",
    "答案选[CHOICE]",
    "[CHOICE]是正确",
    "选项[CHOICE]是最合适的",
    "answer is: **[CHOICE]",
    "answer is **[CHOICE]",
    "the answer to the question is: **[CHOICE]",
    "the answer to the multiple-choice question is **[CHOICE]",
    "the answer is '[CHOICE]'",
    "[CHOICE] is the best answer",
    "the answer is [CHOICE]",
    "the correct answer is [CHOICE]",
    "would select [CHOICE]",
    "would choose [CHOICE]",
    "would select option [CHOICE]",
    "would choose option [CHOICE]",
    'is "[CHOICE]"',
    'is "[CHOICE].',
    "is: **[CHOICE])",
    "is **[CHOICE],",
    "is **[CHOICE]:",
    "is **[CHOICE])",
    "is: **[CHOICE].",
    "is: **[CHOICE]:",
    "is **[CHOICE].",
    "be **[CHOICE],",
    "is: **[CHOICE]**",
    "is therefore option **[CHOICE]:",
    "is: \n\n**[CHOICE])",
    "as **[CHOICE]:",
    "be **[CHOICE])",
    "be **[CHOICE]:",
    "is: \n\n**[CHOICE]**",
    "suggests **[CHOICE])",
    "be option **[CHOICE]:",
    "with **[CHOICE])",
    'is typically "[CHOICE])',
    "be to **[CHOICE])",
    "is: \n\n[CHOICE])",
    "is likely to be: **[CHOICE].",
    "is **[CHOICE] (",
    "is option **[CHOICE]**",
    "is likely **[CHOICE]**",
    "is:\n**[CHOICE].",
    "is:\n\n**[CHOICE].",
    "would be [CHOICE]",
    "would be option [CHOICE]",
    "would be ([CHOICE])",
    "would be option ([CHOICE])",
    "is [CHOICE],",
    "is typically [CHOICE],",
    "is typically [CHOICE].",
    "i'd say [CHOICE].",
    "option [CHOICE].",
    "option [CHOICE]:",
    "option [CHOICE],",
    "the answer is:\n**[CHOICE]",
    "is [CHOICE]:",
    "is [CHOICE].",
    "is: [CHOICE].",
    "is ([CHOICE])",
    "is:\n**[CHOICE])",
    "is likely **[CHOICE]:",
    "is the **[CHOICE])",
    ":\n[CHOICE].",
    ":\n[CHOICE])",
    ":\n[CHOICE],",
    ": \n[CHOICE].",
    ":  \n[CHOICE].",
    ":\n\n[CHOICE].",
    ":\n\n[CHOICE])",
    "is most likely **[CHOICE]:",
    ":\n\n[CHOICE],",
    ": \n\n[CHOICE].",
    "is option [CHOICE],",
    "([CHOICE]) would be",
    "is ([CHOICE]).",
    "is [CHOICE])",
    "is: [CHOICE])",
    "is:\n\n[CHOICE]:",
    "is: **[CHOICE],",
    "(option [CHOICE])",
    "answer is ([CHOICE])",
    'select option "[CHOICE]"',
    "is: [CHOICE]",
    "is typically **[CHOICE],",
    "is **[CHOICE]**",
    "is likely '[CHOICE]'",
    "is option '[CHOICE]'",
    "is:\n**[CHOICE]:",
    "is \\( \\boxed{[CHOICE] ",
    "would be '[CHOICE]'",
    "is the **[CHOICE]** ",
    "question is [CHOICE] (",
    "is:\n\n**[CHOICE])",
    "closest to option **[CHOICE]**",
    "is most likely **[CHOICE])",
    "the answer to the question is '[CHOICE]'",
    "question is **[CHOICE]**",
    "known as '[CHOICE]'",
    "is '[CHOICE])",
    "is typically **[CHOICE]:",
    "is \\( \\boxed{\\text{[CHOICE]}} \\)",
    "is \\( \\text{[CHOICE]) }",
    "is \\( \\text{[CHOICE]} \\)",
    "is \\( \\text{[CHOICE]:",
    "is \\( \\text{[CHOICE])",
    "is \\(\\text{[CHOICE].",
    "is:\n\n**[CHOICE]",
    "is \\( \\text{[CHOICE].}",
    "is \\( \\text{[CHOICE].",
    "is \\( \\boxed{[CHOICE]}",
    "is:\n\\[ \\boxed{\\text{[CHOICE]}}",
    "is:\n\\[ \\text{[CHOICE])",
    "is:\n\n\\[ \\text{[CHOICE])",
    "is \\( \\textbf{[CHOICE])",
    "is \\( \\text{[CHOICE]}",
    "is: \\( \\text{[CHOICE].",
    "corresponds to:\n- **[CHOICE]:",
    "would be: **[CHOICE]**.",
    "is \\( [CHOICE] \\)",
    "is:\n**[CHOICE] ",
    "corresponds to option **[CHOICE]**",
    "be **[CHOICE]**",
    "be: \n\n[CHOICE])",
    "is:\n\\[ \\boxed{[CHOICE]}",
    "is:  \n**[CHOICE]:",
    "is: \\( \\text{[CHOICE])",
    "is likely: **[CHOICE],",
    "is } \\mathbf{[CHOICE].",
    "is \\( \\boxed{[CHOICE])",
    "is \\( \\textbf{[CHOICE]}",
    "is \\([CHOICE]\\)",
    "is:\n  \n**[CHOICE]:",
    "is option **[CHOICE] ",
    "is:\n\\( \\textbf{[CHOICE].",
    "is \\( \\mathbf{[CHOICE]}",
    "was option **[CHOICE]**",
    'is likely "[CHOICE])',
    "option **[CHOICE]:",
    'is "[CHOICE])',
    "is most likely **[CHOICE],",
    "is often **[CHOICE]:",
    "is:  \n[CHOICE])",
    " [CHOICE].",
    " [CHOICE],",
    " [CHOICE]:",
    " [CHOICE])",
    "**[CHOICE].",
    "**[CHOICE])",
    '"[CHOICE].',
    '"[CHOICE],',
    '"[CHOICE]:',
    "([CHOICE])",
    '"[CHOICE]"',
)

# (text to find, letter) in the official search order: template-major, then a, b, c, d.
_TEMPLATE_NEEDLES = tuple(
    (template.replace(CHOICE_PLACEHOLDER, letter.lower()), letter)
    for template in ANSWER_TEMPLATES
    for letter in LETTERS
)


@dataclass(frozen=True)
class MCQVerdict:
    """One multiple-choice item: the letter taken, whether it was read (not guessed), and correctness."""

    predicted: str
    matched: bool
    correct: bool


def normalize_response(response: str) -> str:
    """Lowercase and drop a leading turn marker, as the official extraction does before matching."""
    if not isinstance(response, str):
        raise TypeError(f"response must be a string, got {type(response).__name__}")
    text = response.lower()
    if text.startswith(TURN_MARKERS):
        text = text[3:].strip()
    return text


def read_choice(response: str) -> str | None:
    """The letter the official rules read from `response`, or None when none of them matches."""
    text = normalize_response(response)
    for needle, letter in _TEMPLATE_NEEDLES:
        if needle in text:
            return letter
    for letter in LETTERS:
        lower = letter.lower()
        if text == lower or text.startswith(tuple(lower + p for p in LETTER_PREFIX_PUNCTUATION)):
            return letter
    return None


def extract_choice(response: str, item_key: str) -> tuple[str, bool]:
    """(letter, matched): the letter read from `response`, else a guess seeded by `item_key` (matched=False)."""
    letter = read_choice(response)
    if letter is not None:
        return letter, True
    return seeded_choice(LETTERS, item_key), False


def mcq_correct(response: str, reference: str, item_key: str) -> MCQVerdict:
    """Score one item whose `reference` is the correct letter A-D."""
    if reference not in LETTERS:
        raise ValueError(f"an MCQ reference must be one of {LETTERS}, got {reference!r}")
    predicted, matched = extract_choice(response, item_key)
    return MCQVerdict(predicted=predicted, matched=matched, correct=predicted == reference)
