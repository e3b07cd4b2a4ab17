"""Medication orders: who prescribes, benzodiazepine courses, PRN fields, allergies to the drug's class."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, NotAllowed, ValidationFailed
from patients.tests.factories import PatientFactory
from treatment import services as treatment_services
from treatment.detox import services
from treatment.detox.catalogue import SEED_DRUGS, allergy_conflicts, drug_terms
from treatment.detox.models import Drug, MedicationOrder
from treatment.models import Stage


def prescribe(actor, episode, drug, **fields):
    defaults = {"dose": Decimal("0.1"), "dose_unit": "mg", "frequency": "q6h"}
    return services.medication_order_create(actor=actor, episode=episode, drug=drug, **{**defaults, **fields})


def days(n: float) -> datetime.timedelta:
    return datetime.timedelta(days=n)


# --- The catalogue -----------------------------------------------------------------------------------------


def test_the_catalogue_holds_the_seed_list_with_classes_and_controlled_flags(drug_catalogue):
    assert set(drug_catalogue) == {seed.code for seed in SEED_DRUGS}
    assert len(drug_catalogue) == 16
    controlled = {code: drug.schedule for code, drug in drug_catalogue.items() if drug.controlled}
    assert controlled == {"diazepam": "IV", "lorazepam": "IV", "chlordiazepoxide": "IV", "buprenorphine": "III"}
    assert {code for code, drug in drug_catalogue.items() if drug.drug_class == "benzodiazepine"} == {
        "diazepam", "lorazepam", "chlordiazepoxide"
    }  # fmt: skip
    assert drug_catalogue["buprenorphine"].default_route == "sublingual"
    assert {drug_catalogue[code].drug_class for code in ("magnesium", "omega_3", "b_complex", "probiotics")} == {
        "supplement"
    }


def test_ensuring_the_catalogue_again_adds_nothing(drug_catalogue):
    assert services.drug_catalogue_ensure() == 0
    assert Drug.objects.count() == 16


# --- Who prescribes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.NURSE, Role.COUNSELOR, Role.CASE_MANAGER, Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_only_a_physician_prescribes(role, staff, episode, drug):
    with pytest.raises(NotAllowed) as refused:
        prescribe(staff[role], episode, drug("clonidine"))
    assert str(refused.value) == "Only a physician may prescribe."
    assert not MedicationOrder.objects.exists()


def test_a_physician_prescribes_and_the_order_is_audited(episode, physician, drug):
    order = prescribe(physician, episode, drug("clonidine"), starts_at=timezone.now() + datetime.timedelta(seconds=42))
    assert order.prescriber == physician
    assert order.route == "oral"  # the drug's route by default
    assert order.starts_at.second == 0
    assert order.starts_at.microsecond == 0
    event = AuditEvent.objects.get(model="detox.medicationorder", object_id=str(order.pk), action="create")
    assert event.detail == {"drug": "clonidine", "frequency": "q6h", "controlled": False, "allergy_override": False}
    assert event.patient_id == episode.patient_id


def test_no_order_on_a_closed_episode(episode_in, physician, drug, facility):
    closed = episode_in(Stage.DISCHARGED, PatientFactory(facility=facility))
    with pytest.raises(Conflict) as refused:
        prescribe(physician, closed, drug("clonidine"))
    assert refused.value.code == "episode_closed"


# --- Benzodiazepines: a short course -------------------------------------------------------------------------


def test_a_benzodiazepine_needs_a_stop_date(episode, physician, drug):
    with pytest.raises(ValidationFailed) as refused:
        prescribe(physician, episode, drug("diazepam"), dose=Decimal("10"))
    assert refused.value.fields == {
        "stops_at": ["A benzodiazepine is a short course: give a stop date (at most 14 days)."]
    }


@pytest.mark.parametrize("code", ["diazepam", "lorazepam", "chlordiazepoxide"])
def test_a_benzodiazepine_may_last_fourteen_days_and_not_a_minute_more(code, episode, physician, drug):
    start = timezone.now().replace(second=0, microsecond=0)
    with pytest.raises(ValidationFailed) as refused:
        prescribe(
            physician, episode, drug(code), starts_at=start, stops_at=start + days(14) + datetime.timedelta(minutes=1)
        )
    assert refused.value.fields == {"stops_at": ["A benzodiazepine order may last at most 14 days."]}
    order = prescribe(physician, episode, drug(code), starts_at=start, stops_at=start + days(14))
    assert order.stops_at - order.starts_at == days(14)


def test_other_drugs_need_no_stop_date(episode, physician, drug):
    assert prescribe(physician, episode, drug("clonidine"), stops_at=None).stops_at is None


def test_the_stop_comes_after_the_start(episode, physician, drug):
    start = timezone.now().replace(second=0, microsecond=0)
    with pytest.raises(ValidationFailed) as refused:
        prescribe(physician, episode, drug("clonidine"), starts_at=start, stops_at=start)
    assert refused.value.fields == {"stops_at": ["Must be after the start."]}


# --- PRN --------------------------------------------------------------------------------------------------------


def test_a_prn_order_names_its_indication_and_minimum_interval(episode, physician, drug):
    with pytest.raises(ValidationFailed) as refused:
        prescribe(physician, episode, drug("ondansetron"), frequency="prn")
    assert set(refused.value.fields) == {"indication", "min_interval_minutes"}
    order = prescribe(
        physician, episode, drug("ondansetron"), frequency="prn", indication="Nausea", min_interval_minutes=480
    )
    assert order.is_prn
    assert order.min_interval == datetime.timedelta(hours=8)


def test_a_scheduled_order_takes_no_prn_fields(episode, physician, drug):
    with pytest.raises(ValidationFailed) as refused:
        prescribe(physician, episode, drug("clonidine"), indication="Anxiety", min_interval_minutes=60)
    assert refused.value.fields == {
        "indication": ["Only a PRN (as needed) order has this."],
        "min_interval_minutes": ["Only a PRN (as needed) order has this."],
    }


def test_a_symptom_triggered_order_names_a_band_of_its_instrument(episode, physician, drug):
    prn = {"frequency": "prn", "indication": "Withdrawal", "min_interval_minutes": 240}
    with pytest.raises(ValidationFailed) as refused:
        prescribe(physician, episode, drug("clonidine"), prn_instrument="cows", prn_min_band="severe-ish", **prn)
    assert refused.value.fields == {"prn_min_band": ["Choose one of none, mild, moderate, moderately_severe, severe."]}
    with pytest.raises(ValidationFailed) as refused:
        prescribe(physician, episode, drug("clonidine"), prn_instrument="cows", **prn)
    assert list(refused.value.fields) == ["prn_min_band"]
    order = prescribe(physician, episode, drug("clonidine"), prn_instrument="cows", prn_min_band="moderate", **prn)
    assert (order.prn_instrument, order.prn_min_band) == ("cows", "moderate")


# --- Allergies ------------------------------------------------------------------------------------------------


def allergic(patient, substance):
    from patients.models import Allergy

    return Allergy.objects.create(patient=patient, substance=substance, severity="severe")


@pytest.mark.parametrize(
    ("allergy", "code"),
    [
        ("Benzodiazepines", "lorazepam"),  # the class
        ("benzos (rash)", "diazepam"),  # the class, as people write it
        ("Diazepam", "chlordiazepoxide"),  # another member of a cross-reacting class
        ("NSAIDs", "ibuprofen"),
        ("Advil", "ibuprofen"),  # a brand name
        ("Paracetamol", "acetaminophen"),  # a synonym
        ("Opioids", "buprenorphine"),
    ],
)
def test_a_documented_allergy_to_the_drugs_class_is_refused(allergy, code, episode, patient, physician, drug):
    allergic(patient, allergy)
    fields = {"stops_at": timezone.now() + days(3)} if drug(code).is_benzodiazepine else {}
    with pytest.raises(Conflict) as refused:
        prescribe(physician, episode, drug(code), **fields)
    assert refused.value.code == "allergy_conflict"
    assert refused.value.details == {"allergies": [allergy.lower()]}
    assert refused.value.fields == {"allergy_override_reason": ["Required to override a documented allergy."]}
    assert not MedicationOrder.objects.exists()


@pytest.mark.parametrize(
    ("allergy", "code"),
    [
        ("Penicillin", "clonidine"),
        ("Sulfonamides", "ondansetron"),
        ("Magnesium", "probiotics"),
        ("Codeine", "ibuprofen"),
    ],
)
def test_unrelated_allergies_do_not_stop_an_order(allergy, code, episode, patient, physician, drug):
    allergic(patient, allergy)
    assert prescribe(physician, episode, drug(code)).allergy_conflicts == []


def test_the_prescriber_may_override_an_allergy_with_a_reason(episode, patient, physician, drug):
    allergic(patient, "NSAIDs")
    order = prescribe(
        physician, episode, drug("ibuprofen"), allergy_override_reason="  Mild GI upset only; PPI cover. "
    )
    assert order.allergy_conflicts == ["nsaids"]
    assert order.allergy_override_reason == "Mild GI upset only; PPI cover."
    event = AuditEvent.objects.get(model="detox.medicationorder", object_id=str(order.pk))
    assert event.detail["allergy_override"] is True


def test_the_allergy_rule_reads_whole_words():
    benzodiazepine = drug_terms(name="Diazepam", synonyms=["valium"], drug_class="benzodiazepine")
    assert allergy_conflicts(["benzoyl peroxide"], benzodiazepine) == []  # "benzo" only as a whole word
    assert allergy_conflicts(["benzo"], benzodiazepine) == ["benzo"]
    assert allergy_conflicts(["Valium - hives"], benzodiazepine) == ["Valium - hives"]
    magnesium = drug_terms(name="Magnesium", synonyms=["magnesium oxide"], drug_class="supplement")
    assert allergy_conflicts(["magnesium stearate"], magnesium) == ["magnesium stearate"]  # safer to ask
    probiotics = drug_terms(name="Probiotics", synonyms=[], drug_class="supplement", class_members=["fish oil"])
    assert allergy_conflicts(["fish oil"], probiotics) == []  # supplements do not cross-react


# --- Discontinuing ------------------------------------------------------------------------------------------


def test_a_physician_discontinues_an_order_with_a_reason(episode, physician, nurse, drug):
    order = prescribe(physician, episode, drug("clonidine"))
    with pytest.raises(NotAllowed):
        services.medication_order_discontinue(actor=nurse, order=order, reason="No longer needed.")
    with pytest.raises(ValidationFailed):
        services.medication_order_discontinue(actor=physician, order=order, reason=" ")
    order = services.medication_order_discontinue(actor=physician, order=order, reason="Hypotension.")
    assert (order.status, order.discontinued_by, order.discontinue_reason) == (
        "discontinued",
        physician,
        "Hypotension.",
    )
    with pytest.raises(Conflict):
        services.medication_order_discontinue(actor=physician, order=order, reason="Again.")
    assert AuditEvent.objects.filter(object_id=str(order.pk), action="discontinue").count() == 1


def test_orders_continue_after_detox_until_the_episode_closes(episode, physician, drug):
    order = prescribe(physician, episode, drug("clonidine"))
    treatment_services.episode_transition(actor=physician, episode=episode, to=Stage.THERAPY)
    order.refresh_from_db()
    assert order.status == "active"
