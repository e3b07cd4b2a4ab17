import datetime
import re
import zoneinfo
from decimal import Decimal

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from clinic.accounts.models import Facility
from clinic.models import TimestampedModel
from clinic.scoping import Scope


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a valid IANA time zone name.")


def validate_not_future(value) -> None:
    if value > timezone.localdate():
        raise ValidationError("The date cannot be in the future.")


EARLIEST_DATE_OF_BIRTH = datetime.date(1900, 1, 1)


def validate_date_of_birth(value) -> None:
    validate_not_future(value)
    if value < EARLIEST_DATE_OF_BIRTH:
        raise ValidationError("The date of birth is before 1900; check the year.")


def validate_datetime_not_future(value) -> None:
    if value > timezone.now():
        raise ValidationError("The time cannot be in the future.")


DEFAULT_PHONE_REGION = "US"


def parse_phone(value: str) -> phonenumbers.PhoneNumber:
    """Parse a phone number written as a person would (national numbers default to the US); invalid raises."""
    try:
        number = phonenumbers.parse(value, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as error:
        raise ValidationError("Enter a valid phone number, e.g. +1 617 555 0123.") from error
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Enter a valid phone number, e.g. +1 617 555 0123.")
    return number


def normalise_phone(value: str) -> str:
    """The E.164 form of a phone number ("" stays ""). Raises ValidationError when the number is not valid."""
    if not value or not value.strip():
        return ""
    return phonenumbers.format_number(parse_phone(value), phonenumbers.PhoneNumberFormat.E164)


def validate_phone(value: str) -> None:
    if value:
        parse_phone(value)


ICD10_PATTERN = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


def validate_icd10_code(value: str) -> None:
    """The shape of an ICD-10(-CM) code: letter, digit, digit or letter (C4A), then an optional dot and 1-4
    letters or digits (F11.20, T40.2X1A).
    Case and surrounding spaces are forgiven here; the services store the code upper-cased and stripped."""
    if value and not ICD10_PATTERN.match(value.strip().upper()):
        raise ValidationError(f"{value!r} is not shaped like an ICD-10 code (e.g. F11.20).")


def validate_information_categories(value: list[str]) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Name at least one kind of information.")
    allowed = set(DisclosureConsent.Information.values)
    if any(item not in allowed for item in value):
        raise ValidationError("Unknown kind of information.")
    if len(set(value)) != len(value):
        raise ValidationError("Each kind of information may be named once.")


def validate_recipients(value: list[str]) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Name at least one recipient.")
    if any(not isinstance(name, str) or not name.strip() or len(name) > 200 for name in value):
        raise ValidationError("Each recipient is a name of 1 to 200 characters.")


class Patient(TimestampedModel):
    SCOPE = Scope(facility="facility", patient="")

    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        INTERSEX = "intersex", "Intersex"
        UNKNOWN = "unknown", "Unknown"

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "Email"
        PUSH = "push", "Push"
        NONE = "none", "None"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        DECEASED = "deceased", "Deceased"

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=32, editable=False)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(validators=[validate_date_of_birth])
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = models.CharField(max_length=20, blank=True, validators=[validate_phone], help_text="Stored as E.164.")
    email = models.EmailField(blank=True)
    timezone = models.CharField(max_length=64, default="America/New_York", validators=[validate_timezone])
    preferred_channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.NONE)
    quiet_hours_start = models.TimeField(
        null=True, blank=True, help_text="Local time in the patient's time zone; may wrap past midnight."
    )
    quiet_hours_end = models.TimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="patient_record"
    )

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [models.UniqueConstraint(fields=["facility", "mrn"], name="patient_mrn_unique_per_facility")]
        indexes = [
            models.Index(fields=["facility", "last_name", "date_of_birth"]),
            models.Index(fields=["facility", "phone"]),
            # `mrn` and `search` match the MRN case-insensitively (UPPER(mrn) = UPPER(...)).
            models.Index(Upper("mrn"), name="patient_mrn_upper"),
        ]
        # `search` also matches names and phone digits anywhere in them (icontains / contains): PostgreSQL
        # serves that with pg_trgm GIN indexes, created by migration 0004 only on PostgreSQL (see there).

    def __str__(self) -> str:
        return f"{self.mrn}"

    def age_on(self, day: datetime.date) -> int:
        had_birthday = (day.month, day.day) >= (self.date_of_birth.month, self.date_of_birth.day)
        return day.year - self.date_of_birth.year - (0 if had_birthday else 1)

    def clean(self) -> None:
        errors = {}
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            missing = "quiet_hours_end" if self.quiet_hours_end is None else "quiet_hours_start"
            errors[missing] = ["Give both the start and the end of the quiet hours, or neither."]
        elif self.quiet_hours_start is not None and self.quiet_hours_start == self.quiet_hours_end:
            errors["quiet_hours_end"] = ["Quiet hours must end at a different time than they start."]
        if self.preferred_channel == self.Channel.SMS and not self.phone:
            errors["phone"] = ["A phone number is needed when the preferred channel is SMS."]
        if self.preferred_channel == self.Channel.EMAIL and not self.email:
            errors["email"] = ["An email address is needed when the preferred channel is email."]
        if errors:
            raise ValidationError(errors)


class MrnSequence(models.Model):
    """The next MRN number per facility; rows are locked while a number is taken, so MRNs never repeat."""

    facility = models.OneToOneField(Facility, on_delete=models.CASCADE, primary_key=True)
    next_number = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.facility_id}: {self.next_number}"


class SubstanceUseHistory(TimestampedModel):
    """One substance a patient uses or has used; kratom is a first-class substance, not "other"."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Substance(models.TextChoices):
        KRATOM = "kratom", "Kratom"
        ALCOHOL = "alcohol", "Alcohol"
        PRESCRIPTION_OPIOIDS = "prescription_opioids", "Prescription opioids"
        HEROIN = "heroin", "Heroin"
        FENTANYL = "fentanyl", "Fentanyl"
        BENZODIAZEPINES = "benzodiazepines", "Benzodiazepines"
        STIMULANTS = "stimulants", "Stimulants"
        CANNABIS = "cannabis", "Cannabis"
        OTHER = "other", "Other"

    class Route(models.TextChoices):
        ORAL = "oral", "Oral (swallowed, tea, capsules)"
        SUBLINGUAL = "sublingual", "Sublingual"
        SMOKED = "smoked", "Smoked"
        VAPED = "vaped", "Vaped"
        INTRANASAL = "intranasal", "Intranasal"
        INJECTED = "injected", "Injected"
        TRANSDERMAL = "transdermal", "Transdermal"
        OTHER = "other", "Other"

    class AmountUnit(models.TextChoices):
        GRAMS = "g", "grams"
        MILLIGRAMS = "mg", "milligrams"
        MICROGRAMS = "mcg", "micrograms"
        MILLILITRES = "ml", "millilitres"
        STANDARD_DRINKS = "standard_drinks", "standard drinks"
        TABLETS = "tablets", "tablets/capsules"
        BAGS = "bags", "bags"
        DOSES = "doses", "doses"
        OTHER = "other", "other"

    class Frequency(models.TextChoices):
        SEVERAL_TIMES_DAILY = "several_daily", "Several times a day"
        DAILY = "daily", "Daily"
        SEVERAL_TIMES_WEEKLY = "several_weekly", "Several times a week"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"
        LESS_THAN_MONTHLY = "less_than_monthly", "Less than monthly"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="substance_use_history")
    substance = models.CharField(max_length=32, choices=Substance.choices)
    substance_other = models.CharField(max_length=120, blank=True, help_text="Required when substance is other.")
    route = models.CharField(max_length=16, choices=Route.choices, blank=True)
    amount = models.DecimalField(
        max_digits=9, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0.01"))]
    )
    amount_unit = models.CharField(max_length=16, choices=AmountUnit.choices, blank=True)
    frequency = models.CharField(max_length=24, choices=Frequency.choices, blank=True)
    years_of_use = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )
    age_at_first_use = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    last_use = models.DateTimeField(null=True, blank=True, validators=[validate_datetime_not_future])
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["patient", "-last_use", "created_at"]
        verbose_name_plural = "substance use history"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(substance="other") | ~models.Q(substance_other=""),
                name="substance_other_described",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True, amount_unit="")
                | (models.Q(amount__isnull=False) & ~models.Q(amount_unit="")),
                name="substance_amount_has_unit",
            ),
        ]

    def __str__(self) -> str:
        return self.substance_other if self.substance == self.Substance.OTHER else self.get_substance_display()

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.substance == self.Substance.OTHER and not self.substance_other.strip():
            errors["substance_other"] = ["Name the substance when it is other."]
        if self.substance != self.Substance.OTHER and self.substance_other:
            errors["substance_other"] = ["Only for substance other; kratom and the listed substances have a code."]
        if self.amount is not None and not self.amount_unit:
            errors["amount_unit"] = ["Give the unit of the amount."]
        if self.amount is None and self.amount_unit:
            errors["amount"] = ["Give the amount for this unit."]
        try:
            patient = self.patient
        except Patient.DoesNotExist:
            patient = None
        age = patient.age_on(timezone.localdate()) if patient and patient.date_of_birth else None
        if age is not None and self.age_at_first_use is not None and self.age_at_first_use > age:
            errors["age_at_first_use"] = ["The age at first use is above the patient's age."]
        if age is not None and self.years_of_use is not None and self.years_of_use > age:
            errors["years_of_use"] = ["The years of use are more than the patient's age."]
        if errors:
            raise ValidationError(errors)


class CoOccurringCondition(TimestampedModel):
    """A co-occurring (dual-diagnosis) condition; resolving one keeps the row."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RESOLVED = "resolved", "Resolved"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="conditions")
    name = models.CharField(max_length=200)
    icd10_code = models.CharField("ICD-10 code", max_length=8, blank=True, validators=[validate_icd10_code])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    onset_date = models.DateField(null=True, blank=True, validators=[validate_not_future])
    resolved_date = models.DateField(null=True, blank=True, validators=[validate_not_future])
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["patient", "status", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.resolved_date and self.status != self.Status.RESOLVED:
            errors["resolved_date"] = ["Only a resolved condition has a resolved date."]
        if self.resolved_date and self.onset_date and self.resolved_date < self.onset_date:
            errors["resolved_date"] = ["The condition cannot resolve before its onset."]
        if errors:
            raise ValidationError(errors)


class Allergy(TimestampedModel):
    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"
        LIFE_THREATENING = "life_threatening", "Life-threatening"
        UNKNOWN = "unknown", "Unknown"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="allergies")
    substance = models.CharField(max_length=120, help_text="A drug, drug class, food or other agent.")
    reaction = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.UNKNOWN)

    class Meta:
        ordering = ["patient", "substance"]
        verbose_name_plural = "allergies"

    def __str__(self) -> str:
        return self.substance


class PatientContact(TimestampedModel):
    """An emergency or support contact (family, sponsor, friend)."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Kind(models.TextChoices):
        EMERGENCY = "emergency", "Emergency"
        SUPPORT = "support", "Support"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="contacts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    relationship = models.CharField(max_length=100)
    phone = models.CharField(max_length=20, blank=True, validators=[validate_phone])
    email = models.EmailField(blank=True)
    may_contact = models.BooleanField(
        default=False, help_text="The patient agrees that the clinic may contact this person."
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["patient", "kind", "name"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} contact"

    def clean(self) -> None:
        if self.kind == self.Kind.EMERGENCY and not self.phone:
            raise ValidationError({"phone": ["An emergency contact needs a phone number."]})
        if not self.phone and not self.email:
            raise ValidationError({"phone": ["Give a phone number or an email address."]})


class CommunicationConsent(TimestampedModel):
    """One opt-in or opt-out event for a channel. Rows are never changed or deleted: the latest per channel rules."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "Email"
        PUSH = "push", "Push"

    class Action(models.TextChoices):
        OPT_IN = "opt_in", "Opt in"
        OPT_OUT = "opt_out", "Opt out"

    class Source(models.TextChoices):
        PATIENT_APP = "patient_app", "Patient app"
        PAPER_FORM = "paper_form", "Signed paper form"
        VERBAL = "verbal", "Verbal, recorded by staff"
        SMS_KEYWORD = "sms_keyword", "SMS keyword (e.g. STOP)"
        EMAIL_LINK = "email_link", "Email unsubscribe link"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="communication_consents")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    action = models.CharField(max_length=8, choices=Action.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    occurred_at = models.DateTimeField(default=timezone.now, validators=[validate_datetime_not_future])
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["patient", "channel", "-occurred_at", "-created_at"]
        indexes = [models.Index(fields=["patient", "channel", "-occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.get_action_display()}"


class DisclosureConsent(TimestampedModel):
    """A written consent to disclose substance-use records outside the clinic, with the 42 CFR 2.31 elements.

    Revoking sets `revoked_at`; the row and what it allowed stay for the accounting of disclosures.
    """

    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Purpose(models.TextChoices):
        TREATMENT = "treatment", "Treatment"
        PAYMENT = "payment", "Payment"
        HEALTH_CARE_OPERATIONS = "health_care_operations", "Health care operations"
        CARE_COORDINATION = "care_coordination", "Care coordination"
        FAMILY_INVOLVEMENT = "family_involvement", "Family involvement in care"
        LEGAL = "legal", "Legal or court proceedings"
        EMPLOYMENT = "employment", "Employment"
        RESEARCH = "research", "Research"
        OTHER = "other", "Other (described)"

    class Information(models.TextChoices):
        ALL_RECORDS = "all_records", "All substance-use treatment records"
        ATTENDANCE = "attendance", "Attendance and enrollment status"
        SUBSTANCE_USE_HISTORY = "substance_use_history", "Substance-use history"
        DIAGNOSES = "diagnoses", "Diagnoses"
        MEDICATIONS = "medications", "Medications"
        DRUG_SCREENS = "drug_screens", "Drug screen results"
        TREATMENT_PLAN = "treatment_plan", "Treatment plan and progress"
        DISCHARGE_SUMMARY = "discharge_summary", "Discharge summary"

    class SignerRole(models.TextChoices):
        PATIENT = "patient", "Patient"
        GUARDIAN = "guardian", "Parent or guardian"
        PERSONAL_REPRESENTATIVE = "personal_representative", "Authorized personal representative"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="disclosure_consents")
    disclosing_party = models.CharField(
        max_length=200, help_text="Who may disclose: the program or person named on the consent."
    )
    # Lists stored as JSON (not ArrayField) so the same schema runs on SQLite for `make run`.
    information_categories = models.JSONField(
        validators=[validate_information_categories],
        help_text="Kinds of information that may be disclosed (a list of category codes).",
    )
    information_description = models.TextField(
        help_text="How much and what kind of information may be disclosed, in specific terms."
    )
    recipients = models.JSONField(
        validators=[validate_recipients], help_text="Names of the persons or organisations that may receive it."
    )
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    purpose_description = models.CharField(max_length=300, blank=True)
    right_to_revoke_acknowledged = models.BooleanField(default=False)
    expires_at = models.DateTimeField()
    expiry_event = models.CharField(
        max_length=300, blank=True, help_text="An event or condition that ends the consent earlier, if any."
    )
    signed_by_name = models.CharField(max_length=200)
    signer_role = models.CharField(max_length=32, choices=SignerRole.choices, default=SignerRole.PATIENT)
    signed_at = models.DateTimeField(validators=[validate_datetime_not_future])
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revocation_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["patient", "-signed_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("signed_at")), name="consent_expires_after_signing"
            ),
            models.CheckConstraint(
                condition=models.Q(right_to_revoke_acknowledged=True), name="consent_states_right_to_revoke"
            ),
        ]

    def __str__(self) -> str:
        return f"Disclosure consent ({self.get_purpose_display()})"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.signed_at and self.expires_at and self.expires_at <= self.signed_at:
            errors["expires_at"] = ["The consent must expire after it is signed."]
        elif self._state.adding and self.expires_at and self.expires_at <= timezone.now():
            errors["expires_at"] = ["The consent has already expired; the expiry must be in the future."]
        if not self.right_to_revoke_acknowledged:
            errors["right_to_revoke_acknowledged"] = [
                "The consent must state the patient's right to revoke it (42 CFR 2.31(a)(4))."
            ]
        if self.purpose == self.Purpose.OTHER and not self.purpose_description.strip():
            errors["purpose_description"] = ["Describe the purpose when it is other."]
        if self.recipients is not None and any(not name.strip() for name in self.recipients):
            errors["recipients"] = ["A recipient name cannot be blank."]
        if errors:
            raise ValidationError(errors)

    def is_in_force(self, at: datetime.datetime) -> bool:
        return self.revoked_at is None and self.signed_at <= at < self.expires_at


class Disclosure(TimestampedModel):
    """One disclosure of a patient's substance-use records outside the clinic: the accounting of disclosures.

    Recorded only through `patients.services.disclosure_record`, which checks it against its consent and keeps
    the redisclosure notice and a summary of the consent exactly as they went out with the records.

    Append-only and kept: no API, admin or model path changes or deletes a row (`save` refuses an update,
    `delete` refuses), and the patient and consent are PROTECTed, so neither can be deleted from under it.
    Rows are never deleted, which more than meets the accounting's retention of at least 3 years (PRODUCT.md).
    """

    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Method(models.TextChoices):
        FAX = "fax", "Fax"
        MAIL = "mail", "Mail"
        ELECTRONIC = "electronic", "Electronic (secure email, portal, HIE)"
        IN_PERSON = "in_person", "In person"
        PHONE = "phone", "Phone"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="disclosures")
    consent = models.ForeignKey(DisclosureConsent, on_delete=models.PROTECT, related_name="disclosures")
    recipient = models.CharField(max_length=200, help_text="One of the consent's recipients, as named there.")
    information_categories = models.JSONField(
        validators=[validate_information_categories], help_text="Kinds of information disclosed (category codes)."
    )
    purpose = models.CharField(max_length=32, choices=DisclosureConsent.Purpose.choices)
    description = models.TextField(help_text="What was sent: documents, date range, pages.")
    method = models.CharField(max_length=16, choices=Method.choices)
    disclosed_at = models.DateTimeField(default=timezone.now, db_index=True, validators=[validate_datetime_not_future])
    disclosed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    notice = models.TextField(help_text="The redisclosure notice (42 CFR 2.32) as sent with the records.")
    consent_summary = models.JSONField(help_text="The consent as it stood when disclosing, sent with the records.")

    class Meta:
        ordering = ["patient", "-disclosed_at"]

    def __str__(self) -> str:
        return f"Disclosure ({self.get_purpose_display()}, {self.get_method_display()})"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValidationError("A disclosure is never changed: the accounting of disclosures is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("A disclosure is never deleted: the accounting of disclosures is kept.")
