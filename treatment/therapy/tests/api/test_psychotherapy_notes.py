import pytest

from treatment.therapy.models import PsychotherapyNote

from ..conftest import audited
from ..factories import PsychotherapyNoteFactory

pytestmark = pytest.mark.usefixtures("clock")


def test_only_the_author_reads_and_changes_a_psychotherapy_note(episode, counselor, counselor_b, staff, api):
    response = api(counselor).post(
        "/api/v1/psychotherapy-notes/", {"episode": str(episode.pk), "content": "Process notes."}, format="json"
    )
    assert response.status_code == 201, response.content
    note_id = response.json()["id"]
    url = f"/api/v1/psychotherapy-notes/{note_id}/"
    assert api(counselor).get(url).json()["content"] == "Process notes."
    for reader in (counselor_b, staff["physician"]):  # same facility, allowed by role, still not theirs
        assert api(reader).get(url).status_code == 404
        assert api(reader).get("/api/v1/psychotherapy-notes/").json()["results"] == []
        assert api(reader).patch(url, {"content": "Mine now."}, format="json").status_code == 404
    response = api(counselor).patch(url, {"content": "Revised."}, format="json")
    assert (response.status_code, response.json()["content"]) == (200, "Revised.")
    assert audited(action="create", model="therapy.psychotherapynote", object_id=note_id)
    assert audited(action="view", model="therapy.psychotherapynote", object_id=note_id)


@pytest.mark.parametrize("role", ["nurse", "case_manager", "front_desk", "clinic_admin"])
def test_other_roles_have_no_psychotherapy_notes(role, episode, staff, api):
    PsychotherapyNoteFactory(episode=episode, author=staff[role])  # even a row in their name stays closed
    client = api(staff[role])
    assert client.get("/api/v1/psychotherapy-notes/").status_code == 403
    response = client.post("/api/v1/psychotherapy-notes/", {"episode": str(episode.pk), "content": "x"}, format="json")
    assert response.status_code == 403


def test_the_patient_has_no_access_through_the_app(episode, counselor, patient, api):
    note = PsychotherapyNoteFactory(episode=episode, author=counselor)
    assert api(patient.user).get(f"/api/v1/psychotherapy-notes/{note.pk}/").status_code == 403


def test_another_facility_cannot_write_one_for_our_patient(episode, other_staff, api):
    response = api(other_staff["counselor"]).post(
        "/api/v1/psychotherapy-notes/", {"episode": str(episode.pk), "content": "x"}, format="json"
    )
    assert response.status_code == 404
    assert not PsychotherapyNote.objects.exists()


def test_the_list_takes_the_same_queries_for_1_or_50_notes(episode, counselor, assert_constant_list_queries):
    PsychotherapyNoteFactory.create_batch(50, episode=episode, author=counselor)
    assert_constant_list_queries(counselor, "/api/v1/psychotherapy-notes/", bound=5)
