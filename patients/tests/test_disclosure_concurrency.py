"""A revocation and a disclosure at once, each in its own thread and connection with real transactions: the
disclosure locks the consent row, so it either commits before the revocation or sees it and is refused."""

import threading
import time

import pytest
from django.db import connection, transaction

from clinic.errors import Conflict
from patients import services
from patients.models import Disclosure, DisclosureConsent
from patients.tests.factories import DisclosureConsentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _in_thread(work, outcomes: dict, name: str, *, start: threading.Event | None = None, hold: float = 0.0):
    def run():
        try:
            if start is not None:
                start.wait(timeout=10)
            with transaction.atomic():
                outcomes[name] = work()
                time.sleep(hold)  # keep the transaction (and its locks) open while the other one arrives
        except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[name] = error
        finally:
            connection.close()

    return threading.Thread(target=run)


def test_a_disclosure_waiting_on_a_revocation_is_refused_once_it_commits(patient, staff):
    consent = DisclosureConsentFactory(patient=patient)
    outcomes: dict[str, object] = {}
    revoking = threading.Event()

    def revoke():
        revoked = services.disclosure_consent_revoke(actor=staff["case_manager"], consent=consent)
        revoking.set()  # the consent row is locked and revoked; the commit comes after `hold`
        return revoked

    def disclose():
        return services.disclosure_record(
            actor=staff["physician"],
            consent=consent,
            recipient=consent.recipients[0],
            information_categories=["attendance"],
            purpose=consent.purpose,
            description="Attendance record",
            method="fax",
        )

    threads = [
        _in_thread(revoke, outcomes, "revoke", hold=0.5),
        _in_thread(disclose, outcomes, "disclose", start=revoking),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert isinstance(outcomes["revoke"], DisclosureConsent), outcomes
    assert isinstance(outcomes["disclose"], Conflict), outcomes
    assert outcomes["disclose"].code == "consent_revoked"
    assert not Disclosure.objects.exists()
