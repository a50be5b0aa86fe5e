"""Persona text (name, short bio, writing style), generated deterministically from the world's seed.

Each agent carries a row of small integer codes (``persona_codes``, shape ``(N, 5)``, ``uint16``):
first name, last name, trait, occupation, hobby. The text is a pure function of those codes and
the agent's ``style`` code, so it can be produced in bulk by SQLite (``persona_sql``) when a world is
persisted and for one agent in Python (``persona_text``) when a world has no file. A test keeps the
two identical. Text an agent or user sets later is kept as an override and wins over the codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIRST_NAMES = (
    "Ada",
    "Ahmed",
    "Aiko",
    "Alba",
    "Alejandro",
    "Amara",
    "Amir",
    "Ana",
    "Anders",
    "Anika",
    "Arjun",
    "Aurora",
    "Ayodele",
    "Bea",
    "Bilal",
    "Bruno",
    "Camila",
    "Chen",
    "Chiara",
    "Dara",
    "Dmitri",
    "Elena",
    "Elif",
    "Emeka",
    "Emma",
    "Esther",
    "Farah",
    "Felix",
    "Freya",
    "Gabriel",
    "Grace",
    "Hana",
    "Hassan",
    "Ines",
    "Ingrid",
    "Isaac",
    "Ivan",
    "Jamal",
    "Jana",
    "Javier",
    "Jia",
    "Jonas",
    "Kai",
    "Kamala",
    "Kenji",
    "Kofi",
    "Lars",
    "Layla",
    "Leo",
    "Lina",
    "Luca",
    "Lucia",
    "Mahmoud",
    "Maja",
    "Malik",
    "Mariam",
    "Mateo",
    "Maya",
    "Mei",
    "Mira",
    "Nadia",
    "Naveen",
    "Nia",
    "Noah",
    "Nora",
    "Olga",
    "Omar",
    "Oskar",
    "Paolo",
    "Priya",
    "Rafael",
    "Rania",
    "Ravi",
    "Rosa",
    "Ruth",
    "Sami",
    "Sara",
    "Sebastian",
    "Sofia",
    "Sven",
    "Tariq",
    "Thea",
    "Tomas",
    "Uma",
    "Valentina",
    "Victor",
    "Wei",
    "Xavier",
    "Yara",
    "Yusuf",
    "Zainab",
    "Zoe",
    "Aleksander",
    "Beatriz",
    "Cyrus",
    "Dalia",
    "Eitan",
    "Fatima",
    "Goran",
    "Helga",
)
LAST_NAMES = (
    "Abe",
    "Adeyemi",
    "Alvarez",
    "Andersen",
    "Bakker",
    "Banerjee",
    "Becker",
    "Bianchi",
    "Brown",
    "Castro",
    "Chen",
    "Costa",
    "Dubois",
    "Dvorak",
    "Eriksson",
    "Fernandes",
    "Fischer",
    "Garcia",
    "Ghosh",
    "Haddad",
    "Hansen",
    "Horvat",
    "Ibrahim",
    "Ivanova",
    "Jensen",
    "Kang",
    "Kaur",
    "Kim",
    "Kowalski",
    "Kuznetsov",
    "Larsen",
    "Lee",
    "Lopez",
    "Mahmoud",
    "Martin",
    "Mensah",
    "Moreau",
    "Muller",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Nowak",
    "Okafor",
    "Oliveira",
    "Osei",
    "Park",
    "Patel",
    "Perez",
    "Petrov",
    "Popescu",
    "Rahman",
    "Reyes",
    "Rossi",
    "Santos",
    "Sato",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Sokolov",
    "Suzuki",
    "Tanaka",
    "Torres",
    "Tran",
    "Ucar",
    "Vargas",
    "Virtanen",
    "Wang",
    "Weber",
    "Wilson",
    "Wojcik",
    "Yamamoto",
    "Yilmaz",
    "Zhang",
    "Zhou",
    "Zielinski",
    "Achebe",
    "Bergstrom",
    "Cohen",
)
TRAITS = (
    "Curious",
    "Skeptical",
    "Cheerful",
    "Outspoken",
    "Quiet",
    "Witty",
    "Thoughtful",
    "Restless",
    "Pragmatic",
    "Idealistic",
    "Sardonic",
    "Earnest",
    "Patient",
    "Impulsive",
    "Meticulous",
    "Easygoing",
)
OCCUPATIONS = (
    "teacher",
    "nurse",
    "software engineer",
    "student",
    "journalist",
    "farmer",
    "bus driver",
    "chef",
    "researcher",
    "accountant",
    "designer",
    "electrician",
    "lawyer",
    "pharmacist",
    "shop owner",
    "retiree",
    "data analyst",
    "musician",
    "carpenter",
    "doctor",
    "marketing manager",
    "librarian",
    "mechanic",
    "barista",
    "civil servant",
    "photographer",
    "social worker",
    "architect",
    "firefighter",
    "translator",
    "baker",
    "pilot",
)
HOBBIES = (
    "hiking",
    "chess",
    "baking bread",
    "birdwatching",
    "board games",
    "cycling",
    "knitting",
    "podcasts",
    "running",
    "gardening",
    "sci-fi novels",
    "jazz",
    "football",
    "photography",
    "woodworking",
    "video games",
    "yoga",
    "cooking",
    "vinyl records",
    "climbing",
    "painting",
    "poetry",
    "fishing",
    "karaoke",
)
STYLES = (
    "short and punchy",
    "long-winded and careful",
    "sarcastic",
    "warm, with emojis",
    "formal",
    "all lowercase, casual",
    "data-minded, asks for evidence",
    "enthusiastic!!!",
    "dry humour",
    "asks lots of questions",
    "blunt",
    "poetic",
)

POOLS = (FIRST_NAMES, LAST_NAMES, TRAITS, OCCUPATIONS, HOBBIES)
CODE_COLUMNS = ("first", "last", "trait", "occupation", "hobby")


@dataclass(frozen=True, slots=True)
class Persona:
    """The text that describes one agent."""

    name: str
    bio: str
    style: str


def draw_codes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw persona codes ``(n, 5) uint16`` and style codes ``(n,) uint8`` for ``n`` agents."""
    codes = np.empty((n, len(POOLS)), dtype=np.uint16)
    for j, pool in enumerate(POOLS):
        codes[:, j] = rng.integers(0, len(pool), size=n, dtype=np.uint16)
    styles = rng.integers(0, len(STYLES), size=n, dtype=np.uint8)
    return codes, styles


def persona_text(codes: np.ndarray, style: int) -> Persona:
    """The persona for one agent's codes. Must match :func:`persona_sql` exactly."""
    first, last, trait, occupation, hobby = (int(c) for c in codes)
    name = f"{FIRST_NAMES[first]} {LAST_NAMES[last]}"
    bio = f"{TRAITS[trait]} {OCCUPATIONS[occupation]} who loves {HOBBIES[hobby]}."
    return Persona(name=name, bio=bio, style=STYLES[int(style)])


def pool_rows() -> list[tuple[str, int, str]]:
    """Rows ``(kind, code, word)`` of the ``persona_words`` table used by :func:`persona_sql`."""
    rows: list[tuple[str, int, str]] = []
    for kind, pool in zip(CODE_COLUMNS, POOLS):
        rows.extend((kind, i, w) for i, w in enumerate(pool))
    rows.extend(("style", i, w) for i, w in enumerate(STYLES))
    return rows


def persona_sql(code: dict[str, str]) -> tuple[str, str, str]:
    """SQL expressions for name, bio and style, given an SQL expression for each code
    (keys ``first, last, trait, occupation, hobby, style``), reading table ``persona_words``."""

    def word(kind: str) -> str:
        return f"(SELECT word FROM persona_words WHERE kind = '{kind}' AND code = {code[kind]})"

    name = f"{word('first')} || ' ' || {word('last')}"
    bio = f"{word('trait')} || ' ' || {word('occupation')} || ' who loves ' || {word('hobby')} || '.'"
    return name, bio, word("style")
