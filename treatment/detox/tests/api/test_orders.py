"""POST/GET /medication-orders/ and POST /medication-orders/{id}/discontinue/."""

import datetime

import pytest
from django.utils import timezone

from clinic.accounts.roles import Role
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
