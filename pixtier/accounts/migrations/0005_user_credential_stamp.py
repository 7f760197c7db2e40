from django.db import migrations, models


def stamp_existing_users(apps, schema_editor):
    from pixtier.accounts.models import credential_stamp

    User = apps.get_model("accounts", "User")
    for user in User.objects.only("pk", "password").iterator():
        User.objects.filter(pk=user.pk).update(credential_stamp=credential_stamp(user.password))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_tier_quotas"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="credential_stamp",
            field=models.CharField(default="", editable=False, max_length=32),
        ),
        migrations.RunPython(stamp_existing_users, migrations.RunPython.noop),
    ]
