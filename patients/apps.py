from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Patients"

    def ready(self):
        from clinic.accounts.profile import register_profile_extension
        from clinic.notifications.recipients import register_patient_bulk_resolver, register_patient_resolver

        from . import dashboard  # noqa: F401  (the patient page's record sections in the staff admin)
        from .recipients import patient_recipient, patient_recipients
        from .selectors import linked_patient_profile

        register_profile_extension(linked_patient_profile)
        register_patient_resolver(patient_recipient)
        register_patient_bulk_resolver(patient_recipients)
