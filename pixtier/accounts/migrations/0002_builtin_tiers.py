"""Create the built-in tiers once. Migrations run once per database, so an admin's later
edits (or deletions) are never overwritten; an existing tier of the same name is kept."""

from django.db import migrations

BUILTIN_TIERS = [
    ("Basic", [200], False, False),
    ("Premium", [200, 400], True, False),
    ("Enterprise", [200, 400], True, True),
]


def create_tiers(apps, schema_editor):
    Tier = apps.get_model("accounts", "Tier")
    ThumbnailSize = apps.get_model("accounts", "ThumbnailSize")
    for name, heights, original_link, expiring_links in BUILTIN_TIERS:
        if Tier.objects.filter(name=name).exists():
            continue
        tier = Tier.objects.create(
            name=name, original_link=original_link, expiring_links=expiring_links
        )
        ThumbnailSize.objects.bulk_create(ThumbnailSize(tier=tier, height=h) for h in heights)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_tiers, migrations.RunPython.noop)]
