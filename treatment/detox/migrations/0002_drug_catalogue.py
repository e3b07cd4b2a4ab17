"""Seed the drug catalogue with the seed list (treatment.detox.catalogue.SEED_DRUGS). Only adds missing drugs,
so running it on a catalogue a clinic has extended changes nothing it added."""

from django.db import migrations


def seed_catalogue(apps, schema_editor):
    from treatment.detox.catalogue import SEED_DRUGS

    Drug = apps.get_model("detox", "Drug")
    existing = set(Drug.objects.values_list("code", flat=True))
    Drug.objects.bulk_create(
        [
            Drug(
                code=seed.code,
                name=seed.name,
                drug_class=seed.drug_class,
                controlled=seed.controlled,
                schedule=seed.schedule,
                default_route=seed.route,
                default_unit=seed.unit,
                synonyms=list(seed.synonyms),
            )
            for seed in SEED_DRUGS
            if seed.code not in existing
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("detox", "0001_initial")]

    operations = [migrations.RunPython(seed_catalogue, migrations.RunPython.noop)]
