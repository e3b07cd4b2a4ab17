"""GET /drugs/: the catalogue, for the roles that order and give medication."""

import pytest

from clinic.accounts.roles import Role


def test_clinicians_read_the_catalogue_with_controlled_substances_flagged(nurse, physician, api):
    for user in (nurse, physician):
        response = api(user).get("/api/v1/drugs/?page_size=100")
        assert response.status_code == 200
        rows = {row["code"]: row for row in response.json()["results"]}
        assert len(rows) == 16
    assert (rows["lorazepam"]["controlled"], rows["lorazepam"]["schedule"]) == (True, "IV")
    assert rows["lorazepam"]["drug_class"] == "benzodiazepine"
    assert (rows["clonidine"]["controlled"], rows["clonidine"]["drug_class_label"]) == (
        False, "Alpha-2 adrenergic agonist"
    )  # fmt: skip
    controlled = api(nurse).get("/api/v1/drugs/?controlled=true").json()["results"]
    assert sorted(row["code"] for row in controlled) == ["buprenorphine", "chlordiazepoxide", "diazepam", "lorazepam"]
    detail = api(nurse).get(f"/api/v1/drugs/{rows['melatonin']['id']}/")
    assert detail.json()["drug_class"] == "sleep_aid"


@pytest.mark.parametrize("role", [Role.COUNSELOR, Role.CASE_MANAGER, Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_other_roles_do_not_read_the_catalogue(role, staff, api):
    assert api(staff[role]).get("/api/v1/drugs/").status_code == 403


def test_patients_do_not_read_the_catalogue(patient, api):
    assert api(patient.user).get("/api/v1/drugs/").status_code == 403
    assert api().get("/api/v1/drugs/").status_code == 401
