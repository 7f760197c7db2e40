"""Thumbnails per format (SPEC 10): existing rows are in their original's format.

The unique constraint moves in 0004: PostgreSQL refuses to alter a table with updates
pending in the same transaction."""

from django.db import migrations, models


def _formats_of_existing(apps, schema_editor):
    Thumbnail = apps.get_model("images", "Thumbnail")
    Thumbnail.objects.filter(image__content_type="image/png").update(format="png")
    Thumbnail.objects.exclude(format="png").update(format="jpeg")


class Migration(migrations.Migration):
    dependencies = [
        ("images", "0002_image_placeholder"),
    ]

    operations = [
        migrations.AddField(
            model_name="thumbnail",
            name="format",
            field=models.CharField(
                choices=[("jpeg", "jpeg"), ("png", "png"), ("webp", "webp"), ("avif", "avif")],
                default="",
                help_text="The file's format: the original's, or one a client negotiated.",
                max_length=4,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(_formats_of_existing, migrations.RunPython.noop),
    ]
