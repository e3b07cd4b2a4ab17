"""Idempotent demo data: runs each installed app's `seeding.seed()` in INSTALLED_APPS order.

The platform seeds facilities and staff; each domain app seeds its own part (patients, episodes, ...),
so this command needs no knowledge of them.
"""

from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from clinic.request_context import RequestContext, reset_context, use_context


class Command(BaseCommand):
    help = "Create (or refresh) the demo facilities, staff logins, patients and their records."

    def handle(self, *args, **options):
        token = use_context(RequestContext(request_id="seed_demo", ip_address=None, user_agent="", source="command"))
        try:
            with transaction.atomic():
                for config in apps.get_app_configs():
                    try:
                        seeding = import_module(f"{config.name}.seeding")
                    except ModuleNotFoundError as error:
                        if error.name != f"{config.name}.seeding":
                            raise
                        continue
                    seeding.seed(stdout=self.stdout)
        finally:
            reset_context(token)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Every demo password: {settings.DEMO_PASSWORD}"))
