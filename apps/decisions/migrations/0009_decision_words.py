"""The words of each space's decisions, for typo correction, kept by PostgreSQL for every write path."""

import django.contrib.postgres.indexes
import django.db.models.deletion
from django.db import migrations, models

WORDS_SQL = r"""
-- A lexeme as a tsquery of that one lexeme, whatever characters it holds.
CREATE OR REPLACE FUNCTION sx_lexeme_query(word text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT ('''' || replace(replace(word, '\', '\\'), '''', '''''') || '''')::tsquery $$;

-- Writers of a space's words take its lock (class "SXDW"): inserting transactions share it, a
-- delete or an edit holds it alone until it commits. So a forgetting statement, which runs
-- after the lock is granted, sees every decision committed by the writers it waited for:
-- two transactions deleting a word's last two holders cannot both keep it, and a word a
-- concurrent insert still holds is not forgotten.
CREATE OR REPLACE FUNCTION sx_decision_words_lock(space uuid, exclusive boolean) RETURNS void LANGUAGE sql AS $$
    SELECT CASE WHEN exclusive THEN pg_advisory_xact_lock(1398293591, hashtext(space::text))
                ELSE pg_advisory_xact_lock_shared(1398293591, hashtext(space::text)) END;
$$;

-- Of these words of a space, forget those no decision of the space contains any more (the
-- caller holds the space's lock alone). A word of the space's 200 newest decisions stays without
-- asking the text index: its probe must read every holder's entry (a bitmap scan cannot stop at
-- the first), which for common words made deleting one decision of 100,000 take ~0.5 s; with
-- the newest first, 8-23 ms against 4-6 without the words (measured).
CREATE OR REPLACE FUNCTION sx_decision_words_forget(space uuid, words text[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM decisions_decisionword v
     WHERE v.space_id = space AND v.word = ANY (words)
       AND v.word NOT IN (SELECT unnest(tsvector_to_array(r.search_document))
                            FROM (SELECT search_document FROM decisions_decision WHERE space_id = space
                                   ORDER BY decided_at DESC LIMIT 200) r)
       AND NOT EXISTS (SELECT 1 FROM decisions_decision d
                        WHERE d.space_id = space AND d.search_document @@ sx_lexeme_query(v.word));
$$;

-- Inserted decisions (one statement: a COPY or a bulk insert is one pass), in a fixed order so
-- that concurrent writers adding the same new words wait for each other instead of deadlocking.
CREATE OR REPLACE FUNCTION sx_decision_words_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sx_decision_words_lock(s.space_id, false) FROM (SELECT DISTINCT space_id FROM added ORDER BY 1) s;
    INSERT INTO decisions_decisionword (space_id, word)
    SELECT DISTINCT a.space_id, w.word FROM added a CROSS JOIN unnest(tsvector_to_array(a.search_document)) w(word)
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sx_decision_words_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sx_decision_words_lock(s.space_id, true) FROM (SELECT DISTINCT space_id FROM gone ORDER BY 1) s;
    PERFORM sx_decision_words_forget(g.space_id, array_agg(DISTINCT w.word))
       FROM gone g CROSS JOIN unnest(tsvector_to_array(g.search_document)) w(word)
      GROUP BY g.space_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sx_decision_words_edit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.search_document IS DISTINCT FROM OLD.search_document OR NEW.space_id <> OLD.space_id THEN
        PERFORM sx_decision_words_lock(s, true) FROM (SELECT DISTINCT unnest(ARRAY[OLD.space_id, NEW.space_id]) ORDER BY 1) x(s);
        INSERT INTO decisions_decisionword (space_id, word)
        SELECT NEW.space_id, w FROM unnest(tsvector_to_array(NEW.search_document)) w ORDER BY 2
        ON CONFLICT DO NOTHING;
        PERFORM sx_decision_words_forget(OLD.space_id, tsvector_to_array(OLD.search_document));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER decision_words_add AFTER INSERT ON decisions_decision
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION sx_decision_words_add();
CREATE TRIGGER decision_words_remove AFTER DELETE ON decisions_decision
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION sx_decision_words_remove();
-- The columns of the search document, and the space: an edit of anything else keeps the words.
CREATE TRIGGER decision_words_edit AFTER UPDATE OF decision, tags, reasoning, space_id ON decisions_decision
    FOR EACH ROW EXECUTE FUNCTION sx_decision_words_edit();

INSERT INTO decisions_decisionword (space_id, word)
SELECT DISTINCT d.space_id, w.word FROM decisions_decision d CROSS JOIN unnest(tsvector_to_array(d.search_document)) w(word)
ON CONFLICT DO NOTHING;
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS decision_words_edit ON decisions_decision;
DROP TRIGGER IF EXISTS decision_words_remove ON decisions_decision;
DROP TRIGGER IF EXISTS decision_words_add ON decisions_decision;
DROP FUNCTION IF EXISTS sx_decision_words_edit();
DROP FUNCTION IF EXISTS sx_decision_words_remove();
DROP FUNCTION IF EXISTS sx_decision_words_add();
DROP FUNCTION IF EXISTS sx_decision_words_forget(uuid, text[]);
DROP FUNCTION IF EXISTS sx_decision_words_lock(uuid, boolean);
DROP FUNCTION IF EXISTS sx_lexeme_query(text);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('decisions', '0008_current_space_index'),
        ('scopes', '0002_activescope_membership'),
    ]

    operations = [
        migrations.CreateModel(
            name='DecisionWord',
            fields=[
                ('pk', models.CompositePrimaryKey('space_id', 'word', blank=True, editable=False, primary_key=True, serialize=False)),
                ('word', models.TextField()),
                ('space', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='scopes.space')),
            ],
            options={
                'indexes': [django.contrib.postgres.indexes.GinIndex(models.F('space'), django.contrib.postgres.indexes.OpClass('word', name='gin_trgm_ops'), name='decision_word_trgm')],
            },
        ),
        migrations.RunSQL(sql=WORDS_SQL, reverse_sql=REVERSE_SQL),
    ]
