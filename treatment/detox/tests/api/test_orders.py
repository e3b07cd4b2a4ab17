"""POST/GET /medication-orders/ and POST /medication-orders/{id}/discontinue/."""

import datetime

import pytest
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.audit.models import AuditEvent
from patients.models import Allergy
from treatment.detox.models import MedicationOrder

from ..conftest import audited
from ..factories import MedicationOrderFactory

URL = "/api/v1/medication-orders/"


def clonidine_prn(episode, **extra):
    return {
        "episode": str(episode.pk),
        "drug": "clonidine",
        "dose": "0.1",
        "dose_unit": "mg",
        "frequency": "prn",
        "indication": "Sweating, restlessness",
        "min_interval_minutes": 240,
        "prn_instrument": "cows",
        "prn_min_band": "moderate",
        **extra,
    }


def test_a_physician_prescribes(episode, physician, api):
    response = api(physician).post(URL, clonidine_prn(episode), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["drug"], data["drug_name"], data["controlled"], data["prn"]) == ("clonidine", "Clonidine", False, True)
    assert (data["dose"], data["dose_unit"], data["route"], data["status"], data["active_now"]) == (
        "0.100", "mg", "oral", "active", True
    )  # fmt: skip
    assert (data["prescriber"], data["patient"]) == (physician.pk, str(episode.patient_id))
    assert audited(action="create", model="detox.medicationorder", object_id=data["id"])


@pytest.mark.parametrize("role", [Role.NURSE, Role.COUNSELOR, Role.CASE_MANAGER, Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_a_role_that_may_not_prescribe_is_refused(role, staff, episode, api):
    response = api(staff[role]).post(URL, clonidine_prn(episode), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not MedicationOrder.objects.exists()


def test_a_benzodiazepine_without_a_stop_date_or_beyond_14_days_is_a_400(episode, physician, api):
    start = timezone.now().replace(second=0, microsecond=0)
    order = {"episode": str(episode.pk), "drug": "lorazepam", "dose": "1", "dose_unit": "mg", "frequency": "q8h",
             "starts_at": start.isoformat()}  # fmt: skip
    response = api(physician).post(URL, order, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["stops_at"]
    too_long = {**order, "stops_at": (start + datetime.timedelta(days=15)).isoformat()}
    assert api(physician).post(URL, too_long, format="json").status_code == 400
    ok = {**order, "stops_at": (start + datetime.timedelta(days=5)).isoformat()}
    response = api(physician).post(URL, ok, format="json")
    assert response.status_code == 201
    assert response.json()["controlled"] is True


def test_an_allergy_to_the_drugs_class_is_a_409_until_overridden_with_a_reason(episode, patient, physician, api):
    Allergy.objects.create(patient=patient, substance="Alpha-2 agonists", severity="moderate")
    response = api(physician).post(URL, clonidine_prn(episode), format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["details"]) == ("allergy_conflict", {"allergies": ["alpha-2 agonists"]})
    assert not MedicationOrder.objects.exists()
    response = api(physician).post(
        URL, clonidine_prn(episode, allergy_override_reason="Tolerated before."), format="json"
    )
    assert response.status_code == 201
    assert response.json()["allergy_conflicts"] == ["alpha-2 agonists"]


def test_unknown_drugs_and_bad_fields_are_400(episode, physician, api):
    response = api(physician).post(URL, clonidine_prn(episode, drug="kratom"), format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["drug"]
    response = api(physician).post(URL, clonidine_prn(episode, dose="-1", prn_min_band="awful"), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "dose": ["Must be more than 0."],
        "prn_min_band": ["Choose one of none, mild, moderate, moderately_severe, severe."],
    }
    assert not MedicationOrder.objects.exists()


def test_other_facility_staff_cannot_order_for_this_episode_nor_see_orders(episode, physician, other_staff, api):
    response = api(other_staff["physician"]).post(URL, clonidine_prn(episode), format="json")
    assert response.status_code == 404
    assert not MedicationOrder.objects.exists()
    order = api(physician).post(URL, clonidine_prn(episode), format="json").json()
    assert api(other_staff["physician"]).get(f"{URL}{order['id']}/").status_code == 404
    assert api(other_staff["physician"]).get(URL).json()["results"] == []


def test_the_patient_gets_nothing(episode, patient, physician, api):
    order = api(physician).post(URL, clonidine_prn(episode), format="json").json()
    assert api(patient.user).get(f"{URL}{order['id']}/").status_code == 403
    assert api(patient.user).post(URL, clonidine_prn(episode), format="json").status_code == 403


def test_a_physician_discontinues_with_a_reason(episode, physician, nurse, api):
    order = api(physician).post(URL, clonidine_prn(episode), format="json").json()
    url = f"{URL}{order['id']}/discontinue/"
    assert api(nurse).post(url, {"reason": "Low BP."}).status_code == 403
    assert api(physician).post(url, {}).status_code == 400
    response = api(physician).post(url, {"reason": "Low BP."})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["active_now"]) == ("discontinued", False)
    assert api(physician).post(url, {"reason": "Again."}).status_code == 409
    assert audited(action="discontinue", model="detox.medicationorder", object_id=order["id"])


def test_a_retry_with_the_same_idempotency_key_creates_one_order(episode, physician, api):
    client = api(physician)
    first = client.post(URL, clonidine_prn(episode), format="json", HTTP_IDEMPOTENCY_KEY="order-123")
    again = client.post(URL, clonidine_prn(episode), format="json", HTTP_IDEMPOTENCY_KEY="order-123")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert MedicationOrder.objects.count() == 1


def test_orders_are_listed_per_episode_and_audited(episode, physician, nurse, api):
    order = api(physician).post(URL, clonidine_prn(episode), format="json").json()
    response = api(nurse).get(f"{URL}?episode={episode.pk}&status=active&drug=clonidine")
    assert [row["id"] for row in response.json()["results"]] == [order["id"]]
    assert audited(action="list", model="detox.medicationorder", object_id=order["id"])


def test_the_order_list_costs_the_same_queries_for_1_and_50_rows(episode, nurse, api, assert_list_queries_constant):
    assert_list_queries_constant(api(nurse), URL, lambda: MedicationOrderFactory(episode=episode))


# --- Refusals, each with its reason -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.NURSE, Role.COUNSELOR])
def test_a_nurse_or_counselor_is_told_only_a_physician_prescribes(role, staff, episode, api):
    response = api(staff[role]).post(URL, clonidine_prn(episode), format="json")
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "permission_denied", "message": "Only a physician may prescribe.", "fields": {}
    }  # fmt: skip
    assert not MedicationOrder.objects.exists()
    assert not AuditEvent.objects.filter(model="detox.medicationorder").exists()


def lorazepam(episode, start, **extra):
    return {"episode": str(episode.pk), "drug": "lorazepam", "dose": "1", "dose_unit": "mg", "frequency": "q8h",
            "starts_at": start.isoformat(), **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("course", "status"),
    [(datetime.timedelta(days=13), 201), (datetime.timedelta(days=14), 201),
     (datetime.timedelta(days=14, minutes=1), 400), (datetime.timedelta(days=15), 400)],
    ids=["13d", "14d", "14d+1min", "15d"],
)  # fmt: skip
def test_a_benzodiazepine_order_lasts_at_most_14_days(course, status, episode, physician, api):
    start = timezone.now().replace(second=0, microsecond=0)
    response = api(physician).post(URL, lorazepam(episode, start, stops_at=(start + course).isoformat()), format="json")
    assert response.status_code == status, response.content
    if status == 400:
        assert response.json()["error"]["fields"] == {"stops_at": ["A benzodiazepine order may last at most 14 days."]}
        assert not MedicationOrder.objects.exists()
    else:
        assert response.json()["stops_at"] == (start + course).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("stops_at", ["absent", None])
def test_a_benzodiazepine_order_without_a_stop_date_is_a_400(stops_at, episode, physician, api):
    start = timezone.now().replace(second=0, microsecond=0)
    data = lorazepam(episode, start) if stops_at == "absent" else lorazepam(episode, start, stops_at=None)
    response = api(physician).post(URL, data, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"] == {"stops_at": ["A benzodiazepine is a short course: give a stop date (at most 14 days)."]}
    assert error["message"] == "The order is not valid: stops_at."
    assert not MedicationOrder.objects.exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_allergy_override_needs_a_real_reason(reason, episode, patient, physician, api):
    Allergy.objects.create(patient=patient, substance="Clonidine", severity="severe")
    response = api(physician).post(URL, clonidine_prn(episode, allergy_override_reason=reason), format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "allergy_conflict"
    assert "documented allergy" in error["message"]
    assert error["fields"] == {"allergy_override_reason": ["Required to override a documented allergy."]}
    assert not MedicationOrder.objects.exists()


def test_an_allergy_override_with_a_reason_is_kept_on_the_order_and_audited(episode, patient, physician, api):
    Allergy.objects.create(patient=patient, substance="Benzodiazepines", severity="moderate")
    start = timezone.now().replace(second=0, microsecond=0)
    data = lorazepam(episode, start, stops_at=(start + datetime.timedelta(days=3)).isoformat(),
                     allergy_override_reason="Rash only; benefit outweighs risk.")  # fmt: skip
    response = api(physician).post(URL, data, format="json")
    assert response.status_code == 201, response.content
    order = response.json()
    assert (order["allergy_conflicts"], order["allergy_override_reason"]) == (
        ["benzodiazepines"], "Rash only; benefit outweighs risk."
    )  # fmt: skip
    event = AuditEvent.objects.get(model="detox.medicationorder", object_id=order["id"], action="create")
    assert (event.actor, event.detail["allergy_override"], event.patient_id) == (physician, True, patient.pk)


def test_a_prn_order_without_indication_or_interval_is_a_400_naming_both(episode, physician, api):
    data = clonidine_prn(episode, indication="", min_interval_minutes=None)
    response = api(physician).post(URL, data, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "indication": ["A PRN order names its indication."],
        "min_interval_minutes": ["A PRN order has a minimum interval between doses (minutes)."],
    }


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"min_interval_minutes": 1441}, "min_interval_minutes", "At most 1440 minutes (a day)."),
        ({"min_interval_minutes": 3_000_000_000}, "min_interval_minutes", "At most 1440 minutes (a day)."),
        ({"max_doses_per_24h": 25}, "max_doses_per_24h", "Between 1 and 24, or leave it out."),
        ({"max_doses_per_24h": 40_000}, "max_doses_per_24h", "Between 1 and 24, or leave it out."),
    ],
)
def test_an_implausible_prn_interval_or_daily_cap_is_a_400_not_a_500(fields, field, message, episode, physician, api):
    response = api(physician).post(URL, clonidine_prn(episode, **fields), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [message]}
    assert not MedicationOrder.objects.exists()


def test_a_day_long_interval_and_a_cap_of_24_are_accepted(episode, physician, api):
    data = clonidine_prn(episode, min_interval_minutes=1440, max_doses_per_24h=24)
    assert api(physician).post(URL, data, format="json").status_code == 201


def test_reading_one_order_is_audited(episode, physician, nurse, api):
    order = api(physician).post(URL, clonidine_prn(episode), format="json").json()
    response = api(nurse).get(f"{URL}{order['id']}/")
    assert response.status_code == 200
    assert response.json()["id"] == order["id"]
    event = AuditEvent.objects.get(model="detox.medicationorder", object_id=order["id"], action="view")
    assert (event.actor, event.patient_id) == (nurse, episode.patient_id)


def test_discontinuing_is_refused_with_its_reason_for_a_nurse(episode, physician, nurse, api):
    order = api(physician).post(URL, clonidine_prn(episode), format="json").json()
    response = api(nurse).post(f"{URL}{order['id']}/discontinue/", {"reason": "Low BP."})
    assert response.json()["error"]["message"] == "Only a physician may discontinue an order."
