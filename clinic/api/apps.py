from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "clinic.api"
    label = "api"
    verbose_name = "API contract (idempotency, sync)"
