"""Two-speed AVIF: a row records which encoder setting made its file. Existing AVIF
thumbnails were made at the fast setting (the only one there was)."""

from django.db import migrations, models


def _existing_avif_is_fast(apps, schema_editor):
    Thumbnail = apps.get_model("images", "Thumbnail")
    Thumbnail.objects.filter(format="avif").update(encoding="fast")


class Migration(migrations.Migration):
    dependencies = [
        ("images", "0004_thumbnail_unique_format"),
    ]

    operations = [
        migrations.AddField(
            model_name="thumbnail",
            name="encoding",
            field=models.CharField(
                blank=True,
                choices=[("fast", "fast"), ("thorough", "thorough")],
                help_text="AVIF: fast (a first request's, to be refined) or thorough; "
                "empty for formats with one setting.",
                max_length=8,
            ),
        ),
        migrations.RunPython(_existing_avif_is_fast, migrations.RunPython.noop),
    ]
