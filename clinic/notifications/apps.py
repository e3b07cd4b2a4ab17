from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "clinic.notifications"
    label = "notifications"
    verbose_name = "Reminders and notifications"
