from datetime import timedelta

import pytest

from treatment.therapy import services
from treatment.therapy.models import TreatmentPlan

from ..conftest import audited, reachable_patient
from ..factories import TreatmentPlanFactory

pytestmark = pytest.mark.usefixtures("clock")

PLAN = {
    "problems": [
        {
            "description": "Daily kratom use.",
            "goals": [
                {
                    "statement": "Stop kratom use.",
                    "measure": "Negative weekly screens.",
                    "target_date": "2026-05-01",
                    "objectives": [{"description": "Name three triggers.", "target_date": "2026-03-16"}],
                }
            ],
        }
    ],
    "interventions": [{"kind": "relapse_prevention", "frequency": "weekly"}],
}


def test_a_counselor_writes_reviews_and_rewrites_a_plan(episode, counselor, api, clock):
    client = api(counselor)
    response = client.post("/api/v1/treatment-plans/", {"episode": str(episode.pk), **PLAN}, format="json")
    assert response.status_code == 201, response.content
    plan = response.json()
    assert (plan["patient"], plan["review_interval_days"], plan["review_due"]) == (str(episode.patient_id), 30, False)
    goal = plan["problems"][0]["goals"][0]
    assert goal["objectives"][0]["status"] == "not_started"
    url = f"/api/v1/treatment-plans/{plan['id']}/"

    objective = {**goal["objectives"][0], "status": "achieved"}
    rewritten = {
        "problems": [
            {
                "id": plan["problems"][0]["id"],
                "description": "Daily kratom use.",
                "goals": [{**goal, "objectives": [objective]}],
            }
        ]
    }
    response = client.patch(url, rewritten, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["problems"][0]["goals"][0]["objectives"][0] == objective

    clock.shift(timedelta(days=31))
    assert client.get(url).json()["review_due"] is True
    assert [row["id"] for row in client.get("/api/v1/treatment-plans/", {"review_due": True}).json()["results"]] == [
        plan["id"]
    ]
    response = client.post(f"{url}review/", {"summary": "Objective achieved; next: sleep."}, format="json")
    assert response.status_code == 200
    assert (response.json()["review_due"], len(response.json()["reviews"])) == (False, 1)
    assert audited(action="review", model="therapy.treatmentplan", object_id=plan["id"])


def test_nested_errors_name_the_item(episode, counselor, api):
    bad = {
        "problems": [{"description": "Use.", "goals": [{"statement": "Stop.", "measure": "x", "target_date": "bad"}]}]
    }
    response = api(counselor).post("/api/v1/treatment-plans/", {"episode": str(episode.pk), **bad}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["problems.0.goals.0.target_date"]


@pytest.mark.parametrize("role", ["front_desk", "clinic_admin"])
def test_non_clinical_staff_neither_read_nor_write_plans(role, episode, staff, api):
    plan = TreatmentPlanFactory(episode=episode)
    client = api(staff[role])
    assert client.get(f"/api/v1/treatment-plans/{plan.pk}/").status_code == 403
    assert client.post("/api/v1/treatment-plans/", {"episode": str(episode.pk)}, format="json").status_code == 403


def test_nurses_read_plans_but_do_not_write_them(episode, staff, api):
    plan = TreatmentPlanFactory(episode=episode)
    client = api(staff["nurse"])
    assert client.get(f"/api/v1/treatment-plans/{plan.pk}/").status_code == 200
    assert client.post(f"/api/v1/treatment-plans/{plan.pk}/review/", {"summary": "x"}, format="json").status_code == 403


def test_a_patient_does_not_read_the_plan(episode, patient, api):
    plan = TreatmentPlanFactory(episode=episode)
    assert api(patient.user).get(f"/api/v1/treatment-plans/{plan.pk}/").status_code == 403


def test_another_facility_cannot_write_our_patients_plan(episode, other_staff, api):
    response = api(other_staff["counselor"]).post(
        "/api/v1/treatment-plans/", {"episode": str(episode.pk), **PLAN}, format="json"
    )
    assert response.status_code == 404
    assert not TreatmentPlan.objects.exists()


def test_the_list_takes_the_same_queries_for_1_or_50_plans(facility, counselor, assert_constant_list_queries, clock):
    plans = []
    for _ in range(50):
        clock.shift(timedelta(seconds=1))  # a definite order: the newest (first) plans have content
        plans.append(TreatmentPlanFactory(episode__patient=reachable_patient(facility)))
    for plan in plans[-3:]:
        services.treatment_plan_update(actor=counselor, plan=plan, data=PLAN)
    assert_constant_list_queries(counselor, "/api/v1/treatment-plans/", bound=10)
