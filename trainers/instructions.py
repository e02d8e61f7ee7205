"""Spoken-instruction prompts for the offline default's training data, made from templates.

Short factual questions of the kind a 135M chat model answers in text: the adaptor learns to make
the spoken question behave like the written one. Deterministic for a given seed.
"""

from __future__ import annotations

import random

CAPITALS = {
    "france": "paris", "germany": "berlin", "italy": "rome", "spain": "madrid", "japan": "tokyo", "china": "beijing",
    "russia": "moscow", "egypt": "cairo", "canada": "ottawa", "mexico": "mexico city", "india": "new delhi",
    "england": "london", "ireland": "dublin", "greece": "athens", "portugal": "lisbon", "norway": "oslo",
    "sweden": "stockholm", "finland": "helsinki", "poland": "warsaw", "austria": "vienna", "kenya": "nairobi",
    "peru": "lima", "chile": "santiago", "cuba": "havana", "thailand": "bangkok", "turkey": "ankara",
    "argentina": "buenos aires", "belgium": "brussels", "denmark": "copenhagen", "hungary": "budapest",
}
ANIMALS = ["dog", "cat", "cow", "horse", "lion", "tiger", "elephant", "spider", "bird", "fish", "snake", "frog",
           "bee", "ant", "duck", "sheep", "goat", "pig", "rabbit", "monkey", "bear", "wolf", "owl", "whale", "shark"]
THINGS = ["the sky", "grass", "snow", "the sun", "a banana", "an apple", "the ocean", "coal", "milk", "a carrot",
          "a strawberry", "chocolate", "a lemon", "blood", "a cloud", "an orange", "a tomato", "gold", "silver"]
WORDS = ["hot", "big", "fast", "happy", "light", "early", "open", "strong", "rich", "tall", "old", "wet", "full",
         "hard", "loud", "clean", "young", "high", "near", "soft", "warm", "dark", "heavy", "thin", "long"]
TOPICS = ["the moon", "rain", "volcanoes", "the heart", "bread", "music", "trees", "the internet", "electricity",
          "friendship", "sleep", "water", "exercise", "books", "the weather", "coffee", "bicycles", "the brain",
          "computers", "planets", "gardens", "rivers", "mountains", "birds", "the ocean", "honey", "stars"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]

TEMPLATES = [
    lambda r: f"What is the capital of {r.choice(list(CAPITALS)).title()}?",
    lambda r: f"Which country has the capital city {r.choice(list(CAPITALS.values())).title()}?",
    lambda r: f"How many legs does a {r.choice(ANIMALS)} have?",
    lambda r: f"What sound does a {r.choice(ANIMALS)} make?",
    lambda r: f"Where does a {r.choice(ANIMALS)} live?",
    lambda r: f"What does a {r.choice(ANIMALS)} eat?",
    lambda r: f"What color is {r.choice(THINGS)}?",
    lambda r: f"What is the opposite of {r.choice(WORDS)}?",
    lambda r: f"Give me a word that means the same as {r.choice(WORDS)}.",
    lambda r: f"What is {r.choice(NUMBER_WORDS)} plus {r.choice(NUMBER_WORDS)}?",
    lambda r: f"What is {r.choice(NUMBER_WORDS[5:])} minus {r.choice(NUMBER_WORDS[:5])}?",
    lambda r: f"What is {r.choice(NUMBER_WORDS[1:6])} times {r.choice(NUMBER_WORDS[1:6])}?",
    lambda r: f"Tell me one fact about {r.choice(TOPICS)}.",
    lambda r: f"Explain {r.choice(TOPICS)} in one sentence.",
    lambda r: f"Why is {r.choice(TOPICS)} important?",
    lambda r: f"Write a short sentence about {r.choice(TOPICS)}.",
    lambda r: f"Is a {r.choice(ANIMALS)} bigger than a {r.choice(ANIMALS)}?",
    lambda r: f"Which day comes after {r.choice(['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'])}?",
    lambda r: f"Which month comes after {r.choice(['January', 'March', 'May', 'July', 'September', 'November'])}?",
    lambda r: f"How do you say {r.choice(['hello', 'thank you', 'good night', 'water', 'friend'])} in {r.choice(['French', 'Spanish', 'German'])}?",
]


def make_instructions(n: int, seed: int = 0, exclude: set[str] = frozenset()) -> list[str]:
    """`n` distinct instructions (fewer if the templates run out); none in `exclude` (lowercased)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    for _ in range(50 * n):
        text = rng.choice(TEMPLATES)(rng)
        key = text.lower()
        if key not in seen and key not in exclude:
            seen.add(key)
            out.append(text)
            if len(out) == n:
                break
    return out
