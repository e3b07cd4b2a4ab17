import django_filters
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.response import Response

from clinic.accounts.models import Facility
from clinic.accounts.roles import Role
from clinic.api.concurrency import etag_for, if_match_check
from clinic.api.filters import SyncFilterSet, UtcDateTimeFilter
from clinic.api.views import UNSAFE_UPDATES, ContractAPIView, ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet
from clinic.audit.services import audit_record_reads
from clinic.errors import ValidationFailed
from patients import extensions, selectors, services
from patients.models import (
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

from . import serializers as s

# Patients


class PatientFilter(SyncFilterSet):
    search = django_filters.CharFilter(
        method="filter_search", label="Name, MRN or phone; every word must match one of them."
    )
    facility = django_filters.UUIDFilter(field_name="facility_id")
    mrn = django_filters.CharFilter(lookup_expr="iexact")
    date_of_birth = django_filters.DateFilter()
    phone = django_filters.CharFilter(method="filter_phone", label="A phone number in any common format.")
    status = django_filters.ChoiceFilter(choices=Patient.Status.choices)
    stage = django_filters.CharFilter(
        method="filter_stage", label="Stage of the patient's open episode (assessment, detox, therapy, ...)."
    )

    class Meta:
        model = Patient
        fields = ["search", "facility", "mrn", "date_of_birth", "phone", "status", "stage", "updated_since"]

    def filter_stage(self, queryset, name, value):
        registered = extensions.stage_filter()
        if registered is None:
            raise ValidationFailed(
                "Filtering by stage is not available.", fields={"stage": ["Episodes are not set up."]}
            )
        if value not in registered.choices:
            choices = ", ".join(registered.choices)
            raise ValidationFailed(f"stage: choose one of {choices}.", fields={"stage": [f"Choose one of {choices}."]})
        return registered.apply(queryset, value)

    def filter_phone(self, queryset, name, value):
        try:
            return queryset.filter(phone=normalise_phone(value))
        except ValidationError as error:
            raise ValidationFailed(f"phone: {error.messages[0]}", fields={"phone": error.messages}) from error

    def filter_search(self, queryset, name, value):
        try:
            return queryset.filter(phone=normalise_phone(value))
        except ValidationError:
            pass  # not a whole phone number: match word by word
        for word in value.split()[:5]:
            matches = Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(mrn__iexact=word)
            digits = "".join(ch for ch in word if ch.isdigit())
            if len(digits) >= 4:
                matches |= Q(phone__contains=digits)
            queryset = queryset.filter(matches)
        return queryset


class PatientViewSet(ScopedListMixin, ScopedRetrieveMixin, mixins.UpdateModelMixin, ScopedViewSet):
    """Patients: demographics and contact details. Clinical parts are separate resources (other roles)."""

    queryset = Patient.objects.select_related("facility")
    serializer_class = s.PatientUpdateSerializer
    output_serializer_class = s.PatientOutputSerializer
    filterset_class = PatientFilter
    action_permissions = {
        "list": "patient.view",
        "retrieve": "patient.view",
        "create": "patient.create",
        "update": "patient.change",
        "partial_update": "patient.change",
        "transfer": "patient.transfer",
    }

    @extend_schema(request=s.PatientCreateSerializer, responses={201: s.PatientOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.PatientCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patient = services.patient_register(actor=request.user, **serializer.validated_data)
        return self.output(patient, status=201)

    @extend_schema(request=s.PatientUpdateSerializer, responses={200: s.PatientOutputSerializer})
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        patient = self.get_object()
        serializer = s.PatientUpdateSerializer(patient, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        patient = services.patient_update(actor=request.user, patient=patient, data=serializer.validated_data)
        return self.output(patient)

    @extend_schema(request=s.PatientTransferSerializer, responses={200: s.PatientOutputSerializer})
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        """Move the patient to another facility you also work in (new MRN there). The episode of care must be
        closed first. The old facility's staff see the patient and every record leave their scope
        (`sync/deletions/`, reason `left_scope`)."""
        patient = self.get_object()
        serializer = s.PatientTransferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        facility = Facility.objects.filter(pk=serializer.validated_data["facility"]).first()
        if facility is None:
            raise ValidationFailed("Check the transfer.", fields={"facility": ["You do not work in this facility."]})
        patient = services.patient_transfer(
            actor=request.user, patient=patient, facility=facility, reason=serializer.validated_data["reason"]
        )
        return self.output(patient)


# Parts of the record: one top-level resource each, filtered by `patient`, scoped through the patient.


class RecordFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")


class PatientRecordViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """List, retrieve, create (with a `patient` id the caller may see) and PATCH one part of a record."""

    create_serializer_class = None
    update_serializer_class = None

    def get_serializer_class(self):
        if self.action == "create":
            return self.create_serializer_class
        if self.action == "partial_update":
            return self.update_serializer_class
        return super().get_serializer_class()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        patient = selectors.patient_get(actor=request.user, patient_id=data.pop("patient"))
        record = self.record(actor=request.user, patient=patient, data=data)
        return self.output(record, status=201)

    def partial_update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        record = self.change(actor=request.user, instance=instance, data=dict(serializer.validated_data))
        return self.output(record)

    def record(self, *, actor, patient, data):
        raise NotImplementedError

    def change(self, *, actor, instance, data):
        raise NotImplementedError


class SubstanceUseFilter(RecordFilter):
    substance = django_filters.ChoiceFilter(choices=SubstanceUseHistory.Substance.choices)

    class Meta:
        model = SubstanceUseHistory
        fields = ["patient", "substance", "updated_since"]


@extend_schema(responses=s.SubstanceUseOutputSerializer)
class SubstanceUseViewSet(PatientRecordViewSet):
    """Substance-use history entries (clinical: clinicians only)."""

    queryset = SubstanceUseHistory.objects.all()
    output_serializer_class = s.SubstanceUseOutputSerializer
    create_serializer_class = s.SubstanceUseCreateSerializer
    update_serializer_class = s.SubstanceUseUpdateSerializer
    serializer_class = s.SubstanceUseCreateSerializer
    filterset_class = SubstanceUseFilter
    action_permissions = {
        "list": "patient_clinical.view",
        "retrieve": "patient_clinical.view",
        "create": "patient_clinical.change",
        "partial_update": "patient_clinical.change",
    }

    def record(self, *, actor, patient, data):
        return services.substance_use_record(actor=actor, patient=patient, **data)

    def change(self, *, actor, instance, data):
        return services.substance_use_update(actor=actor, entry=instance, data=data)


class ConditionFilter(RecordFilter):
    status = django_filters.ChoiceFilter(choices=CoOccurringCondition.Status.choices)

    class Meta:
        model = CoOccurringCondition
        fields = ["patient", "status", "updated_since"]


@extend_schema(responses=s.ConditionOutputSerializer)
class ConditionViewSet(PatientRecordViewSet):
    """Co-occurring conditions (dual diagnosis); resolve one by PATCHing its status."""

    queryset = CoOccurringCondition.objects.all()
    output_serializer_class = s.ConditionOutputSerializer
    create_serializer_class = s.ConditionCreateSerializer
    update_serializer_class = s.ConditionUpdateSerializer
    serializer_class = s.ConditionCreateSerializer
    filterset_class = ConditionFilter
    action_permissions = SubstanceUseViewSet.action_permissions

    def record(self, *, actor, patient, data):
        return services.condition_record(actor=actor, patient=patient, **data)

    def change(self, *, actor, instance, data):
        return services.condition_update(actor=actor, condition=instance, data=data)


class AllergyFilter(RecordFilter):
    class Meta:
        model = Allergy
        fields = ["patient", "updated_since"]


@extend_schema(responses=s.AllergyOutputSerializer)
class AllergyViewSet(PatientRecordViewSet):
    queryset = Allergy.objects.all()
    output_serializer_class = s.AllergyOutputSerializer
    create_serializer_class = s.AllergyCreateSerializer
    update_serializer_class = s.AllergyUpdateSerializer
    serializer_class = s.AllergyCreateSerializer
    filterset_class = AllergyFilter
    action_permissions = SubstanceUseViewSet.action_permissions

    def record(self, *, actor, patient, data):
        return services.allergy_record(actor=actor, patient=patient, **data)

    def change(self, *, actor, instance, data):
        return services.allergy_update(actor=actor, allergy=instance, data=data)


class ContactFilter(RecordFilter):
    kind = django_filters.ChoiceFilter(choices=PatientContact.Kind.choices)

    class Meta:
        model = PatientContact
        fields = ["patient", "kind", "updated_since"]


@extend_schema(responses=s.ContactOutputSerializer)
class ContactViewSet(mixins.DestroyModelMixin, PatientRecordViewSet):
    """Emergency and support contacts (front desk and clinicians)."""

    queryset = PatientContact.objects.all()
    output_serializer_class = s.ContactOutputSerializer
    create_serializer_class = s.ContactCreateSerializer
    update_serializer_class = s.ContactUpdateSerializer
    serializer_class = s.ContactCreateSerializer
    filterset_class = ContactFilter
    action_permissions = {
        "list": "patient_contact.view",
        "retrieve": "patient_contact.view",
        "create": "patient_contact.change",
        "partial_update": "patient_contact.change",
        "destroy": "patient_contact.change",
    }

    def record(self, *, actor, patient, data):
        return services.contact_add(actor=actor, patient=patient, **data)

    def change(self, *, actor, instance, data):
        return services.contact_update(actor=actor, contact=instance, data=data)

    def perform_destroy(self, instance):
        services.contact_remove(actor=self.request.user, contact=instance)


# Consents


class CommunicationConsentFilter(RecordFilter):
    channel = django_filters.ChoiceFilter(choices=CommunicationConsent.Channel.choices)

    class Meta:
        model = CommunicationConsent
        fields = ["patient", "channel", "updated_since"]


@extend_schema(responses=s.CommunicationConsentOutputSerializer)
class CommunicationConsentViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Opt-in and opt-out events per channel. Append-only: the latest event per channel applies.

    A patient records their own choice (no `patient` needed); staff record a choice given on paper or aloud.
    """

    queryset = CommunicationConsent.objects.select_related("recorded_by")
    serializer_class = s.CommunicationConsentCreateSerializer
    output_serializer_class = s.CommunicationConsentOutputSerializer
    filterset_class = CommunicationConsentFilter
    action_permissions = {
        "list": "communication_consent.view",
        "retrieve": "communication_consent.view",
        "create": "communication_consent.change",
    }

    def create(self, request, *args, **kwargs):
        serializer = s.CommunicationConsentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        patient_id = data.pop("patient", None)
        if patient_id is None and request.user.role == Role.PATIENT:
            patient = selectors.own_patient_record(actor=request.user)
        elif patient_id is None:
            raise ValidationFailed("Name the patient.", fields={"patient": ["This field is required."]})
        else:
            patient = selectors.patient_get(actor=request.user, patient_id=patient_id)
        consent = services.communication_consent_record(actor=request.user, patient=patient, **data)
        return self.output(consent, status=201)


class DisclosureConsentFilter(RecordFilter):
    purpose = django_filters.ChoiceFilter(choices=DisclosureConsent.Purpose.choices)
    in_force = django_filters.BooleanFilter(method="filter_in_force", label="Signed, unexpired and unrevoked now.")

    class Meta:
        model = DisclosureConsent
        fields = ["patient", "purpose", "in_force", "updated_since"]

    def filter_in_force(self, queryset, name, value):
        now = timezone.now()
        in_force = Q(revoked_at__isnull=True, signed_at__lte=now, expires_at__gt=now)
        return queryset.filter(in_force) if value else queryset.exclude(in_force)


@extend_schema(responses=s.DisclosureConsentOutputSerializer)
class DisclosureConsentViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """42 CFR Part 2 consents to disclose. Never edited or deleted: revoke one and record a new one."""

    queryset = DisclosureConsent.objects.select_related("recorded_by", "revoked_by")
    serializer_class = s.DisclosureConsentCreateSerializer
    output_serializer_class = s.DisclosureConsentOutputSerializer
    filterset_class = DisclosureConsentFilter
    action_permissions = {
        "list": "consent.view",
        "retrieve": "consent.view",
        "create": "consent.change",
        "revoke": "consent.revoke",
        "check": "consent.check",
    }

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    def create(self, request, *args, **kwargs):
        serializer = s.DisclosureConsentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        patient = selectors.patient_get(actor=request.user, patient_id=data.pop("patient"))
        consent = services.disclosure_consent_record(actor=request.user, patient=patient, **data)
        return self.output(consent, status=201)

    @extend_schema(request=s.DisclosureRevokeSerializer, responses={200: s.DisclosureConsentOutputSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        consent = self.get_object()
        serializer = s.DisclosureRevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        consent = services.disclosure_consent_revoke(
            actor=request.user, consent=consent, reason=serializer.validated_data["reason"]
        )
        return self.output(consent)

    @extend_schema(request=s.DisclosureCheckInputSerializer, responses={200: s.DisclosureCheckOutputSerializer})
    @action(detail=False, methods=["post"])
    def check(self, request):
        """Is disclosing this information to this recipient for this purpose allowed now? (POST keeps the
        recipient's name out of URLs and access logs.)"""
        serializer = s.DisclosureCheckInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        patient = selectors.patient_get(actor=request.user, patient_id=data["patient"])
        decision = services.disclosure_check(
            actor=request.user,
            patient=patient,
            recipient=data["recipient"],
            purpose=data["purpose"],
            information=data["information"],
        )
        body = {
            "allowed": decision.allowed,
            "consent": decision.consent.pk if decision.consent else None,
            "reason": decision.reason,
        }
        return Response(s.DisclosureCheckOutputSerializer(body).data)


# The accounting of disclosures


class DisclosureFilter(RecordFilter):
    consent = django_filters.UUIDFilter(field_name="consent_id")
    disclosed_since = UtcDateTimeFilter(field_name="disclosed_at", lookup_expr="gte")
    disclosed_before = UtcDateTimeFilter(field_name="disclosed_at", lookup_expr="lt")

    class Meta:
        model = Disclosure
        fields = ["patient", "consent", "disclosed_since", "disclosed_before", "updated_since"]


@extend_schema(responses=s.DisclosureOutputSerializer)
class DisclosureViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """The accounting of disclosures: every release of a patient's records outside the clinic, under a 42 CFR
    Part 2 consent. Append-only (PUT, PATCH and DELETE are 405 for everyone); rows are kept, never deleted.

    Who: physicians and case managers record disclosures (`disclosure.record`); every role that reads consents
    (physicians, nurses, counselors, case managers) reads the accounting; a patient reads their own, the
    accounting being theirs to ask for. Front desk and clinic administrators have no access, as for consents.

    POST checks the disclosure against its consent at `disclosed_at`, with the consent row locked: a consent
    revoked or expired by then is a 409 (`consent_revoked`, `consent_expired`); a recipient, purpose or kind of
    information the consent does not cover is a 400 naming the field. The response carries the `notice`
    (the 42 CFR 2.32 redisclosure statement) and the `consent_summary` to send with the records.
    Recipient names are not a list filter: names stay out of URLs (filter by `consent` instead).
    """

    queryset = Disclosure.objects.select_related("disclosed_by")
    serializer_class = s.DisclosureCreateSerializer
    output_serializer_class = s.DisclosureOutputSerializer
    filterset_class = DisclosureFilter
    action_permissions = {
        "list": "disclosure.view",
        "retrieve": "disclosure.view",
        "create": "disclosure.record",
    }

    def check_permissions(self, request):
        if request.method in UNSAFE_UPDATES and request.user and request.user.is_authenticated:
            raise MethodNotAllowed(request.method)  # append-only for every role, not a matter of role
        super().check_permissions(request)

    @extend_schema(request=s.DisclosureCreateSerializer, responses={201: s.DisclosureOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.DisclosureCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        consent = selectors.disclosure_consent_get(actor=request.user, consent_id=data.pop("consent"))
        disclosure = services.disclosure_record(actor=request.user, consent=consent, **data)
        return self.output(disclosure, status=201)


# The patient's own record


class MyProfileView(ContractAPIView):
    """A patient's own record: read it, and change contact details and preferences only.

    PATCH accepts phone, email, timezone, preferred_channel, quiet_hours_start and quiet_hours_end; any other
    field is refused with a 400 naming it (nothing is silently ignored). Responses carry the record's ETag and
    PATCH honours If-Match, like every other update.
    """

    action_permissions = {"get": "patient_profile.view", "patch": "patient_profile.change"}

    def _profile(self, patient: Patient) -> dict:
        context = {"consented_channels": selectors.patient_consented_channels(patient)}
        return s.ProfileOutputSerializer(patient, context=context).data

    @extend_schema(responses={200: s.ProfileOutputSerializer})
    def get(self, request):
        patient = selectors.own_patient_record(actor=request.user)
        audit_record_reads(actor=request.user, action="view", instances=[patient])
        return Response(self._profile(patient), headers={"ETag": etag_for(patient)})

    @extend_schema(request=s.ProfileUpdateSerializer, responses={200: s.ProfileOutputSerializer})
    @transaction.atomic
    def patch(self, request):
        patient = selectors.own_patient_record(actor=request.user, for_update=True)
        if_match_check(request.headers.get("If-Match"), patient)
        serializer = s.ProfileUpdateSerializer(patient, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        refused = {name: None for name in request.data if name not in serializer.fields}
        data = {**refused, **serializer.validated_data}
        patient = services.patient_profile_update(actor=request.user, patient=patient, data=data)
        return Response(self._profile(patient), headers={"ETag": etag_for(patient)})


class MyContactFilter(SyncFilterSet):
    kind = django_filters.ChoiceFilter(choices=PatientContact.Kind.choices)

    class Meta:
        model = PatientContact
        fields = ["kind", "updated_since"]


@extend_schema_view(
    list=extend_schema(responses=s.ContactOutputSerializer),
    retrieve=extend_schema(responses=s.ContactOutputSerializer),
)
class MySupportContactViewSet(ScopedListMixin, ScopedRetrieveMixin, mixins.DestroyModelMixin, ScopedViewSet):
    """A patient's own support and emergency contacts. The patient adds, changes (PATCH, with If-Match) and
    removes their support contacts; emergency contacts are shown read-only (the clinic keeps them)."""

    queryset = PatientContact.objects.all()
    serializer_class = s.MyContactCreateSerializer
    output_serializer_class = s.ContactOutputSerializer
    filterset_class = MyContactFilter
    action_permissions = {
        "list": "my_support_contact.view",
        "retrieve": "my_support_contact.view",
        "create": "my_support_contact.change",
        "partial_update": "my_support_contact.change",
        "destroy": "my_support_contact.change",
    }

    def get_queryset(self):
        return super().get_queryset().filter(patient__user_id=self.request.user.pk)

    @extend_schema(request=s.MyContactCreateSerializer, responses={201: s.ContactOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.MyContactCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patient = selectors.own_patient_record(actor=request.user)
        contact = services.contact_add(actor=request.user, patient=patient, **serializer.validated_data)
        return self.output(contact, status=201)

    @extend_schema(request=s.MyContactUpdateSerializer, responses={200: s.ContactOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        contact = self.get_object()
        serializer = s.MyContactUpdateSerializer(contact, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        contact = services.contact_update(actor=request.user, contact=contact, data=dict(serializer.validated_data))
        return self.output(contact)

    def perform_destroy(self, instance):
        services.contact_remove(actor=self.request.user, contact=instance)
