"""The admin: the withdrawal chart on the course page, the interval, orders and doses through the services."""

import pytest
from django.test import Client
from django.utils import timezone

from clinic.audit.models import AuditEvent
from patients.models import Allergy
from treatment.detox.models import MedicationAdministration, MedicationOrder

from .conftest import open_round, record


@pytest.fixture
def admin_as():
    def login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


def split(moment) -> dict:
    return {"0": moment.strftime("%Y-%m-%d"), "1": moment.strftime("%H:%M:%S")}


def test_the_course_page_shows_the_withdrawal_chart(course, nurse, admin_as):
    for cows in (9, 16):
        record(open_round(course), nurse, cows=cows)
    client = admin_as(nurse)
    page = client.get(f"/admin/detox/detoxcourse/{course.pk}/change/")
    assert page.status_code == 200
    chart_url = f"/admin/detox/detoxcourse/{course.pk}/chart.svg"
    assert f'<img src="{chart_url}"' in page.content.decode()
    chart = client.get(chart_url)
    assert chart.status_code == 200
    assert chart["Content-Type"] == "image/svg+xml"
    assert "Withdrawal scores and pulse" in chart.content.decode()
    assert AuditEvent.objects.filter(
        actor=nurse, action="withdrawal_chart", object_id=str(course.episode_id), source="admin"
    ).exists()


def test_the_chart_is_scoped_and_closed_to_other_roles(course, other_staff, staff, admin_as):
    chart_url = f"/admin/detox/detoxcourse/{course.pk}/chart.svg"
    assert admin_as(other_staff["nurse"]).get(chart_url).status_code == 404
    assert admin_as(staff["counselor"]).get(chart_url).status_code == 403
    assert not AuditEvent.objects.filter(action="withdrawal_chart").exists()


def test_a_physician_sets_the_interval_in_the_admin_and_a_nurse_cannot(course, physician, nurse, admin_as):
    url = f"/admin/detox/detoxcourse/{course.pk}/change/"
    form = {"round_interval_minutes": 120, "interval_reason": "Rising COWS.", "rounds-TOTAL_FORMS": 1,
            "rounds-INITIAL_FORMS": 1, "rounds-0-id": open_round(course).pk, "rounds-0-course": course.pk}  # fmt: skip
    assert admin_as(nurse).post(url, form).status_code == 403
    response = admin_as(physician).post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    course.refresh_from_db()
    assert (course.round_interval_minutes, course.interval_set_by) == (120, physician)


def test_orders_through_the_admin_go_through_the_service(episode, patient, physician, nurse, drug, admin_as):
    Allergy.objects.create(patient=patient, substance="Clonidine", severity="mild")
    start = timezone.now()
    form = {
        "episode": episode.pk, "drug": drug("clonidine").pk, "dose": "0.1", "dose_unit": "mg", "route": "oral",
        "frequency": "prn", "indication": "Sweating", "min_interval_minutes": 240,
        **{f"starts_at_{k}": v for k, v in split(start).items()},
    }  # fmt: skip
    assert admin_as(nurse).post("/admin/detox/medicationorder/add/", form).status_code == 403
    client = admin_as(physician)
    refused = client.post("/admin/detox/medicationorder/add/", form)
    assert refused.status_code == 200
    assert "documented allergy" in refused.content.decode()
    assert not MedicationOrder.objects.exists()
    response = client.post("/admin/detox/medicationorder/add/", {**form, "allergy_override_reason": "Tolerated."})
    assert response.status_code == 302
    order = MedicationOrder.objects.get()
    assert (order.prescriber, order.allergy_conflicts) == (physician, ["clonidine"])

    given = {
        "order": order.pk,
        "outcome": "given",
        **{f"administered_at_{k}": v for k, v in split(timezone.now()).items()},
    }
    assert admin_as(nurse).post("/admin/detox/medicationadministration/add/", given).status_code == 302
    again = admin_as(nurse).post("/admin/detox/medicationadministration/add/", given)
    assert again.status_code == 200
    assert "minimum interval" in again.content.decode()
    assert MedicationAdministration.objects.count() == 1
