"""What goes out with every disclosure of a patient's records: the redisclosure notice (42 CFR 2.32) and a
summary of the consent it was made under."""

import datetime

from .models import DisclosureConsent

# Our plain wording of the statement 42 CFR 2.32 requires with each disclosure made with the patient's consent.
REDISCLOSURE_NOTICE = (
    "This information has been disclosed to you from records protected by federal confidentiality rules "
    "(42 CFR part 2). The federal rules prohibit you from making any further disclosure of this information "
    "unless further disclosure is expressly permitted by the written consent of the person to whom it pertains "
    "or is otherwise permitted by 42 CFR part 2. A general authorization for the release of medical or other "
    "information is NOT sufficient for this purpose. The federal rules restrict any use of the information to "
    "criminally investigate or prosecute any patient with a substance use disorder."
)


def _utc_iso(value: datetime.datetime) -> str:
    """ISO 8601 in UTC with a Z, as the API writes every other time."""
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def consent_summary(consent: DisclosureConsent) -> dict:
    """The consent as it stands, frozen into the disclosure: who may disclose what to whom, why, until when,
    and who signed it when (times as ISO 8601 strings in UTC)."""
    return {
        "consent": str(consent.pk),
        "disclosing_party": consent.disclosing_party,
        "recipients": list(consent.recipients),
        "information_categories": list(consent.information_categories),
        "information_description": consent.information_description,
        "purpose": consent.purpose,
        "purpose_description": consent.purpose_description,
        "expires_at": _utc_iso(consent.expires_at),
        "expiry_event": consent.expiry_event,
        "signed_by_name": consent.signed_by_name,
        "signer_role": consent.signer_role,
        "signed_at": _utc_iso(consent.signed_at),
        "right_to_revoke_acknowledged": consent.right_to_revoke_acknowledged,
    }
