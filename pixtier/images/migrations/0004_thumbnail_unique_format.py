from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("images", "0003_thumbnail_format"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="thumbnail", name="unique_image_height"),
        migrations.AddConstraint(
            model_name="thumbnail",
            constraint=models.UniqueConstraint(
                fields=("image", "height", "format"), name="unique_image_height_format"
            ),
        ),
    ]
