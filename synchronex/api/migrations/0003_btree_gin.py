"""btree_gin: GIN indexes that lead with a space id (a search reads only its own space's postings)."""

from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("api", "0002_extensions_and_cache")]

    operations = [BtreeGinExtension()]
