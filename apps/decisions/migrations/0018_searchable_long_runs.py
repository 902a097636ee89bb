"""The decision and its reasoning go into the search document through ``sx_searchable`` (migration
memory 0013, apps/memory/spaceless.py): a run of a script written without spaces of 2,047 bytes or
more (683 Chinese characters) was dropped from the document, so a long decision written so was
found by no word of it. Its pieces of 500 characters, 250 apart, are words of it now.

Django does not alter a generated column's expression, so the column is changed here by SQL
(``SET EXPRESSION``, PostgreSQL 17+), which rewrites the table without firing the triggers that
keep the space's words (``decisions_decisionword``, migrations 0009 and 0012). Only a decision whose
decision or reasoning is 2,047 bytes or longer can have a different document, so their words are
taken away before and added after, by ``sx_decision_words_count``, while the table is locked.
"""

import django.contrib.postgres.search
from django.db import migrations, models

import apps.decisions.models
import apps.memory.spaceless

LOCK = "LOCK TABLE decisions_decision IN ACCESS EXCLUSIVE MODE;"
LONG = "octet_length(d.decision) >= 2047 OR octet_length(d.reasoning) >= 2047"


def count_words(sign: str) -> str:
    """The words of the long decisions' documents added to (``+``) or taken from (``-``) the
    holders of the space's words."""
    return f"""
SELECT sx_decision_words_count(array_agg(c.space_id), array_agg(c.word), array_agg(c.delta))
  FROM (SELECT d.space_id, w.word, {sign}count(*)::integer
          FROM decisions_decision d CROSS JOIN unnest(tsvector_to_array(d.search_document)) w(word)
         WHERE {LONG}
         GROUP BY 1, 2) c(space_id, word, delta);
"""


def set_expression(decision: str, reasoning: str) -> str:
    # As Django writes the model's expression (GeneratedField.generated_sql).
    return (
        "ALTER TABLE decisions_decision ALTER COLUMN search_document SET EXPRESSION AS ("
        f"((setweight(to_tsvector('english'::regconfig, COALESCE({decision}, '')), 'A')"
        " || setweight(to_tsvector('english'::regconfig, COALESCE(sx_join_words(\"tags\"), '')), 'B'))"
        f" || setweight(to_tsvector('english'::regconfig, COALESCE({reasoning}, '')), 'C')));"
    )


FORWARDS = (
    LOCK
    + count_words("-")
    + set_expression('sx_searchable("decision")', 'sx_searchable("reasoning")')
    + count_words("")
)
BACKWARDS = LOCK + count_words("-") + set_expression('"decision"', '"reasoning"') + count_words("")


class Migration(migrations.Migration):
    dependencies = [
        ("decisions", "0017_tags_under_the_rule"),
        ("memory", "0013_searchable_long_runs"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="decision",
                    name="search_document",
                    field=models.GeneratedField(
                        db_persist=True,
                        expression=django.contrib.postgres.search.CombinedSearchVector(
                            django.contrib.postgres.search.CombinedSearchVector(
                                django.contrib.postgres.search.SearchVector(
                                    apps.memory.spaceless.Searchable("decision"), config="english", weight="A"
                                ),
                                "||",
                                django.contrib.postgres.search.SearchVector(
                                    apps.decisions.models.JoinWords(models.F("tags")), config="english", weight="B"
                                ),
                                django.contrib.postgres.search.SearchConfig("english"),
                            ),
                            "||",
                            django.contrib.postgres.search.SearchVector(
                                apps.memory.spaceless.Searchable("reasoning"), config="english", weight="C"
                            ),
                            django.contrib.postgres.search.SearchConfig("english"),
                        ),
                        output_field=django.contrib.postgres.search.SearchVectorField(),
                    ),
                ),
            ],
            database_operations=[migrations.RunSQL(FORWARDS, reverse_sql=BACKWARDS)],
        ),
    ]
