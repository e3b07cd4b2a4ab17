"""The drug catalogue as data: drug classes (with the words an allergy to the class is written with) and the
seed list of drugs used in supervised withdrawal, and the one rule that matches allergies against a drug.

Pure Python, so the data migration that seeds the catalogue and the rules read the same table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DrugClassInfo:
    label: str
    # Words a documented allergy to the whole class is written with ("benzodiazepines", "NSAIDs").
    allergy_terms: tuple[str, ...] = ()
    # True where an allergy to one member is taken as an allergy to every member (the class cross-reacts).
    cross_reactive: bool = False


# fmt: off
DRUG_CLASSES: dict[str, DrugClassInfo] = {
    "alpha2_agonist":         DrugClassInfo("Alpha-2 adrenergic agonist", ("alpha-2 agonist", "alpha-2 agonists"),
                                            True),
    "benzodiazepine":         DrugClassInfo("Benzodiazepine", ("benzodiazepine", "benzodiazepines", "benzo", "benzos"),
                                            True),
    "opioid_partial_agonist": DrugClassInfo("Partial opioid agonist", ("opioid", "opioids", "partial opioid agonist",
                                                                       "partial opioid agonists"), True),
    "antiemetic":             DrugClassInfo("Antiemetic (5-HT3 antagonist)", ("5-ht3 antagonist", "5-ht3 antagonists",
                                                                              "setrons"), True),
    "antidiarrheal":          DrugClassInfo("Antidiarrheal", ("antidiarrheal", "antidiarrheals")),
    "nsaid":                  DrugClassInfo("NSAID", ("nsaid", "nsaids", "non-steroidal anti-inflammatory",
                                                      "non-steroidal anti-inflammatory drugs"), True),
    "analgesic":              DrugClassInfo("Analgesic and antipyretic"),
    "sleep_aid":              DrugClassInfo("Sleep aid"),
    "antacid":                DrugClassInfo("Antacid", ("antacid", "antacids")),
    "electrolyte":            DrugClassInfo("Oral electrolytes", ("electrolytes",)),
    "supplement":             DrugClassInfo("Supplement"),
}
# fmt: on


@dataclass(frozen=True)
class SeedDrug:
    code: str
    name: str
    drug_class: str
    controlled: bool = False
    schedule: str = ""  # DEA schedule of a controlled substance
    route: str = "oral"
    unit: str = "mg"
    synonyms: tuple[str, ...] = ()


# fmt: off
SEED_DRUGS: tuple[SeedDrug, ...] = (
    SeedDrug("clonidine", "Clonidine", "alpha2_agonist", synonyms=("catapres",)),
    SeedDrug("diazepam", "Diazepam", "benzodiazepine", True, "IV", synonyms=("valium",)),
    SeedDrug("lorazepam", "Lorazepam", "benzodiazepine", True, "IV", synonyms=("ativan",)),
    SeedDrug("chlordiazepoxide", "Chlordiazepoxide", "benzodiazepine", True, "IV", synonyms=("librium",)),
    SeedDrug("buprenorphine", "Buprenorphine", "opioid_partial_agonist", True, "III", "sublingual",
             synonyms=("subutex",)),
    SeedDrug("ondansetron", "Ondansetron", "antiemetic", synonyms=("zofran",)),
    SeedDrug("loperamide", "Loperamide", "antidiarrheal", synonyms=("imodium",)),
    SeedDrug("ibuprofen", "Ibuprofen", "nsaid", synonyms=("advil", "motrin")),
    SeedDrug("acetaminophen", "Acetaminophen", "analgesic", synonyms=("paracetamol", "tylenol")),
    SeedDrug("melatonin", "Melatonin", "sleep_aid"),
    SeedDrug("antacid", "Antacid (calcium carbonate)", "antacid", unit="tablet", synonyms=("calcium carbonate",)),
    SeedDrug("oral_electrolytes", "Oral electrolyte solution", "electrolyte", unit="sachet",
             synonyms=("oral rehydration salts",)),
    SeedDrug("magnesium", "Magnesium", "supplement", synonyms=("magnesium oxide", "magnesium glycinate")),
    SeedDrug("omega_3", "Omega-3 fatty acids", "supplement", unit="capsule", synonyms=("omega-3", "fish oil")),
    SeedDrug("b_complex", "Vitamin B complex", "supplement", unit="tablet", synonyms=("b vitamins", "b-complex")),
    SeedDrug("probiotics", "Probiotics", "supplement", unit="capsule", synonyms=("probiotic",)),
)
# fmt: on


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


def _mentions(allergy: str, term: str) -> bool:
    """True when `term` appears in `allergy` as whole words ("Benzodiazepines (rash)" mentions "benzodiazepines")."""
    return re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", allergy) is not None


def drug_terms(*, name: str, synonyms: Iterable[str], drug_class: str, class_members: Iterable[str] = ()) -> set[str]:
    """Every word an allergy to this drug may be documented with: its name and synonyms, its class, and (for a
    cross-reactive class) the names and synonyms of the other drugs of the class (`class_members`)."""
    info = DRUG_CLASSES[drug_class]
    terms = {_normalised(name), *(_normalised(s) for s in synonyms), *info.allergy_terms}
    if info.cross_reactive:
        terms |= {_normalised(member) for member in class_members}
    return {term for term in terms if term}


def allergy_conflicts(allergies: Iterable[str], terms: set[str]) -> list[str]:
    """The documented allergies (as written) that name the drug, its class or a cross-reacting member."""
    return sorted({allergy for allergy in allergies if any(_mentions(_normalised(allergy), t) for t in terms)})
