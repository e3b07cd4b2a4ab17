"""POST/GET /medication-administrations/: every refusal of the MAR through the API, scope and audit."""

import datetime
from decimal import Decimal

import pytest
import time_machine

from clinic.accounts.roles import Role
from treatment import services as treatment_services
from treatment.detox import services
from treatment.detox.models import MedicationAdministration

from ..conftest import audited, responses_totalling
from ..factories import MedicationAdministrationFactory, MedicationOrderFactory

URL = "/api/v1/medication-administrations/"
T0 = datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def orders(frozen, episode, physician, drug):
    def order(code, **fields):
        return services.medication_order_create(actor=physician, episode=episode, drug=drug(code), **fields)

    return {
        "scheduled": order("chlordiazepoxide", dose=Decimal("25"), dose_unit="mg", frequency="q6h",
                           stops_at=T0 + datetime.timedelta(days=4)),
        "prn": order("ondansetron", dose=Decimal("4"), dose_unit="mg", frequency="prn", indication="Nausea",
                     min_interval_minutes=480),
        "triggered": order("clonidine", dose=Decimal("0.1"), dose_unit="mg", frequency="prn", indication="COWS",
                           min_interval_minutes=240, prn_instrument="cows", prn_min_band="moderate"),
        "future": order("melatonin", dose=Decimal("3"), dose_unit="mg", frequency="daily",
                        starts_at=T0 + datetime.timedelta(hours=14)),
    }  # fmt: skip


def post(client, order, **fields):
    return client.post(URL, {"order": str(order.pk), "outcome": "given", **fields}, format="json")


def test_a_nurse_gives_a_scheduled_dose(orders, nurse, api):
    response = post(api(nurse), orders["scheduled"], scheduled_for=T0.isoformat())
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["outcome"], data["drug"], data["dose"], data["recorded_by"]) == ("given", "chlordiazepoxide", "25.000",
                                                                                   nurse.pk)  # fmt: skip
    assert audited(action="create", model="detox.medicationadministration", object_id=data["id"])


@pytest.mark.parametrize(
    ("order", "fields", "status", "code"),
    [
        ("future", {"scheduled_for": (T0 + datetime.timedelta(hours=14)).isoformat()}, 409, "no_active_order"),
        ("scheduled", {"scheduled_for": (T0 + datetime.timedelta(hours=6)).isoformat()}, 409, "dose_not_due"),
        ("scheduled", {"scheduled_for": (T0 + datetime.timedelta(hours=1)).isoformat()}, 400, "invalid"),
        ("scheduled", {}, 400, "invalid"),
        ("prn", {"scheduled_for": T0.isoformat()}, 400, "invalid"),
        ("triggered", {}, 409, "score_does_not_allow"),
        ("scheduled", {"outcome": "held", "scheduled_for": T0.isoformat()}, 400, "invalid"),
    ],
)
def test_refusals_through_the_api(order, fields, status, code, orders, nurse, api):
    response = post(api(nurse), orders[order], **fields)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not MedicationAdministration.objects.exists()


def test_a_prn_dose_inside_its_interval_is_a_409_with_the_next_allowed_time(orders, nurse, api):
    assert post(api(nurse), orders["prn"]).status_code == 201
    response = post(api(nurse), orders["prn"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "prn_interval"
    assert response.json()["error"]["details"] == {"next_allowed_at": "2026-03-02T16:00:00+00:00"}


def test_the_same_scheduled_dose_twice_is_a_409(orders, nurse, physician, api):
    assert post(api(nurse), orders["scheduled"], scheduled_for=T0.isoformat()).status_code == 201
    response = post(api(physician), orders["scheduled"], outcome="refused", scheduled_for=T0.isoformat())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "dose_already_recorded"


def test_a_symptom_triggered_dose_is_given_when_the_score_allows_it(orders, episode, nurse, api):
    observation = treatment_services.observation_record(
        actor=nurse, episode=episode, instrument="cows", responses=responses_totalling("cows", 16)
    )
    response = post(api(nurse), orders["triggered"])
    assert response.status_code == 201
    assert response.json()["observation"] == str(observation.pk)


@pytest.mark.parametrize("role", [Role.COUNSELOR, Role.CASE_MANAGER, Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_other_roles_may_not_administer(role, staff, orders, api):
    assert post(api(staff[role]), orders["prn"]).status_code == 403
    assert not MedicationAdministration.objects.exists()


def test_other_facility_staff_and_the_patient_get_nothing(orders, other_staff, patient, nurse, api):
    assert post(api(other_staff["nurse"]), orders["prn"]).status_code == 404
    assert post(api(patient.user), orders["prn"]).status_code == 403
    assert not MedicationAdministration.objects.exists()
    given = post(api(nurse), orders["prn"]).json()
    assert api(other_staff["nurse"]).get(f"{URL}{given['id']}/").status_code == 404
    assert api(other_staff["nurse"]).get(URL).json()["results"] == []
    assert api(patient.user).get(URL).status_code == 403


def test_administrations_are_listed_and_audited(orders, nurse, physician, api):
    given = post(api(nurse), orders["prn"]).json()
    response = api(physician).get(f"{URL}?order={orders['prn'].pk}&outcome=given")
    assert [row["id"] for row in response.json()["results"]] == [given["id"]]
    assert audited(action="list", model="detox.medicationadministration", object_id=given["id"])


def test_the_list_costs_the_same_queries_for_1_and_50_rows(facility, nurse, api, assert_list_queries_constant):
    order = MedicationOrderFactory(episode__patient__facility=facility)
    times = iter(range(1000))
    assert_list_queries_constant(
        api(nurse),
        URL,
        lambda: MedicationAdministrationFactory(
            order=order, scheduled_for=order.starts_at + datetime.timedelta(hours=6 * next(times))
        ),
    )


# --- Each refusal, with the reason it gives ------------------------------------------------------------------


def error_of(response) -> dict:
    return response.json()["error"]


def test_no_dose_on_a_discontinued_order(frozen, orders, physician, nurse, api):
    discontinue = api(physician).post(f"/api/v1/medication-orders/{orders['prn'].pk}/discontinue/",
                                      {"reason": "Nausea settled."})  # fmt: skip
    assert discontinue.status_code == 200
    response = post(api(nurse), orders["prn"])
    assert response.status_code == 409
    assert error_of(response) == {
        "code": "no_active_order", "message": "There is no active order for this dose at that time.", "fields": {}
    }  # fmt: skip
    assert not MedicationAdministration.objects.exists()


def test_no_dose_before_an_order_starts(frozen, orders, nurse, api):
    response = post(api(nurse), orders["future"], scheduled_for=(T0 + datetime.timedelta(hours=14)).isoformat())
    assert response.status_code == 409
    assert error_of(response)["message"] == "There is no active order for this dose at that time."


def test_no_dose_after_an_order_stops(frozen, orders, nurse, api):
    frozen.move_to(T0 + datetime.timedelta(days=4))
    response = post(api(nurse), orders["scheduled"], scheduled_for=(T0 + datetime.timedelta(days=4)).isoformat())
    assert response.status_code == 409
    assert error_of(response)["code"] == "no_active_order"


@pytest.mark.parametrize(
    ("wait", "status"), [(datetime.timedelta(hours=8) - datetime.timedelta(minutes=1), 409),
                         (datetime.timedelta(hours=8), 201)], ids=["7h59m", "8h"]
)  # fmt: skip
def test_a_prn_dose_at_and_inside_its_minimum_interval(wait, status, frozen, orders, nurse, api):
    assert post(api(nurse), orders["prn"]).status_code == 201
    frozen.move_to(T0 + wait)
    response = post(api(nurse), orders["prn"])
    assert response.status_code == status
    if status == 409:
        assert error_of(response)["code"] == "prn_interval"
        assert error_of(response)["message"] == (
            "A PRN dose of this order was given at 2026-03-02 08:00 UTC; the minimum interval is 480 minutes."
        )
    assert MedicationAdministration.objects.filter(outcome="given").count() == (2 if status == 201 else 1)


def test_a_prn_dose_over_the_daily_cap(frozen, episode, physician, nurse, api, drug):
    order = services.medication_order_create(
        actor=physician, episode=episode, drug=drug("loperamide"), dose=Decimal("2"), dose_unit="mg",
        frequency="prn", indication="Loose stools", min_interval_minutes=60, max_doses_per_24h=2,
    )  # fmt: skip
    for hour in (0, 1):
        frozen.move_to(T0 + datetime.timedelta(hours=hour))
        assert post(api(nurse), order).status_code == 201
    frozen.move_to(T0 + datetime.timedelta(hours=2))
    response = post(api(nurse), order)
    assert response.status_code == 409
    assert error_of(response) == {
        "code": "prn_daily_limit", "message": "This order allows at most 2 PRN doses in 24 hours.", "fields": {}
    }  # fmt: skip


def test_a_role_that_may_not_administer_is_told_why(orders, staff, api):
    response = post(api(staff[Role.COUNSELOR]), orders["prn"])
    assert response.status_code == 403
    assert error_of(response)["message"] == "Your role may not record medication administration."


def test_a_held_dose_needs_its_reason_and_refused_or_held_doses_carry_no_dose(frozen, orders, nurse, api):
    response = post(api(nurse), orders["scheduled"], outcome="held", scheduled_for=T0.isoformat())
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"reason": ["Give the reason the dose is held."]}
    held = post(api(nurse), orders["scheduled"], outcome="held", scheduled_for=T0.isoformat(), reason="Asleep.")
    assert held.status_code == 201
    assert (held.json()["outcome"], held.json()["reason"], held.json()["dose"]) == ("held", "Asleep.", None)
    refused = post(api(nurse), orders["prn"], outcome="refused")
    assert refused.status_code == 201
    assert (refused.json()["outcome"], refused.json()["dose"], refused.json()["dose_unit"]) == ("refused", None, "")
    assert post(api(nurse), orders["prn"]).status_code == 201  # a refused offer does not start the interval


# --- Symptom-triggered PRN: the score band decides, in the POST and in the MAR --------------------------------


def record_cows(episode, nurse, total):
    return treatment_services.observation_record(
        actor=nurse, episode=episode, instrument="cows", responses=responses_totalling("cows", total)
    )


def mar_row(client, episode, code) -> dict:
    response = client.get(f"/api/v1/episodes/{episode.pk}/mar/")
    assert response.status_code == 200
    return next(row for row in response.json()["rows"] if row["order"]["drug"] == code)


def test_a_score_below_the_orders_band_denies_the_dose_and_the_mar_says_why(frozen, orders, episode, nurse, api):
    row = mar_row(api(nurse), episode, "clonidine")
    assert (row["prn"]["allowed_now"], row["prn"]["score"]) == (False, None)
    assert row["prn"]["reasons"] == ["No COWS score in the last 2 hours: score the patient before this dose."]
    record_cows(episode, nurse, 12)  # mild: one below moderate
    row = mar_row(api(nurse), episode, "clonidine")
    assert row["prn"]["allowed_now"] is False
    assert (row["prn"]["score"]["total"], row["prn"]["score"]["band"]) == (12, "mild")
    assert row["prn"]["reasons"] == ["The latest COWS is 12 (mild); this order allows a dose at moderate or worse."]
    response = post(api(nurse), orders["triggered"])
    assert response.status_code == 409
    assert error_of(response)["code"] == "score_does_not_allow"
    assert error_of(response)["message"] == row["prn"]["reasons"][0]
    assert error_of(response)["details"] == {"instrument": "cows"}
    assert not MedicationAdministration.objects.exists()


def test_a_score_in_the_orders_band_allows_the_dose_and_the_mar_shows_it(frozen, orders, episode, nurse, api):
    observation = record_cows(episode, nurse, 13)  # moderate: the lowest band the order allows
    row = mar_row(api(nurse), episode, "clonidine")
    assert (row["prn"]["allowed_now"], row["prn"]["reasons"]) == (True, [])
    assert row["prn"]["score"]["id"] == str(observation.pk)
    other_rows = {
        r["order"]["drug"]: r["prn"] for r in api(nurse).get(f"/api/v1/episodes/{episode.pk}/mar/").json()["rows"]
    }
    assert other_rows["ondansetron"]["allowed_now"] is True  # not symptom-triggered: the band does not apply
    assert other_rows["chlordiazepoxide"] is None  # a scheduled order has no PRN status
    response = post(api(nurse), orders["triggered"])
    assert response.status_code == 201
    assert response.json()["observation"] == str(observation.pk)
    row = mar_row(api(nurse), episode, "clonidine")
    assert row["prn"]["allowed_now"] is False  # now the minimum interval applies
    assert [a["id"] for a in row["administrations"]] == [response.json()["id"]]


def test_reading_one_administration_is_audited(orders, nurse, physician, api):
    given = post(api(nurse), orders["prn"]).json()
    response = api(physician).get(f"{URL}{given['id']}/")
    assert response.status_code == 200
    assert response.json()["outcome"] == "given"
    assert audited(action="view", model="detox.medicationadministration", object_id=given["id"])
