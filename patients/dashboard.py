"""The patient record's sections of the staff admin's patient page (clinic.staffadmin): who the person is,
whom to contact, and their clinical record (allergies, co-occurring conditions, substance use)."""

from django.utils import timezone

from clinic.staffadmin.registry import Section, register_patient_page_section

from .models import Allergy, CoOccurringCondition, Patient, PatientContact, SubstanceUseHistory


def demographics_section(request, patient: Patient) -> Section:
    facts = [
        ("MRN", patient.mrn),
        ("Name", f"{patient.first_name} {patient.last_name}"),
        ("Date of birth", f"{patient.date_of_birth:%Y-%m-%d} (age {patient.age_on(timezone.localdate())})"),
        ("Sex", patient.get_sex_display()),
        ("Phone", patient.phone or "—"),
        ("Email", patient.email or "—"),
        ("Preferred channel", patient.get_preferred_channel_display()),
        ("Time zone", patient.timezone),
        ("Status", patient.get_status_display()),
        ("Facility", patient.facility.name),
        ("Patient app", "linked" if patient.user_id else "not linked"),
    ]
    return Section(title="Patient", template="staffadmin/patients/facts.html", context={"facts": facts})


def contacts_section(request, patient: Patient) -> Section:
    contacts = list(PatientContact.objects.filter(patient=patient))
    return Section(
        title="Contacts",
        template="staffadmin/patients/contacts.html",
        context={"contacts": contacts},
        records=contacts,
    )


def clinical_record_section(request, patient: Patient) -> Section:
    allergies = list(Allergy.objects.filter(patient=patient))
    conditions = list(CoOccurringCondition.objects.filter(patient=patient).order_by("status", "name"))
    substances = list(SubstanceUseHistory.objects.filter(patient=patient).order_by("-last_use"))
    return Section(
        title="Clinical record",
        template="staffadmin/patients/clinical_record.html",
        context={"allergies": allergies, "conditions": conditions, "substances": substances},
        records=[*allergies, *conditions, *substances],
    )


register_patient_page_section(demographics_section, action="patient.view", order=10)
register_patient_page_section(clinical_record_section, action="patient_clinical.view", order=40)
register_patient_page_section(contacts_section, action="patient_contact.view", order=90)
