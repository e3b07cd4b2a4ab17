"""Patient admin: the record with its parts as inlines. Scoping, the role table and read auditing come from
ScopedModelAdmin / ScopedInline; every write goes through patients.services."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from clinic.accounts.roles import role_may
from clinic.admin_scoping import ScopedInline, ScopedModelAdmin
from clinic.audit.services import audit_record_reads
from clinic.errors import DomainError
from clinic.scoping import scope_queryset

from . import services
from .models import (
    Allergy,
    CommunicationConsent,
    CoOccurringCondition,
    Disclosure,
    DisclosureConsent,
    Patient,
    PatientContact,
    SubstanceUseHistory,
    normalise_phone,
)

# How inline rows are written: model -> (create, update, remove) through the services.
INLINE_WRITERS = {
    SubstanceUseHistory: (
        lambda actor, patient, data: services.substance_use_record(actor=actor, patient=patient, **data),
        lambda actor, obj, data: services.substance_use_update(actor=actor, entry=obj, data=data),
        None,
    ),
    CoOccurringCondition: (
        lambda actor, patient, data: services.condition_record(actor=actor, patient=patient, **data),
        lambda actor, obj, data: services.condition_update(actor=actor, condition=obj, data=data),
        None,
    ),
    Allergy: (
        lambda actor, patient, data: services.allergy_record(actor=actor, patient=patient, **data),
        lambda actor, obj, data: services.allergy_update(actor=actor, allergy=obj, data=data),
        None,
    ),
    PatientContact: (
        lambda actor, patient, data: services.contact_add(actor=actor, patient=patient, **data),
        lambda actor, obj, data: services.contact_update(actor=actor, contact=obj, data=data),
        lambda actor, obj: services.contact_remove(actor=actor, contact=obj),
    ),
    CommunicationConsent: (
        lambda actor, patient, data: services.communication_consent_record(actor=actor, patient=patient, **data),
        None,
        None,
    ),
    DisclosureConsent: (None, None, None),  # read-only inline: recorded and revoked on its own page
}


class ClinicalInline(ScopedInline):
    view_action = "patient_clinical.view"
    add_action = "patient_clinical.change"
    change_action = "patient_clinical.change"


class SubstanceUseInline(ClinicalInline):
    model = SubstanceUseHistory
    fields = [
        "substance", "substance_other", "route", "amount", "amount_unit", "frequency", "years_of_use",
        "age_at_first_use", "last_use", "notes",
    ]  # fmt: skip


class ConditionInline(ClinicalInline):
    model = CoOccurringCondition
    fields = ["name", "icd10_code", "status", "onset_date", "resolved_date", "notes"]


class AllergyInline(ClinicalInline):
    model = Allergy
    fields = ["substance", "reaction", "severity"]


class ContactInline(ScopedInline):
    model = PatientContact
    view_action = "patient_contact.view"
    add_action = "patient_contact.change"
    change_action = "patient_contact.change"
    delete_action = "patient_contact.change"
    fields = ["kind", "name", "relationship", "phone", "email", "may_contact", "notes"]


class CommunicationConsentInline(ScopedInline):
    """Append-only: earlier events show read-only; a new opt-in or opt-out is added as a new row."""

    model = CommunicationConsent
    view_action = "communication_consent.view"
    add_action = "communication_consent.change"
    fields = ["channel", "action", "source", "occurred_at", "note", "recorded_by"]
    readonly_fields = ["recorded_by"]

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "source":  # a choice made in the patient app is recorded by the app, not by staff
            kwargs["choices"] = [
                (value, label) for value, label in db_field.choices if value != CommunicationConsent.Source.PATIENT_APP
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


class DisclosureConsentInline(ScopedInline):
    """Read-only summary; consents are recorded and revoked on their own admin page."""

    model = DisclosureConsent
    view_action = "consent.view"
    fields = ["purpose", "recipients", "information_categories", "signed_at", "expires_at", "revoked_at"]
    readonly_fields = fields
    show_change_link = True


class PatientAdminForm(forms.ModelForm):
    confirm_new_person = forms.BooleanField(
        required=False,
        help_text="Tick after checking the possible duplicates listed above: this is a different person.",
    )

    class Meta:
        model = Patient
        fields = [
            "facility", "first_name", "last_name", "date_of_birth", "sex", "phone", "email", "timezone",
            "preferred_channel", "quiet_hours_start", "quiet_hours_end", "status",
        ]  # fmt: skip

    def clean_phone(self):
        try:
            return normalise_phone(self.cleaned_data.get("phone", ""))
        except ValidationError as error:
            raise forms.ValidationError(error.messages) from error

    def clean(self):
        cleaned = super().clean()
        facility = cleaned.get("facility")
        if self.instance._state.adding and facility and not cleaned.get("confirm_new_person"):
            candidates = services.patient_duplicate_candidates(
                facility=facility,
                last_name=cleaned.get("last_name", ""),
                date_of_birth=cleaned.get("date_of_birth"),
                phone=cleaned.get("phone", ""),
            )
            if candidates:
                mrns = ", ".join(candidate.mrn for candidate in candidates)
                raise forms.ValidationError(
                    f"Possible duplicate of {mrns} (same last name and date of birth, or same phone). "
                    "Open that record, or tick 'confirm new person'."
                )
        return cleaned


@admin.register(Patient)
class PatientAdmin(ScopedModelAdmin):
    form = PatientAdminForm
    view_action = "patient.view"
    add_action = "patient.create"
    change_action = "patient.change"
    list_display = ["mrn", "last_name", "first_name", "date_of_birth", "facility", "status"]
    list_filter = ["facility", "status", "sex", "preferred_channel"]
    search_fields = ["=mrn", "last_name", "first_name", "phone", "email"]
    readonly_fields = ["mrn", "user", "created_at", "updated_at"]
    list_select_related = ["facility"]
    date_hierarchy = "created_at"
    inlines = [
        ContactInline,
        CommunicationConsentInline,
        SubstanceUseInline,
        ConditionInline,
        AllergyInline,
        DisclosureConsentInline,
    ]

    def get_fields(self, request, obj=None):
        fields = [name for name in super().get_fields(request, obj) if name != "confirm_new_person"]
        return fields if obj is not None else [*fields, "confirm_new_person"]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly if obj is None else [*readonly, "facility"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "facility":
            kwargs["queryset"] = db_field.related_model.objects.filter(id__in=request.user.facility_ids())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_inline_formsets(self, request, formsets, inline_instances, obj=None):
        """Showing the change form reads every inline row: audit them like the API's reads."""
        if obj is not None and request.method == "GET":
            rows = [form.instance for formset in formsets for form in formset.initial_forms]
            audit_record_reads(actor=request.user, action="view", instances=rows)
        return super().get_inline_formsets(request, formsets, inline_instances, obj)

    def save_model(self, request, obj, form, change):
        model_fields = {field.name for field in Patient._meta.get_fields()}
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data if name in model_fields}
            stored = Patient.objects.get(pk=obj.pk)
            saved = services.patient_update(actor=request.user, patient=stored, data=data)
        else:
            fields = {
                name: value
                for name, value in form.cleaned_data.items()
                if name in model_fields and name not in ("facility", "user")
            }
            saved = services.patient_register(
                actor=request.user, facility=form.cleaned_data["facility"], confirm_new_person=True, **fields
            )
        obj.pk, obj.mrn = saved.pk, saved.mrn
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        """Inline rows are written one by one through their services (never formset.save())."""
        create, update, remove = INLINE_WRITERS[formset.model]
        patient = form.instance
        writable = {field.name for field in formset.model._meta.fields} - {"id", "patient", "recorded_by"}
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.deleted_forms:
            if inline_form.instance.pk and remove is not None:
                remove(request.user, inline_form.instance)
                formset.deleted_objects.append(inline_form.instance)
        for inline_form in formset.forms:
            if inline_form in formset.deleted_forms or not inline_form.has_changed():
                continue
            changed = [name for name in inline_form.changed_data if name in writable]
            if inline_form.instance._state.adding and create is not None:
                data = {name: inline_form.cleaned_data[name] for name in writable if name in inline_form.cleaned_data}
                formset.new_objects.append(create(request.user, patient, data))
            elif update is not None and changed:
                data = {name: inline_form.cleaned_data[name] for name in changed}
                formset.changed_objects.append((update(request.user, inline_form.instance, data), changed))


class LinesField(forms.CharField):
    """A list of names edited as one name per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class DisclosureConsentAdminForm(forms.ModelForm):
    information_categories = forms.MultipleChoiceField(
        choices=DisclosureConsent.Information.choices, widget=forms.CheckboxSelectMultiple
    )
    recipients = LinesField(help_text="One recipient (person or organisation) per line.")

    class Meta:
        model = DisclosureConsent
        fields = [
            "patient", "disclosing_party", "information_categories", "information_description", "recipients",
            "purpose", "purpose_description", "right_to_revoke_acknowledged", "expires_at", "expiry_event",
            "signed_by_name", "signer_role", "signed_at",
        ]  # fmt: skip


@admin.register(DisclosureConsent)
class DisclosureConsentAdmin(ScopedModelAdmin):
    """42 CFR Part 2 consents: recorded once, never edited; revoke with the action."""

    form = DisclosureConsentAdminForm
    view_action = "consent.view"
    add_action = "consent.change"
    list_display = ["patient", "purpose", "signed_at", "expires_at", "revoked_at"]
    list_filter = ["purpose", "patient__facility", "revoked_at"]
    search_fields = ["=patient__mrn", "patient__last_name"]
    list_select_related = ["patient"]
    readonly_fields = ["recorded_by", "revoked_at", "revoked_by", "revocation_reason", "created_at"]
    actions = ["revoke_selected"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "patient":
            kwargs["queryset"] = Patient.objects.filter(facility_id__in=request.user.facility_ids())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_revoke_permission(self, request) -> bool:
        return role_may(getattr(request.user, "role", None), "consent.revoke")

    def save_model(self, request, obj, form, change):
        fields = {name: value for name, value in form.cleaned_data.items() if name != "patient"}
        saved = services.disclosure_consent_record(actor=request.user, patient=form.cleaned_data["patient"], **fields)
        obj.pk = saved.pk
        obj._state.adding = False

    @admin.action(description="Revoke the selected consents (from now on)", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        revoked = 0
        for consent in queryset:
            try:
                services.disclosure_consent_revoke(actor=request.user, consent=consent, reason="Revoked in admin")
            except DomainError as error:
                self.message_user(request, f"{consent.pk}: {error.message}", messages.WARNING)
            else:
                revoked += 1
        self.message_user(request, f"{revoked} consent(s) revoked.")


class ConsentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, consent) -> str:
        return f"{consent.patient.mrn}: {consent.get_purpose_display()}, signed {consent.signed_at:%Y-%m-%d}"


def _show_error(form: forms.Form, error: DomainError | ValidationError) -> None:
    """A service's refusal on the form, under the field it names when the form has that field."""
    if isinstance(error, DomainError):
        named, message = error.fields, error.message
    else:
        named, message = (error.message_dict if hasattr(error, "error_dict") else {}), " ".join(error.messages)
    if not named:
        form.add_error(None, message)
    for name, field_messages in named.items():
        for text in field_messages:
            form.add_error(name if name in form.fields else None, text)


class DisclosureAdminForm(forms.ModelForm):
    consent = ConsentChoiceField(queryset=DisclosureConsent.objects.none())
    information_categories = forms.MultipleChoiceField(
        choices=DisclosureConsent.Information.choices, widget=forms.CheckboxSelectMultiple
    )
    disclosed_at = forms.SplitDateTimeField(
        required=False,
        widget=admin.widgets.AdminSplitDateTime,
        help_text="When the records went out; leave empty for now.",
    )

    class Meta:
        model = Disclosure
        fields = ["consent", "recipient", "information_categories", "purpose", "description", "method", "disclosed_at"]


@admin.register(Disclosure)
class DisclosureAdmin(ScopedModelAdmin):
    """The accounting of disclosures: recorded once through patients.services.disclosure_record (which checks
    the consent and attaches the redisclosure notice and the consent summary), then read-only for good."""

    form = DisclosureAdminForm
    view_action = "disclosure.view"
    add_action = "disclosure.record"
    list_display = ["patient", "recipient", "purpose", "method", "disclosed_at", "disclosed_by"]
    list_filter = ["recipient", "purpose", "method"]
    search_fields = ["recipient", "=patient__mrn"]
    list_select_related = ["patient", "disclosed_by"]
    date_hierarchy = "disclosed_at"
    recorded_fields = [
        "patient", "consent", "recipient", "information_categories", "purpose", "description", "method",
        "disclosed_at", "disclosed_by", "notice", "consent_summary", "created_at",
    ]  # fmt: skip

    def get_fields(self, request, obj=None):
        return self.recorded_fields if obj is not None else DisclosureAdminForm.Meta.fields

    def get_readonly_fields(self, request, obj=None):
        return self.recorded_fields if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            return form_class
        consents = scope_queryset(DisclosureConsent.objects.select_related("patient"), request.user)

        class RecordingForm(form_class):
            """Records through the service once the fields are valid, so its refusals show on the form."""

            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.fields["consent"].queryset = consents

            def _post_clean(self):
                if self.errors:
                    return
                data = dict(self.cleaned_data)
                try:
                    self.instance = services.disclosure_record(actor=request.user, **data)
                except (DomainError, ValidationError) as error:
                    _show_error(self, error)

        return RecordingForm

    def save_model(self, request, obj, form, change):
        """Recorded by the service while the form was validated (see `get_form`)."""
