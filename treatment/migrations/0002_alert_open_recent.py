from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("treatment", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("acknowledged_at__isnull", True)),
                fields=["-created_at", "-id"],
                name="alert_open_recent",
            ),
        ),
    ]
