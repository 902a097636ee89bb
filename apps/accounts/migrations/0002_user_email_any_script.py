"""``User.email`` checked by the accounts' one address rule (``apps.accounts.emails``) rather than
Django's EmailValidator, which refuses a non-ASCII local part. The column is unchanged
(``varchar(254)``, unique): no SQL runs."""

from django.db import migrations, models

import apps.accounts.emails


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="email",
            field=models.CharField(
                max_length=254, unique=True, validators=[apps.accounts.emails.validate_account_email]
            ),
        ),
    ]
