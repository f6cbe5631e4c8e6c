"""A deterministic toy sign language: gloss sequences and their English translations.

Signs follow a topic-first order (TIME LOCATION SUBJECT OBJECT VERB [NOT]); the English text
reorders them into subject-verb-object order and inflects: tense from the time sign, agreement
with the subject, plural from MANY, articles, negation with an auxiliary. Translation is thus
learnable but not word for word. Files are written in the gzip-pickled annotation format of the
real datasets, so every reader and command works on them unchanged.
"""

from __future__ import annotations

import gzip
import pickle
import random
from pathlib import Path

TIMES = {"YESTERDAY": "past", "TODAY": "present", "TOMORROW": "future"}
LOCATIONS = {"SCHOOL": "at school", "HOME": "at home", "CITY": "in the city", "PARK": "in the park"}
PRONOUNS = {"IX-1": "i", "IX-2": "you", "IX-3": "she"}
PERSONS = ("MOTHER", "FATHER", "FRIEND", "TEACHER", "DOCTOR", "CHILD")
OBJECTS = ("BOOK", "APPLE", "CAR", "HOUSE", "LETTER", "BALL", "CAKE", "CUP")
ADJECTIVES = ("BIG", "SMALL", "RED", "NEW", "OLD", "GOOD")
# verb: (base, third person singular, past)
VERBS = {
    "BUY": ("buy", "buys", "bought"),
    "READ": ("read", "reads", "read"),
    "SEE": ("see", "sees", "saw"),
    "LIKE": ("like", "likes", "liked"),
    "WANT": ("want", "wants", "wanted"),
    "EAT": ("eat", "eats", "ate"),
    "FIND": ("find", "finds", "found"),
    "SELL": ("sell", "sells", "sold"),
    "WRITE": ("write", "writes", "wrote"),
    "CARRY": ("carry", "carries", "carried"),
}
PLURAL, NEGATION = "MANY", "NOT"
PLURAL_NOUNS = {"CHILD": "children"}
SPLIT_SEED_OFFSET = {"train": 0, "dev": 1_000_003, "test": 2_000_029}


def glossary() -> list[str]:
    """Every gloss of the language."""
    return [*TIMES, *LOCATIONS, *PRONOUNS, *PERSONS, *OBJECTS, *ADJECTIVES, *VERBS, PLURAL, NEGATION]


def _noun_phrase(noun: str, plural: bool, adjective: str | None, definite: bool) -> str:
    word = PLURAL_NOUNS.get(noun, noun.lower() + "s") if plural else noun.lower()
    words = [adjective.lower(), word] if adjective else [word]
    if plural:
        return " ".join(["the", *words] if definite else words)
    article = "the" if definite else ("an" if words[0][0] in "aeiou" else "a")
    return " ".join([article, *words])


def _verb_phrase(verb: str, tense: str, third_singular: bool, negated: bool) -> str:
    base, third, past = VERBS[verb]
    if tense == "future":
        return f"will not {base}" if negated else f"will {base}"
    if tense == "past":
        return f"did not {base}" if negated else past
    if negated:
        return f"does not {base}" if third_singular else f"do not {base}"
    return third if third_singular else base


def make_sentence(rng: random.Random) -> tuple[str, str]:
    """One random (gloss sequence, English text) pair."""
    glosses: list[str] = []
    time = rng.choice([None, *TIMES])
    location = rng.choice([None, None, *LOCATIONS])
    glosses += [g for g in (time, location) if g]
    subject = rng.choice([*PRONOUNS, *PERSONS])
    subject_plural = subject in PERSONS and rng.random() < 0.3
    glosses += [subject, PLURAL] if subject_plural else [subject]
    obj, adjective = rng.choice(OBJECTS), rng.choice([None, None, *ADJECTIVES])
    object_plural = rng.random() < 0.3
    glosses += [g for g in (obj, adjective) if g] + ([PLURAL] if object_plural else [])
    verb, negated = rng.choice(list(VERBS)), rng.random() < 0.25
    glosses += [verb, NEGATION] if negated else [verb]

    if subject in PRONOUNS:
        subject_text, third_singular = PRONOUNS[subject], subject == "IX-3"
    else:
        subject_text = _noun_phrase(subject, subject_plural, None, definite=True)
        third_singular = not subject_plural
    words = [
        subject_text,
        _verb_phrase(verb, TIMES.get(time, "present"), third_singular, negated),
        _noun_phrase(obj, object_plural, adjective, definite=False),
    ]
    if location:
        words.append(LOCATIONS[location])
    if time:
        words.append(time.lower())
    return " ".join(glosses), " ".join(words) + " ."


def generate_split(split: str, size: int, seed: int) -> list[dict]:
    """``size`` annotation records for ``split``, identical for identical arguments."""
    rng = random.Random(seed + SPLIT_SEED_OFFSET[split])
    records = []
    for index in range(size):
        gloss, text = make_sentence(rng)
        records.append(
            {
                "name": f"{split}/toy-{index:05d}",
                "signer": f"Signer{rng.randrange(1, 9):02d}",
                "gloss": gloss,
                "text": text,
                "num_frames": 16 * len(gloss.split()),
            }
        )
    return records


def write_records(records: list[dict], path: str | Path) -> None:
    """Write annotation records as a gzip-pickled list (atomically: a crash leaves no partial file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    with gzip.open(partial, "wb") as handle:
        pickle.dump(records, handle)
    partial.replace(target)


def write_toy_dataset(paths: dict[str, str], sizes: dict[str, int], seed: int) -> None:
    """Write each split's records to ``paths[split]``."""
    for split, path in paths.items():
        write_records(generate_split(split, sizes[split], seed), path)
