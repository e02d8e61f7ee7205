"""Spoken-instruction prompts for the offline default's training data, made from templates.

Short factual questions of the kind a 135M chat model answers in text: the adaptor learns to make
the spoken question behave like the written one. An adaptor only learns to carry the words it
hears in training, so the templates are filled from broad word lists (about 1,000 content words)
and every entity appears in several templates. Deterministic for a given seed.
"""

from __future__ import annotations

import random

COUNTRIES = {  # country: (capital, main language)
    "France": ("Paris", "French"), "Germany": ("Berlin", "German"), "Italy": ("Rome", "Italian"),
    "Spain": ("Madrid", "Spanish"), "Japan": ("Tokyo", "Japanese"), "China": ("Beijing", "Chinese"),
    "Russia": ("Moscow", "Russian"), "Egypt": ("Cairo", "Arabic"), "Canada": ("Ottawa", "English"),
    "Mexico": ("Mexico City", "Spanish"), "India": ("New Delhi", "Hindi"), "England": ("London", "English"),
    "Ireland": ("Dublin", "English"), "Greece": ("Athens", "Greek"), "Portugal": ("Lisbon", "Portuguese"),
    "Norway": ("Oslo", "Norwegian"), "Sweden": ("Stockholm", "Swedish"), "Finland": ("Helsinki", "Finnish"),
    "Poland": ("Warsaw", "Polish"), "Austria": ("Vienna", "German"), "Kenya": ("Nairobi", "Swahili"),
    "Peru": ("Lima", "Spanish"), "Chile": ("Santiago", "Spanish"), "Cuba": ("Havana", "Spanish"),
    "Thailand": ("Bangkok", "Thai"), "Turkey": ("Ankara", "Turkish"), "Argentina": ("Buenos Aires", "Spanish"),
    "Belgium": ("Brussels", "French"), "Denmark": ("Copenhagen", "Danish"), "Hungary": ("Budapest", "Hungarian"),
    "Brazil": ("Brasilia", "Portuguese"), "Australia": ("Canberra", "English"), "Iran": ("Tehran", "Persian"),
    "Iraq": ("Baghdad", "Arabic"), "Israel": ("Jerusalem", "Hebrew"), "Vietnam": ("Hanoi", "Vietnamese"),
    "Indonesia": ("Jakarta", "Indonesian"), "Pakistan": ("Islamabad", "Urdu"), "Nigeria": ("Abuja", "English"),
    "Ethiopia": ("Addis Ababa", "Amharic"), "Morocco": ("Rabat", "Arabic"), "Colombia": ("Bogota", "Spanish"),
    "Venezuela": ("Caracas", "Spanish"), "Ukraine": ("Kyiv", "Ukrainian"), "Romania": ("Bucharest", "Romanian"),
    "Scotland": ("Edinburgh", "English"), "Switzerland": ("Bern", "German"), "Netherlands": ("Amsterdam", "Dutch"),
    "South Korea": ("Seoul", "Korean"), "Philippines": ("Manila", "Filipino"), "Malaysia": ("Kuala Lumpur", "Malay"),
    "Saudi Arabia": ("Riyadh", "Arabic"), "New Zealand": ("Wellington", "English"), "Iceland": ("Reykjavik", "Icelandic"),
    "Czech Republic": ("Prague", "Czech"), "Bulgaria": ("Sofia", "Bulgarian"), "Jamaica": ("Kingston", "English"),
    "Ghana": ("Accra", "English"), "Nepal": ("Kathmandu", "Nepali"), "Mongolia": ("Ulaanbaatar", "Mongolian"),
}
ANIMALS = [
    "dog", "cat", "cow", "horse", "lion", "tiger", "elephant", "spider", "bird", "fish", "snake", "frog", "bee",
    "ant", "duck", "sheep", "goat", "pig", "rabbit", "monkey", "bear", "wolf", "owl", "whale", "shark", "giraffe",
    "zebra", "camel", "kangaroo", "koala", "penguin", "dolphin", "octopus", "crab", "lobster", "butterfly",
    "mosquito", "beetle", "eagle", "parrot", "chicken", "turkey", "goose", "swan", "deer", "moose", "fox",
    "squirrel", "mouse", "rat", "bat", "hippo", "rhino", "crocodile", "turtle", "lizard", "gorilla", "panda",
    "leopard", "cheetah", "donkey", "ostrich", "seal", "otter", "hedgehog", "worm", "snail", "jellyfish",
    "starfish", "scorpion", "peacock", "flamingo", "hamster", "beaver", "raccoon", "skunk", "llama", "buffalo",
]
COLORED_THINGS = [
    "the sky", "grass", "snow", "the sun", "a banana", "an apple", "the ocean", "coal", "milk", "a carrot",
    "a strawberry", "chocolate", "a lemon", "blood", "a cloud", "an orange", "a tomato", "gold", "silver",
    "a lime", "a cherry", "a pumpkin", "an eggplant", "a flamingo", "a crow", "a polar bear", "a fire truck",
    "a school bus", "a ruby", "an emerald", "a sapphire", "charcoal", "cream", "ash", "a leaf in spring",
    "a leaf in autumn", "a plum", "a grape", "a blueberry", "a raspberry", "a cucumber", "a sunflower",
    "a rose", "a violet", "a lettuce leaf", "a frog", "a zebra", "a panda", "a tiger", "a penguin", "rust",
    "sand", "mud", "ink", "paper", "a pearl", "copper", "an avocado", "a corn cob", "a pineapple",
]
ADJECTIVE_OPPOSITES = [
    "hot", "big", "fast", "happy", "light", "early", "open", "strong", "rich", "tall", "old", "wet", "full",
    "hard", "loud", "clean", "young", "high", "near", "soft", "warm", "dark", "heavy", "thin", "long", "cold",
    "small", "slow", "sad", "late", "closed", "weak", "poor", "short", "new", "dry", "empty", "easy", "quiet",
    "dirty", "low", "far", "cool", "thick", "wide", "narrow", "deep", "shallow", "sharp", "smooth", "rough",
    "bright", "sweet", "bitter", "brave", "polite", "rude", "cheap", "expensive", "safe", "dangerous", "true",
    "false", "good", "bad", "right", "wrong", "first", "last", "inside", "outside", "up", "down", "awake",
    "asleep", "alive", "busy", "calm", "careful", "friendly", "generous", "honest", "lazy", "lucky", "messy",
    "noisy", "patient", "proud", "simple", "strange", "tidy", "ugly", "beautiful", "wild", "wise", "above",
]
WORDS = [  # everyday nouns and verbs for "what does it mean" and "use it in a sentence"
    "harbor", "blanket", "candle", "ladder", "mirror", "pillow", "basket", "bridge", "castle", "desert",
    "forest", "island", "jungle", "meadow", "valley", "canyon", "glacier", "lagoon", "prairie", "swamp",
    "hammer", "needle", "scissors", "shovel", "bucket", "bottle", "kettle", "teapot", "spoon", "plate",
    "window", "garden", "kitchen", "library", "museum", "hospital", "airport", "station", "market", "factory",
    "teacher", "doctor", "farmer", "pilot", "nurse", "lawyer", "baker", "painter", "sailor", "soldier",
    "engineer", "scientist", "journalist", "musician", "dentist", "carpenter", "plumber", "chef", "judge", "poet",
    "umbrella", "jacket", "sweater", "helmet", "glove", "scarf", "boot", "sandal", "necklace", "bracelet",
    "piano", "guitar", "violin", "trumpet", "drum", "flute", "orchestra", "melody", "rhythm", "chorus",
    "thunder", "lightning", "rainbow", "earthquake", "hurricane", "tornado", "blizzard", "drought", "flood", "fog",
    "courage", "patience", "honesty", "kindness", "wisdom", "freedom", "justice", "memory", "curiosity", "gratitude",
    "journey", "adventure", "holiday", "festival", "wedding", "birthday", "picnic", "parade", "concert", "tournament",
    "whisper", "shout", "giggle", "sneeze", "yawn", "wander", "gallop", "climb", "swim", "dive",
    "borrow", "lend", "build", "invent", "explore", "discover", "measure", "repair", "protect", "celebrate",
    "breakfast", "dinner", "sandwich", "noodle", "pancake", "cookie", "biscuit", "cheese", "butter", "yogurt",
    "vegetable", "potato", "onion", "garlic", "pepper", "cabbage", "spinach", "mushroom", "peanut", "almond",
    "telescope", "microscope", "magnet", "battery", "engine", "rocket", "satellite", "robot", "computer", "keyboard",
    "passport", "ticket", "wallet", "envelope", "newspaper", "magazine", "dictionary", "calendar", "diary", "letter",
    "oxygen", "gravity", "energy", "volcano", "planet", "comet", "galaxy", "universe", "atom", "molecule",
    "neighbor", "stranger", "cousin", "uncle", "grandmother", "friend", "partner", "captain", "king", "queen",
    "river", "mountain", "ocean", "lake", "waterfall", "cave", "beach", "cliff", "hill", "pond",
    "anchor", "compass", "lantern", "treasure", "puzzle", "riddle", "secret", "promise", "habit", "hobby",
    "tractor", "bicycle", "subway", "ferry", "truck", "canoe", "helicopter", "submarine", "scooter", "wagon",
]
TOPICS = [
    "the moon", "rain", "volcanoes", "the heart", "bread", "music", "trees", "the internet", "electricity",
    "friendship", "sleep", "water", "exercise", "books", "the weather", "coffee", "bicycles", "the brain",
    "computers", "planets", "gardens", "rivers", "mountains", "birds", "the ocean", "honey", "stars", "deserts",
    "the lungs", "bones", "teeth", "vitamins", "recycling", "solar power", "wind turbines", "trains", "airplanes",
    "the alphabet", "chess", "football", "basketball", "tennis", "swimming", "painting", "photography", "cooking",
    "tea", "rice", "salt", "sugar", "glass", "paper", "plastic", "cotton", "wool", "silk", "clocks", "maps",
    "dinosaurs", "fossils", "earthquakes", "tides", "seasons", "winter", "summer", "spring", "autumn", "snowflakes",
]
MATERIALS = {"a window": "glass", "a sweater": "wool", "a candle": "wax", "a tire": "rubber", "a coin": "metal",
             "a book": "paper", "a brick": "clay", "a shirt": "cotton", "a table": "wood", "a bottle": "glass or plastic"}
WRITERS = {"Hamlet": "William Shakespeare", "Macbeth": "William Shakespeare", "Pride and Prejudice": "Jane Austen",
           "Oliver Twist": "Charles Dickens", "A Christmas Carol": "Charles Dickens", "The Odyssey": "Homer",
           "War and Peace": "Leo Tolstoy", "Don Quixote": "Miguel de Cervantes", "Moby Dick": "Herman Melville",
           "Frankenstein": "Mary Shelley", "Nineteen Eighty-Four": "George Orwell", "The Hobbit": "J. R. R. Tolkien",
           "Harry Potter": "J. K. Rowling", "Tom Sawyer": "Mark Twain", "Dracula": "Bram Stoker",
           "Alice in Wonderland": "Lewis Carroll", "The Little Prince": "Antoine de Saint-Exupery"}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
TIME_UNITS = [("seconds", "a minute"), ("minutes", "an hour"), ("hours", "a day"), ("days", "a week"),
              ("days", "a year"), ("weeks", "a year"), ("months", "a year"), ("years", "a century"),
              ("years", "a decade"), ("centimeters", "a meter"), ("grams", "a kilogram"), ("meters", "a kilometer"),
              ("inches", "a foot"), ("feet", "a yard"), ("cents", "a dollar"), ("players", "a football team")]
SUPERLATIVES = ["the largest desert", "the longest river", "the highest mountain",
                "the largest country", "the smallest country", "the fastest land animal", "the largest animal",
                "the largest bird", "the smallest planet", "the hottest planet",
                "the largest continent", "the coldest continent", "the biggest cat", "the slowest animal",
                "the largest organ of the human body", "the hardest natural material", "the most common gas in the air",
                "the brightest star in the night sky", "the deepest lake", "the largest island"]
PLANET_ORDER = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]

TEMPLATES = [
    lambda r: f"What is the capital of {r.choice(list(COUNTRIES))}?",
    lambda r: f"Which country has the capital city {r.choice(list(COUNTRIES.values()))[0]}?",
    lambda r: f"What language is mainly spoken in {r.choice(list(COUNTRIES))}?",
    lambda r: f"Which continent is {r.choice(list(COUNTRIES))} in?",
    lambda r: f"Tell me one fact about {r.choice(list(COUNTRIES))}.",
    lambda r: f"How many legs does a {r.choice(ANIMALS)} have?",
    lambda r: f"What sound does a {r.choice(ANIMALS)} make?",
    lambda r: f"Where does a {r.choice(ANIMALS)} live?",
    lambda r: f"What does a {r.choice(ANIMALS)} eat?",
    lambda r: f"Is a {r.choice(ANIMALS)} a mammal?",
    lambda r: f"Can a {r.choice(ANIMALS)} swim?",
    lambda r: f"Is a {r.choice(ANIMALS)} bigger than a {r.choice(ANIMALS)}?",
    lambda r: f"What color is {r.choice(COLORED_THINGS)}?",
    lambda r: f"What is the opposite of {r.choice(ADJECTIVE_OPPOSITES)}?",
    lambda r: f"Give me a word that means the same as {r.choice(ADJECTIVE_OPPOSITES)}.",
    lambda r: f"What does the word {r.choice(WORDS)} mean?",
    lambda r: f"Use the word {r.choice(WORDS)} in a sentence.",
    lambda r: f"What is the plural of {r.choice(WORDS)}?",
    lambda r: f"What is {r.choice(NUMBER_WORDS)} plus {r.choice(NUMBER_WORDS)}?",
    lambda r: f"What is {r.choice(NUMBER_WORDS[10:])} minus {r.choice(NUMBER_WORDS[:10])}?",
    lambda r: f"What is {r.choice(NUMBER_WORDS[1:11])} times {r.choice(NUMBER_WORDS[1:11])}?",
    lambda r: "How many {} are in {}?".format(*r.choice(TIME_UNITS)),
    lambda r: f"What is {r.choice(SUPERLATIVES)}?",
    lambda r: f"Which planet is {r.choice(PLANET_ORDER)} from the sun?",
    lambda r: f"What is {r.choice(list(MATERIALS))} made of?",
    lambda r: f"Who wrote {r.choice(list(WRITERS))}?",
    lambda r: f"Tell me one fact about {r.choice(TOPICS)}.",
    lambda r: f"Explain {r.choice(TOPICS)} in one sentence.",
    lambda r: f"Why is {r.choice(TOPICS)} important?",
    lambda r: f"Write a short sentence about {r.choice(TOPICS)}.",
    lambda r: f"Which day comes after {r.choice(WEEKDAYS)}?",
    lambda r: f"Which month comes after {r.choice(MONTHS)}?",
    lambda r: f"How do you say {r.choice(['hello', 'thank you', 'good night', 'water', 'friend', 'cat', 'bread'])} in "
              f"{r.choice(['French', 'Spanish', 'German', 'Italian'])}?",
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
