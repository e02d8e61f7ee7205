"""Build the held-out spoken evaluation set shipped in lslm_eval/data/heldout/voicebench/.

    python scripts/build_heldout_data.py                 # rewrites lslm_eval/data/heldout/voicebench/
    python scripts/build_heldout_data.py --out /tmp/heldout

Selected with `--metadata '{"voicebench_source": "heldout"}'` (or LSLM_EVAL_VOICEBENCH=heldout); the tasks
voicebench_sdqa(_text), voicebench_openbookqa(_text) and voicebench_mmsu(_text) run on it unchanged.

What it holds, in the VoiceBench schema (lslm_eval.data.voicebench):
    sd-qa/usa        short factual questions with a short reference (the answer PEDANT compares against)
    sd-qa/<other>    the first SDQA_OTHER_SPLIT_ITEMS questions again (the accent tasks need every split)
    openbookqa/test  OPENBOOKQA_ITEMS four-option multiple-choice questions, the options spoken after the question
    mmsu/<domain>    four-option multiple-choice questions, MMSU_PER_DOMAIN per domain

Every question was written for this project: filled from the fact tables below (capitals, currencies, chemical
symbols, young animals, rivers, continents, shapes...) or written by hand. The templates are worded unlike the
training templates (trainers/instructions.py) and the training text (trainers/ctc_corpus.py) excludes every question
here (tests/test_heldout_data.py checks both). Each item is spoken by one of VOICES (two espeak-ng voices and
variants, four speaking rates), in a fixed rotation, and stored as 16 kHz FLAC rounded to STORED_BITS bits.

Deterministic: the same calls in the same order in a fresh process reproduce every file.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import datasets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_sample_data as sample  # noqa: E402  (Voice, table, mcq_prompt, save: one way of writing items)

from lslm_eval.data import voicebench  # noqa: E402

REPO_HELDOUT = Path(__file__).resolve().parents[1] / "lslm_eval" / "data" / "heldout" / "voicebench"

VOICES = [("en-us", 175), ("en-gb-x-rp", 150), ("en-us+m7", 200), ("en+m5", 165)]  # (espeak-ng voice, wpm)
SDQA_OTHER_SPLIT_ITEMS = 3
MMSU_PER_DOMAIN = 10
OPENBOOKQA_ITEMS = 110
STORED_BITS = 8  # significant bits per sample (the sample keeps 12): espeak-ng speech through Whisper needs no more
SEED = 11

# ---------------------------------------------------------------------------------------------------- fact tables
CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo",
    "China": "Beijing", "Russia": "Moscow", "Egypt": "Cairo", "Canada": "Ottawa", "India": "New Delhi",
    "England": "London", "Ireland": "Dublin", "Greece": "Athens", "Portugal": "Lisbon", "Norway": "Oslo",
    "Sweden": "Stockholm", "Finland": "Helsinki", "Poland": "Warsaw", "Austria": "Vienna", "Kenya": "Nairobi",
    "Peru": "Lima", "Chile": "Santiago", "Cuba": "Havana", "Thailand": "Bangkok", "Turkey": "Ankara",
    "Argentina": "Buenos Aires", "Belgium": "Brussels", "Denmark": "Copenhagen", "Hungary": "Budapest",
    "Australia": "Canberra", "Iran": "Tehran", "Iraq": "Baghdad", "Vietnam": "Hanoi", "Indonesia": "Jakarta",
    "Pakistan": "Islamabad", "Nigeria": "Abuja", "Morocco": "Rabat", "Colombia": "Bogota", "Venezuela": "Caracas",
    "Ukraine": "Kyiv", "Romania": "Bucharest", "Scotland": "Edinburgh", "Netherlands": "Amsterdam",
    "South Korea": "Seoul", "Philippines": "Manila", "Saudi Arabia": "Riyadh", "New Zealand": "Wellington",
    "Iceland": "Reykjavik", "Czech Republic": "Prague", "Bulgaria": "Sofia", "Ghana": "Accra", "Nepal": "Kathmandu",
    "Syria": "Damascus", "Lebanon": "Beirut", "Jordan": "Amman", "Qatar": "Doha", "Afghanistan": "Kabul",
    "Bangladesh": "Dhaka", "Sri Lanka": "Colombo", "Uganda": "Kampala", "Zimbabwe": "Harare", "Senegal": "Dakar",
    "Serbia": "Belgrade", "Croatia": "Zagreb", "Slovakia": "Bratislava", "Lithuania": "Vilnius", "Latvia": "Riga",
    "Estonia": "Tallinn", "Wales": "Cardiff", "Ecuador": "Quito", "Uruguay": "Montevideo", "Bolivia": "La Paz",
    "Tunisia": "Tunis", "Libya": "Tripoli", "Sudan": "Khartoum", "Algeria": "Algiers",
}
CONTINENTS = {
    "France": "Europe", "Brazil": "South America", "Kenya": "Africa", "Japan": "Asia", "Canada": "North America",
    "Australia": "Australia", "Egypt": "Africa", "India": "Asia", "Mexico": "North America", "Peru": "South America",
    "Norway": "Europe", "Nigeria": "Africa", "China": "Asia", "Argentina": "South America", "Italy": "Europe",
    "Thailand": "Asia", "Ghana": "Africa", "Chile": "South America", "Poland": "Europe", "Vietnam": "Asia",
    "Morocco": "Africa", "Colombia": "South America", "Sweden": "Europe", "Nepal": "Asia", "Ethiopia": "Africa",
    "Cuba": "North America", "Spain": "Europe", "Mongolia": "Asia", "Uganda": "Africa", "Bolivia": "South America",
}
CURRENCIES = {
    "Japan": "the yen", "the United States": "the dollar", "the United Kingdom": "the pound", "India": "the rupee",
    "China": "the yuan", "Russia": "the ruble", "Mexico": "the peso", "Germany": "the euro", "France": "the euro",
    "Switzerland": "the franc", "South Korea": "the won", "Brazil": "the real", "South Africa": "the rand",
    "Italy": "the euro", "Canada": "the dollar", "Australia": "the dollar", "Turkey": "the lira",
    "Thailand": "the baht", "Poland": "the zloty", "Sweden": "the krona", "Israel": "the shekel",
}
SYMBOLS = {
    "gold": "Au", "silver": "Ag", "iron": "Fe", "oxygen": "O", "hydrogen": "H", "carbon": "C", "sodium": "Na",
    "potassium": "K", "lead": "Pb", "copper": "Cu", "helium": "He", "nitrogen": "N", "calcium": "Ca",
    "mercury": "Hg", "tin": "Sn", "zinc": "Zn", "sulfur": "S", "chlorine": "Cl", "neon": "Ne", "uranium": "U",
    "magnesium": "Mg", "aluminum": "Al", "silicon": "Si", "phosphorus": "P", "fluorine": "F",
}
YOUNG = {
    "dog": "a puppy", "cat": "a kitten", "cow": "a calf", "horse": "a foal", "sheep": "a lamb", "goat": "a kid",
    "lion": "a cub", "bear": "a cub", "frog": "a tadpole", "duck": "a duckling", "goose": "a gosling",
    "kangaroo": "a joey", "pig": "a piglet", "deer": "a fawn", "swan": "a cygnet", "owl": "an owlet",
    "chicken": "a chick", "eagle": "an eaglet", "butterfly": "a caterpillar", "whale": "a calf", "rabbit": "a kit",
    "seal": "a pup", "tiger": "a cub", "elephant": "a calf", "fox": "a kit",
}
RIVERS = {
    "London": "the Thames", "Paris": "the Seine", "Cairo": "the Nile", "Rome": "the Tiber", "Vienna": "the Danube",
    "Budapest": "the Danube", "Baghdad": "the Tigris", "New Orleans": "the Mississippi", "Lisbon": "the Tagus",
    "Prague": "the Vltava", "Warsaw": "the Vistula", "Cologne": "the Rhine", "Varanasi": "the Ganges",
    "Shanghai": "the Yangtze", "Florence": "the Arno",
}
SIDES = {"a triangle": "three", "a square": "four", "a pentagon": "five", "a hexagon": "six", "a heptagon": "seven",
         "an octagon": "eight", "a nonagon": "nine", "a decagon": "ten"}
CLASSES = {  # animal: class
    "a dolphin": "a mammal", "a bat": "a mammal", "a whale": "a mammal", "a horse": "a mammal", "a tiger": "a mammal",
    "a shark": "a fish", "a salmon": "a fish", "a trout": "a fish", "a tuna": "a fish", "a goldfish": "a fish",
    "an eagle": "a bird", "a penguin": "a bird", "an ostrich": "a bird", "a parrot": "a bird", "a robin": "a bird",
    "a snake": "a reptile", "a lizard": "a reptile", "a crocodile": "a reptile", "a turtle": "a reptile",
    "a frog": "an amphibian", "a toad": "an amphibian", "a salamander": "an amphibian",
    "an ant": "an insect", "a bee": "an insect", "a beetle": "an insect", "a wasp": "an insect",
}
DEMONYMS = {"France": "French", "Germany": "German", "Italy": "Italian", "Spain": "Spanish", "Japan": "Japanese",
            "China": "Chinese", "Brazil": "Brazilian", "Mexico": "Mexican", "Canada": "Canadian", "Egypt": "Egyptian",
            "Greece": "Greek", "Sweden": "Swedish", "Norway": "Norwegian", "Poland": "Polish", "Ireland": "Irish",
            "Kenya": "Kenyan", "Peru": "Peruvian", "Turkey": "Turkish", "Russia": "Russian", "India": "Indian"}

# hand-written short questions: (question, reference)
HANDWRITTEN = [
    ("Who painted the Mona Lisa?", "Leonardo da Vinci"),
    ("Who discovered penicillin?", "Alexander Fleming"),
    ("Who invented the telephone?", "Alexander Graham Bell"),
    ("Who was the first person to walk on the Moon?", "Neil Armstrong"),
    ("Who developed the theory of relativity?", "Albert Einstein"),
    ("Who composed the Fifth Symphony that begins with four famous notes?", "Ludwig van Beethoven"),
    ("Who is known for the laws of motion and gravity?", "Isaac Newton"),
    ("Who wrote the play Othello?", "William Shakespeare"),
    ("Who painted The Starry Night?", "Vincent van Gogh"),
    ("Who was the first president of the United States?", "George Washington"),
    ("Who proposed the theory of evolution by natural selection?", "Charles Darwin"),
    ("Who invented the light bulb that became widely used?", "Thomas Edison"),
    ("Who was the first woman to win a Nobel Prize?", "Marie Curie"),
    ("Who wrote the novel Great Expectations?", "Charles Dickens"),
    ("Who sculpted the statue of David in Florence?", "Michelangelo"),
    ("In which year did the Second World War end?", "1945"),
    ("In which year did the First World War begin?", "1914"),
    ("In which year did people first land on the Moon?", "1969"),
    ("In which year did Columbus first sail to the Americas?", "1492"),
    ("In which year did the Berlin Wall fall?", "1989"),
    ("In which year did the Titanic sink?", "1912"),
    ("In which year did the American Declaration of Independence get signed?", "1776"),
    ("In which century did the French Revolution take place?", "The eighteenth century"),
    ("Which ancient people built the pyramids of Giza?", "The Egyptians"),
    ("Which empire was ruled by Julius Caesar?", "The Roman Empire"),
    ("Which planet is called the red planet?", "Mars"),
    ("Which planet has the most famous rings?", "Saturn"),
    ("Which planet is closest to the Sun?", "Mercury"),
    ("What is the name of our galaxy?", "The Milky Way"),
    ("What is the natural satellite of the Earth called?", "The Moon"),
    ("Which gas do plants breathe out during the day?", "Oxygen"),
    ("Which gas do humans breathe out?", "Carbon dioxide"),
    ("At what temperature in Celsius does water boil at sea level?", "100 degrees"),
    ("At what temperature in Celsius does water freeze?", "0 degrees"),
    ("What is the chemical formula of water?", "H2O"),
    ("Which organ pumps blood through the human body?", "The heart"),
    ("Which organ do we use to think?", "The brain"),
    ("Which organs do we use to breathe?", "The lungs"),
    ("How many teeth does a typical adult human have?", "32"),
    ("How many bones are in the adult human body?", "206"),
    ("Which part of the plant takes water from the soil?", "The roots"),
    ("What do caterpillars turn into?", "Butterflies"),
    ("Which animal is the largest on Earth?", "The blue whale"),
    ("Which bird cannot fly but runs very fast?", "The ostrich"),
    ("Which insect makes honey?", "The bee"),
    ("What is the fastest land animal?", "The cheetah"),
    ("What do pandas mostly eat?", "Bamboo"),
    ("Which animal is known for carrying its home on its back?", "The snail"),
    ("Which animal has black and white stripes?", "The zebra"),
    ("Which sea creature has eight arms?", "The octopus"),
    ("How many continents are there?", "Seven"),
    ("Which is the longest river in Africa?", "The Nile"),
    ("Which is the largest desert in the world that is hot?", "The Sahara"),
    ("Which ocean lies between Europe and America?", "The Atlantic Ocean"),
    ("Which is the highest mountain in the world?", "Mount Everest"),
    ("Which country has the largest population in South America?", "Brazil"),
    ("In which country is the Eiffel Tower?", "France"),
    ("In which city is the Colosseum?", "Rome"),
    ("In which country is the Great Wall?", "China"),
    ("In which country is the Taj Mahal?", "India"),
    ("In which city is the Statue of Liberty?", "New York"),
    ("In which country are kangaroos found in the wild?", "Australia"),
    ("Which country is shaped like a boot?", "Italy"),
    ("Which country is home to the city of Toronto?", "Canada"),
    ("What is the largest country by area?", "Russia"),
    ("How many minutes are in an hour?", "Sixty"),
    ("How many sides does a cube have?", "Six"),
    ("How many players are on a soccer team on the field?", "Eleven"),
    ("How many strings does a standard guitar have?", "Six"),
    ("How many keys does a standard piano have?", "88"),
    ("How many weeks are in a year?", "52"),
    ("How many days does a leap year have?", "366"),
    ("What is the first month of the year?", "January"),
    ("What is the last month of the year?", "December"),
    ("Which season comes after winter?", "Spring"),
    ("Which day comes before Sunday?", "Saturday"),
    ("What do you call a word that means the opposite of another word?", "An antonym"),
    ("What instrument has black and white keys?", "The piano"),
    ("What is the main ingredient of guacamole?", "Avocado"),
    ("Which fruit is used to make wine?", "Grapes"),
    ("What is the main ingredient in bread?", "Flour"),
    ("Which drink is made from roasted beans?", "Coffee"),
    ("What do cows drink?", "Water"),
    ("Which vegetable makes people cry when they cut it?", "The onion"),
    ("Which metal is liquid at room temperature?", "Mercury"),
    ("What is the hardest natural substance?", "Diamond"),
    ("What force keeps us on the ground?", "Gravity"),
    ("What is the center of an atom called?", "The nucleus"),
    ("What kind of energy comes from the Sun?", "Solar energy"),
    ("What is the boiling point of water in Fahrenheit?", "212 degrees"),
    ("Which language has the most native speakers?", "Mandarin Chinese"),
    ("Which alphabet letter comes after A?", "B"),
    ("What is the square root of nine?", "Three"),
    ("What is half of one hundred?", "Fifty"),
    ("What is ten times ten?", "One hundred"),
    ("Which shape has no corners?", "A circle"),
    ("What color do you get by mixing blue and yellow?", "Green"),
    ("What color do you get by mixing red and white?", "Pink"),
    ("Which sport uses a bat and a ball and wickets?", "Cricket"),
    ("Which game is played on a board with kings, queens and pawns?", "Chess"),
    ("How many rings are on the Olympic flag?", "Five"),
    ("Which country hosted the first modern Olympic Games?", "Greece"),
    ("What is the frozen form of water called?", "Ice"),
    ("What falls from clouds when it rains?", "Water"),
    ("What do you call a scientist who studies rocks?", "A geologist"),
    ("What do you call a doctor who treats teeth?", "A dentist"),
    ("Who delivers letters to houses?", "A postman"),
    ("What is the opposite of north?", "South"),
]

SDQA_GENERATORS = [  # (templates, table): each template takes (key) and the table gives the reference
    (["Which city is the capital of {}?", "Name the capital city of {}."], CAPITALS),
    (["On which continent is {}?"], CONTINENTS),
    (["Which currency is used in {}?"], CURRENCIES),
    (["What is the chemical symbol of {}?"], SYMBOLS),
    (["What is a young {} called?"], YOUNG),
    (["Which river runs through {}?"], RIVERS),
    (["How many sides does {} have?"], SIDES),
    (["What do you call a person from {}?"], DEMONYMS),
]


def sdqa_items() -> list[tuple[str, str]]:
    """Every (question, reference): each table entry once with one of its templates, then the hand-written ones."""
    rng = random.Random(SEED)
    items = []
    for templates, facts in SDQA_GENERATORS:
        for key, answer in facts.items():
            items.append((rng.choice(templates).format(key), answer[0].upper() + answer[1:]))
    items += HANDWRITTEN
    rng.shuffle(items)
    return items


# ---------------------------------------------------------------------------------------------------- MCQs
def _options(rng: random.Random, answer: str, pool: Sequence[str]) -> tuple[list[str], str]:
    """The answer and three distinct distractors from `pool`, shuffled; -> (options, letter)."""
    distractors = rng.sample(sorted(set(pool) - {answer}), 3)
    options = distractors + [answer]
    rng.shuffle(options)
    return options, voicebench.MCQ_CHOICES[options.index(answer)]


def _from_table(rng, template: str, facts: dict[str, str], domain: str) -> list[tuple[str, str, list[str], str]]:
    out = []
    for key, answer in facts.items():
        options, letter = _options(rng, answer, list(facts.values()))
        out.append((domain, template.format(key), options, letter))
    return out


HANDWRITTEN_MCQ = [  # (domain, question, answer, distractors)
    ("business", "What is money borrowed from a bank called?", "a loan", ["a gift", "a salary", "a refund"]),
    ("business", "What do we call the people who buy a company's products?", "customers", ["suppliers", "rivals", "judges"]),
    ("business", "What is a written record of money owed for goods called?", "an invoice", ["a poem", "a recipe", "a map"]),
    ("business", "What is the part of a company's earnings paid to shareholders?", "a dividend", ["a fine", "a wage", "a tariff"]),
    ("business", "What do we call selling goods to other countries?", "exporting", ["importing", "borrowing", "hiring"]),
    ("business", "Who manages a shop on behalf of the owner?", "a manager", ["a poet", "a pilot", "a surgeon"]),
    ("business", "What is a symbol that identifies a company's products?", "a trademark", ["a passport", "a stamp", "a fossil"]),
    ("business", "What is the total money a company takes in from sales?", "revenue", ["rent", "debt", "tax"]),
    ("business", "What do we call a sudden fall in share prices?", "a crash", ["a boom", "a merger", "a bonus"]),
    ("business", "What is a meeting of a company's owners once a year called?", "an annual general meeting",
     ["a wedding", "a concert", "a trial"]),
    ("engineering", "Which tool is used to drive nails?", "a hammer", ["a saw", "a ruler", "a brush"]),
    ("engineering", "Which simple machine is a wheel with a rope used to lift loads?", "a pulley", ["a wedge", "a screw", "a ramp"]),
    ("engineering", "What material is concrete mostly made with?", "cement", ["sugar", "wool", "glass"]),
    ("engineering", "Which device changes the voltage of electricity?", "a transformer", ["a thermometer", "a compass", "a lens"]),
    ("engineering", "What does a bridge mainly need to carry safely?", "loads", ["sounds", "colors", "smells"]),
    ("engineering", "Which part of a car turns fuel into motion?", "the engine", ["the mirror", "the seat", "the horn"]),
    ("engineering", "What is used to measure length?", "a ruler", ["a scale", "a clock", "a funnel"]),
    ("engineering", "Which material conducts electricity best?", "copper", ["rubber", "wood", "plastic"]),
    ("engineering", "What keeps a building's roof from collapsing?", "beams", ["curtains", "carpets", "paint"]),
    ("engineering", "Which energy source uses moving air?", "wind power", ["coal", "oil", "gas"]),
    ("law", "Who decides the verdict in many criminal trials?", "a jury", ["a chef", "a nurse", "a pilot"]),
    ("law", "What is a law made by a parliament called?", "a statute", ["a novel", "a song", "a menu"]),
    ("law", "What do we call a person accused of a crime in court?", "the defendant", ["the referee", "the host", "the tutor"]),
    ("law", "What is a lawyer who argues for the government in a criminal trial called?", "a prosecutor",
     ["a plumber", "a jockey", "a banker"]),
    ("law", "What is a promise that can be enforced by law?", "a contract", ["a rumor", "a poem", "a joke"]),
    ("law", "What is money paid as a punishment called?", "a fine", ["a tip", "a loan", "a prize"]),
    ("law", "What is the highest court in the United States called?", "the Supreme Court",
     ["the Food Court", "the Tennis Court", "the Royal Court"]),
    ("law", "What must a witness do in court before speaking?", "swear an oath", ["sing a song", "pay a fee", "wear a hat"]),
    ("law", "What do we call breaking into a house to steal?", "burglary", ["gardening", "baking", "painting"]),
    ("law", "Who can pardon a criminal in many countries?", "the head of state", ["a cashier", "a farmer", "a student"]),
    ("philosophy", "Which philosopher taught Alexander the Great?", "Aristotle", ["Newton", "Darwin", "Mozart"]),
    ("philosophy", "Which branch of philosophy studies knowledge?", "epistemology", ["zoology", "geology", "botany"]),
    ("philosophy", "Who wrote The Republic?", "Plato", ["Dickens", "Tolkien", "Orwell"]),
    ("philosophy", "Which philosopher said I think, therefore I am?", "Descartes", ["Edison", "Picasso", "Columbus"]),
    ("philosophy", "What does the word philosophy mean in Greek?", "love of wisdom", ["fear of water", "love of music", "study of stars"]),
    ("philosophy", "Which Chinese thinker taught respect for family and elders?", "Confucius", ["Napoleon", "Galileo", "Homer"]),
    ("philosophy", "Which branch of philosophy studies beauty and art?", "aesthetics", ["accounting", "chemistry", "surgery"]),
    ("philosophy", "Which branch of philosophy studies correct reasoning?", "logic", ["cooking", "dance", "sculpture"]),
    ("philosophy", "Which Greek philosopher was sentenced to drink poison?", "Socrates", ["Caesar", "Einstein", "Beethoven"]),
    ("philosophy", "What is a statement accepted as true without proof in an argument?", "an assumption",
     ["a melody", "a recipe", "a mountain"]),
    ("psychology", "What is the study of the mind and behavior called?", "psychology", ["geography", "astronomy", "botany"]),
    ("psychology", "Who is known as the founder of psychoanalysis?", "Sigmund Freud", ["Isaac Newton", "Marie Curie", "Julius Caesar"]),
    ("psychology", "What do we call a strong fear of spiders?", "arachnophobia", ["insomnia", "nostalgia", "amnesia"]),
    ("psychology", "What is the loss of memory called?", "amnesia", ["asthma", "anemia", "allergy"]),
    ("psychology", "Which scientist trained dogs to salivate at a bell?", "Ivan Pavlov", ["Charles Darwin", "Galileo Galilei", "Louis Pasteur"]),
    ("psychology", "What is a long-lasting feeling of deep sadness called?", "depression", ["excitement", "curiosity", "pride"]),
    ("psychology", "What do we call the state of being unable to sleep?", "insomnia", ["hunger", "thirst", "fever"]),
    ("psychology", "What is a reward given to encourage a behavior called?", "reinforcement", ["punishment", "erosion", "friction"]),
    ("psychology", "What do we call thinking about one's own thoughts?", "metacognition", ["photosynthesis", "digestion", "evaporation"]),
    ("psychology", "Which feeling usually comes with danger?", "fear", ["boredom", "sleepiness", "hunger"]),
    ("other", "Which is a musical instrument?", "a violin", ["a spoon", "a carpet", "a pillow"]),
    ("other", "Which sport is played at Wimbledon?", "tennis", ["golf", "rugby", "boxing"]),
    ("other", "Which of these is a fruit?", "a mango", ["a carrot", "a potato", "an onion"]),
    ("other", "What do bees make?", "honey", ["milk", "silk", "wool"]),
    ("other", "Which of these is a season?", "autumn", ["Tuesday", "noon", "March"]),
    ("other", "Which of these is used to tell the time?", "a clock", ["a kettle", "a broom", "a sock"]),
    ("other", "Which of these is a vegetable?", "a carrot", ["a banana", "a cherry", "a grape"]),
    ("other", "Which of these do you wear on your feet?", "shoes", ["gloves", "hats", "scarves"]),
    ("other", "Which of these can fly?", "a sparrow", ["a cow", "a pig", "a goat"]),
    ("other", "Which of these is a color?", "purple", ["Monday", "seven", "winter"]),
    ("history", "Who was the first emperor of Rome?", "Augustus", ["Nero", "Caligula", "Trajan"]),
    ("history", "Which ship sank on its first voyage in 1912?", "the Titanic", ["the Mayflower", "the Victory", "the Beagle"]),
    ("history", "Which civilization built Machu Picchu?", "the Inca", ["the Vikings", "the Romans", "the Greeks"]),
    ("history", "Who led India's movement for independence with nonviolence?", "Mahatma Gandhi",
     ["Winston Churchill", "Napoleon Bonaparte", "Abraham Lincoln"]),
    ("history", "Which wall divided a German city until 1989?", "the Berlin Wall", ["Hadrian's Wall", "the Great Wall", "the Western Wall"]),
]
DATES = {"the end of the Second World War": "1945", "the first Moon landing": "1969",
         "the fall of the Berlin Wall": "1989", "Columbus reaching the Americas": "1492",
         "the start of the First World War": "1914", "the sinking of the Titanic": "1912"}
ORGANS = {"pumps blood": "the heart", "filters blood to make urine": "the kidneys", "takes in air": "the lungs",
          "digests food with acid": "the stomach", "controls the body and thought": "the brain",
          "covers the whole body": "the skin", "stores bile": "the gallbladder", "makes insulin": "the pancreas",
          "lets us see": "the eyes", "lets us hear": "the ears"}
UNITS = {"electric current": "the ampere", "force": "the newton", "energy": "the joule", "power": "the watt",
         "temperature in science": "the kelvin", "mass": "the kilogram", "length": "the meter", "time": "the second",
         "electric charge": "the coulomb", "frequency": "the hertz"}


def mcq_items() -> tuple[list[tuple[str, list[str], str]], dict[str, list[tuple[str, list[str], str]]]]:
    """(openbookqa items, {mmsu domain: items}); an item is (question, options, letter)."""
    rng = random.Random(SEED + 1)
    mmsu: dict[str, list] = {domain: [] for domain in voicebench.MMSU_SPLITS}
    pool = [
        *_from_table(rng, "What is the chemical symbol of {}?", SYMBOLS, "chemistry"),
        *_from_table(rng, "Which group of animals does {} belong to?", CLASSES, "biology"),
        *_from_table(rng, "What is the money of {} called?", CURRENCIES, "economics"),
        *_from_table(rng, "In which year did {} happen?", DATES, "history"),
        *_from_table(rng, "Which organ {}?", ORGANS, "health"),
        *_from_table(rng, "What is the unit of {}?", UNITS, "physics"),
        *_from_table(rng, "Which city is the capital of {}?", CAPITALS, "openbookqa"),
        *_from_table(rng, "What is a young {} called?", YOUNG, "openbookqa"),
        *_from_table(rng, "Which river flows through {}?", RIVERS, "openbookqa"),
        *_from_table(rng, "How many sides does {} have?", SIDES, "openbookqa"),
        *_from_table(rng, "Which continent is home to {}?", CONTINENTS, "openbookqa"),
    ]
    for domain, question, answer, distractors in HANDWRITTEN_MCQ:
        options = distractors + [answer]
        rng.shuffle(options)
        pool.append((domain, question, options, voicebench.MCQ_CHOICES[options.index(answer)]))
    rng.shuffle(pool)
    openbookqa = []
    for domain, question, options, letter in pool:
        target = mmsu.get(domain)
        if target is not None and len(target) < MMSU_PER_DOMAIN:
            target.append((question, options, letter))
        elif len(openbookqa) < OPENBOOKQA_ITEMS:
            openbookqa.append((question, options, letter))
    short = [d for d, items in mmsu.items() if len(items) < MMSU_PER_DOMAIN]
    if short:
        raise RuntimeError(f"mmsu domains with fewer than {MMSU_PER_DOMAIN} items: {short}")
    return openbookqa, mmsu


# ---------------------------------------------------------------------------------------------------- building
class Rotation:
    """The voice of the n-th spoken item: VOICES in turn."""

    def __init__(self):
        self.n = 0

    def __call__(self) -> sample.Voice:
        voice = sample.Voice(*VOICES[self.n % len(VOICES)])
        self.n += 1
        return voice


def build() -> dict[str, datasets.DatasetDict]:
    sample.STORED_BITS = STORED_BITS
    voice = Rotation()
    with_reference = {"audio": sample.AUDIO_STRUCT, "prompt": sample.TEXT, "reference": sample.TEXT}
    sdqa = sdqa_items()
    usa = sample.table([{"audio": voice().flac(q), "prompt": q, "reference": r} for q, r in sdqa], with_reference)
    splits = {"usa": usa}
    for split in voicebench.SDQA_SPLITS:
        if split != "usa":
            splits[split] = usa.select(range(SDQA_OTHER_SPLIT_ITEMS))

    def mcq(items):
        rows = [{"audio": voice().flac(p), "prompt": p, "reference": letter}
                for p, letter in ((sample.mcq_prompt(q, options), letter) for q, options, letter in items)]
        return sample.table(rows, with_reference)

    openbookqa, mmsu = mcq_items()
    return {
        "sd-qa": datasets.DatasetDict(splits),
        "openbookqa": datasets.DatasetDict({"test": mcq(openbookqa)}),
        "mmsu": datasets.DatasetDict({domain: mcq(mmsu[domain]) for domain in voicebench.MMSU_SPLITS}),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_HELDOUT, help="output root (default: %(default)s)")
    args = parser.parse_args(argv)
    datasets.disable_progress_bars()
    configs = build()
    sample.save(configs, args.out)
    for name, splits in configs.items():
        rows = sum(len(s) for s in splits.values())
        print(f"{name}: {len(splits)} splits, {rows} rows")
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"{size / 2**20:.2f} MiB in {args.out}")


if __name__ == "__main__":
    main()
