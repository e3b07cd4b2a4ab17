"""Every detox endpoint, as one table: the clinician of the patient's facility succeeds and the read or write is in
the audit log (who, which record, which patient); staff of another facility get 404 (or a list without the
record) and write nothing; the patient the record is about and another patient get 403. The drug catalogue is
reference data without a patient (tested in test_drugs.py). clinic/tests/api/test_scope_walk.py walks the same
routes generically with SCOPED_OBJECT_MAKERS."""

from decimal import Decimal

import pytest

from clinic.audit.models import AuditEvent
from treatment.detox import services
from treatment.detox.models import DetoxCourse, MedicationAdministration, MedicationOrder, ObservationRound

from ..conftest import NORMAL_VITALS, open_round, responses_totalling


@pytest.fixture
def world(episode, physician, nurse, drug):
    """One of each detox record for `patient`: the course, its due round, a PRN order and a dose given."""
    order = services.medication_order_create(
        actor=physician, episode=episode, drug=drug("ondansetron"), dose=Decimal("4"), dose_unit="mg",
        frequency="prn", indication="Nausea", min_interval_minutes=480,
    )  # fmt: skip
    course = DetoxCourse.objects.get(episode=episode)
    return {
        "episode": episode,
        "course": course,
        "round": open_round(course),
        "order": order,
        "administration": services.medication_administer(actor=nurse, order=order, outcome="given"),
    }


# path, audit action, audited model, the record it is about
READS = [
    ("detox-courses/", "list", "detox.detoxcourse", "course"),
    ("detox-courses/{course}/", "view", "detox.detoxcourse", "course"),
    ("observation-rounds/", "list", "detox.observationround", "round"),
    ("observation-rounds/{round}/", "view", "detox.observationround", "round"),
    ("medication-orders/", "list", "detox.medicationorder", "order"),
    ("medication-orders/{order}/", "view", "detox.medicationorder", "order"),
    ("medication-administrations/", "list", "detox.medicationadministration", "administration"),
    ("medication-administrations/{administration}/", "view", "detox.medicationadministration", "administration"),
    ("episodes/{episode}/withdrawal-timeline/", "withdrawal_timeline", "treatment.episode", "episode"),
    ("episodes/{episode}/withdrawal-chart/", "withdrawal_chart", "treatment.episode", "episode"),
    ("episodes/{episode}/mar/", "mar", "treatment.episode", "episode"),
]


def url(path: str, world: dict) -> str:
    return "/api/v1/" + path.format(**{key: record.pk for key, record in world.items()})


def events_about(record, **filters):
    return AuditEvent.objects.filter(object_id=str(record.pk), **filters)


@pytest.mark.parametrize(("path", "action", "model", "about"), READS, ids=[read[0] for read in READS])
def test_reads_are_scoped_and_audited(path, action, model, about, world, nurse, other_staff, patient, other_patient,
                                      api):  # fmt: skip
    record = world[about]
    is_list = "{" not in path

    outsider = other_staff["nurse"]
    response = api(outsider).get(url(path, world))
    if is_list:
        assert response.status_code == 200
        assert response.json()["results"] == []
    else:
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert not events_about(record, actor=outsider).exists()

    for someone in (patient, other_patient):
        response = api(someone.user).get(url(path, world))
        assert response.status_code == 403, f"{someone}: {response.status_code}"
        assert not events_about(record, actor=someone.user).exists()

    response = api(nurse).get(url(path, world))
    assert response.status_code == 200
    if is_list:
        assert str(record.pk) in {row["id"] for row in response.json()["results"]}
    event = events_about(record, actor=nurse, action=action, model=model).get()
    assert event.patient_id == patient.pk


def write_cases(world):
    record_body = {"cows": responses_totalling("cows", 8), "vitals": dict(NORMAL_VITALS)}
    order_body = {"episode": str(world["episode"].pk), "drug": "loperamide", "dose": "2", "dose_unit": "mg",
                  "frequency": "prn", "indication": "Loose stools", "min_interval_minutes": 120}  # fmt: skip
    # method, path, body, role, success status, audit action, model, the record it changes (None: the new one)
    return {
        "set the round interval": ("patch", "detox-courses/{course}/", {"round_interval_minutes": 120}, "physician",
                                   200, "update", DetoxCourse, "course"),
        "record a round": ("post", "observation-rounds/{round}/record/", record_body, "nurse", 200, "record",
                           ObservationRound, "round"),
        "prescribe": ("post", "medication-orders/", order_body, "physician", 201, "create", MedicationOrder, None),
        "discontinue": ("post", "medication-orders/{order}/discontinue/", {"reason": "Settled."}, "physician", 200,
                        "discontinue", MedicationOrder, "order"),
        "administer": ("post", "medication-administrations/", {"order": str(world["order"].pk), "outcome": "refused"},
                       "nurse", 201, "create", MedicationAdministration, None),
    }  # fmt: skip


WRITES = ["set the round interval", "record a round", "prescribe", "discontinue", "administer"]


def snapshot(model):
    return list(model.objects.order_by("pk").values())


@pytest.mark.parametrize("case", WRITES)
def test_writes_are_scoped_and_audited(case, world, staff, other_staff, patient, other_patient, api):
    method, path, body, role, status, action, model, about = write_cases(world)[case]
    before = snapshot(model)
    events_before = AuditEvent.objects.count()

    response = getattr(api(other_staff[role]), method)(url(path, world), body, format="json")
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    for someone in (patient, other_patient):
        response = getattr(api(someone.user), method)(url(path, world), body, format="json")
        assert response.status_code == 403
    assert snapshot(model) == before
    assert AuditEvent.objects.count() == events_before

    insider = staff[role]
    response = getattr(api(insider), method)(url(path, world), body, format="json")
    assert response.status_code == status, response.content
    object_id = str(world[about].pk) if about else response.json()["id"]
    event = AuditEvent.objects.get(actor=insider, action=action, model=model._meta.label_lower, object_id=object_id)
    assert event.patient_id == patient.pk
