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
