from django.apps import AppConfig


class AftercareConfig(AppConfig):
    name = "aftercare"
    verbose_name = "Aftercare"

    def ready(self):
        from treatment import stages
        from treatment.models import Stage

        from . import (
            dashboard,  # noqa: F401  (dashboard tiles and patient page sections of the staff admin)
            services,
        )

        # Entering aftercare needs a relapse-prevention plan (and someone to hold the follow-up check-ins);
        # entering it schedules the check-ins and the daily prompts; leaving care cancels what remains.
        stages.register_transition_guard(Stage.AFTERCARE, services.aftercare_entry_requirements)
        stages.register_transition_handler(Stage.AFTERCARE, services.aftercare_on_enter)
        stages.register_transition_handler(Stage.DISCHARGED, services.aftercare_on_discharge)
