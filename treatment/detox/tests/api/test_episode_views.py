"""GET /episodes/{id}/withdrawal-timeline/, /withdrawal-chart/ (PNG or SVG) and /mar/."""

from decimal import Decimal

import pytest

from clinic.accounts.roles import Role
from clinic.audit.models import AuditEvent
from patients.tests.factories import SubstanceUseHistoryFactory
from treatment.detox import services

from ..conftest import open_round, record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def charted(course, nurse):
    """Three rounds recorded one after the other (COWS rising then falling)."""
    for cows in (9, 18, 14):
        record(open_round(course), nurse, cows=cows)
    return course


def url(episode, view: str) -> str:
    return f"/api/v1/episodes/{episode.pk}/{view}/"


def test_the_chart_is_a_png_by_default_and_the_read_is_audited(charted, nurse, api):
    response = api(nurse).get(url(charted.episode, "withdrawal-chart"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(PNG_MAGIC)
    assert len(response.content) > 10_000
    assert AuditEvent.objects.filter(
        action="withdrawal_chart", model="treatment.episode", object_id=str(charted.episode_id)
    ).exists()


def test_the_chart_as_svg_by_format_or_accept_header(charted, physician, api):
    for response in (
        api(physician).get(url(charted.episode, "withdrawal-chart") + "?format=svg"),
        api(physician).get(url(charted.episode, "withdrawal-chart"), HTTP_ACCEPT="image/svg+xml"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"] == "image/svg+xml"
        svg = response.content.decode()
        assert svg.lstrip().startswith("<?xml")
        assert "<svg" in svg
        assert "Withdrawal scores and pulse" in svg
        assert "COWS total" in svg
        assert "Pulse (beats/min)" in svg


def test_the_chart_draws_even_without_scores(episode, nurse, api):
    response = api(nurse).get(url(episode, "withdrawal-chart") + "?format=svg")
    assert response.status_code == 200
    assert "No withdrawal scores recorded yet" in response.content.decode()


def test_chart_errors_are_json_like_everywhere(episode, other_staff, patient, api):
    response = api(other_staff["nurse"]).get(url(episode, "withdrawal-chart"))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"
    response = api(patient.user).get(url(episode, "withdrawal-chart") + "?format=svg")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_the_timeline(patient, charted, nurse, api):
    SubstanceUseHistoryFactory(patient=patient)  # last use 18 hours ago
    response = api(nurse).get(url(charted.episode, "withdrawal-timeline"))
    assert response.status_code == 200
    data = response.json()
    assert 17.9 <= data["hours_since_last_use"] <= 18.1
    assert data["phase"]["code"] == "onset"
    assert [phase["code"] for phase in data["phases"]] == ["before_onset", "onset", "peak", "easing", "post_acute"]
    assert data["trends"]["cows"]["direction"] == "falling"
    assert (data["trends"]["cows"]["latest"], data["trends"]["cows"]["peak"]) == (14, 18)
    assert data["course"]["id"] == str(charted.pk)
    assert AuditEvent.objects.filter(action="withdrawal_timeline", object_id=str(charted.episode_id)).exists()


def test_the_mar(episode, physician, nurse, api, drug):
    order = services.medication_order_create(
        actor=physician, episode=episode, drug=drug("ondansetron"), dose=Decimal("4"), dose_unit="mg",
        frequency="prn", indication="Nausea", min_interval_minutes=480,
    )  # fmt: skip
    given = services.medication_administer(actor=nurse, order=order, outcome="given")
    response = api(nurse).get(url(episode, "mar"))
    assert response.status_code == 200
    (row,) = response.json()["rows"]
    assert (row["order"]["id"], row["active"], row["scheduled_doses"]) == (str(order.pk), True, [])
    assert [a["id"] for a in row["administrations"]] == [str(given.pk)]
    assert row["prn"]["allowed_now"] is False
    assert row["prn"]["reasons"][0].startswith("Minimum interval: next dose from")
    for model, object_id in [("treatment.episode", episode.pk), ("detox.medicationorder", order.pk),
                             ("detox.medicationadministration", given.pk)]:  # fmt: skip
        assert AuditEvent.objects.filter(model=model, object_id=str(object_id), actor=nurse).exists()


@pytest.mark.parametrize("view", ["withdrawal-timeline", "withdrawal-chart", "mar"])
@pytest.mark.parametrize("role", [Role.COUNSELOR, Role.CASE_MANAGER, Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_other_roles_are_refused(view, role, staff, episode, api):
    assert api(staff[role]).get(url(episode, view)).status_code == 403


@pytest.mark.parametrize("view", ["withdrawal-timeline", "mar"])
def test_other_facility_and_the_patient_get_nothing(view, episode, other_staff, patient, api):
    assert api(other_staff["physician"]).get(url(episode, view)).status_code == 404
    assert api(patient.user).get(url(episode, view)).status_code == 403


@pytest.mark.parametrize(
    ("query", "headers", "status", "code"),
    [("?format=gif", {}, 404, "not_found"), ("?format=json", {}, 404, "not_found"),
     ("", {"HTTP_ACCEPT": "application/json"}, 406, "not_acceptable")],
)  # fmt: skip
def test_the_chart_in_a_format_it_does_not_draw_is_a_json_error(query, headers, status, code, episode, nurse, api):
    response = api(nurse).get(url(episode, "withdrawal-chart") + query, **headers)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == code
    assert not AuditEvent.objects.filter(action="withdrawal_chart").exists()


def test_the_chart_draws_the_scores_thresholds_and_pulse(charted, nurse, api):
    svg = api(nurse).get(url(charted.episode, "withdrawal-chart") + "?format=svg").content.decode()
    assert "COWS alert threshold (25)" in svg
    assert "Time (UTC)" in svg
    assert "No withdrawal scores recorded yet" not in svg
