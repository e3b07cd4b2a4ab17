"""What a message must never say: anything that reveals substance-use treatment.

Reminder texts travel over SMS, email and push, where a family member, an employer or a lock screen may
read them. Templates and the values put into them are checked against this list (and the facilities' own
names, which often name the specialty).
"""

import re
from collections.abc import Iterable

# Word stems: "addict" also catches "addiction", "addicted".
FORBIDDEN_STEMS = (
    "rehab",
    "detox",
    "addict",
    "kratom",
    "withdraw",
    "opioid",
    "opiate",
    "alcohol",
    "substance",
    "treatment center",
    "treatment centre",
    "recovery",
    "sober",
    "sobriety",
    "relapse",
    "craving",
    "narcotic",
    "methadone",
    "buprenorphine",
    "suboxone",
    "naloxone",
    "naltrexone",
    "overdose",
    "drug",
    "psychiatr",
    "mental health",
    "dependence",
    "abuse",
)

_STEMS = re.compile(r"\b(" + "|".join(re.escape(stem) for stem in FORBIDDEN_STEMS) + r")", re.IGNORECASE)


def indiscretions(text: str, *, also: Iterable[str] = ()) -> list[str]:
    """The forbidden stems and `also` terms (e.g. facility names) found in `text`, case-insensitively."""
    found = [match.group(1).lower() for match in _STEMS.finditer(text)]
    for term in also:
        term = term.strip()
        if term and re.search(r"\b" + re.escape(term) + r"\b", text, re.IGNORECASE):
            found.append(term.lower())
    return found
