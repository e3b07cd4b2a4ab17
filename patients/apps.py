from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Patients"

    def ready(self):
        from clinic.accounts.profile import register_profile_extension

        from .selectors import linked_patient_profile

        register_profile_extension(linked_patient_profile)
