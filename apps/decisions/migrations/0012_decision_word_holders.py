"""How many decisions of the space hold each word: a delete or an edit changes its own words' counts
instead of asking the text index, for each of its words, whether another decision still holds it."""

from django.db import migrations, models

# Writes to decisions wait from here to the commit: the counts below and the triggers that keep
# them start from the same decisions. Taken before the words table's lock, in the order a
# writer meets the two tables (its decision row first, then the trigger's words).
LOCK_SQL = "LOCK TABLE decisions_decision IN SHARE MODE;"

COUNTS_SQL = r"""
-- Adds each pair's ``delta`` (negative: takes away) to the holders of that word of that space, one
-- row per pair, in key order; a word no decision of the space holds any more is deleted. A pair
-- taken away from a missing row (Django's cascade may delete a space's words before its
-- decisions) is inserted below zero and deleted at once.
CREATE FUNCTION sx_decision_words_count(spaces uuid[], words text[], deltas integer[]) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO decisions_decisionword AS v (space_id, word, holders)
    SELECT c.space_id, c.word, c.delta FROM unnest(spaces, words, deltas) c(space_id, word, delta)
     WHERE c.delta <> 0
     ORDER BY 1, 2
    ON CONFLICT (space_id, word) DO UPDATE SET holders = v.holders + EXCLUDED.holders;
    DELETE FROM decisions_decisionword v USING unnest(spaces, words, deltas) c(space_id, word, delta)
     WHERE c.delta < 0 AND v.space_id = c.space_id AND v.word = c.word AND v.holders <= 0;
$$;

-- Every writer now takes its spaces' lock alone (sx_decision_words_lock(space, true)), inserts
-- too. The counts need no lock to be exact: each write adds to or takes from its words' counts
-- under their row locks (a writer that waited adds to what the other committed), so a word goes
-- exactly when its last holder does. But inserts now lock the rows of every word they hold, not
-- only of new ones, and a transaction may write a space's decisions in several statements (an
-- ingest batch, one per signal; a delete of more than 100 rows, in Django's batches; an UPDATE of
-- several rows, a trigger each): two of them would lock shared words in crossing orders and
-- deadlock (test_decision_word_holders.py). Held from the first statement to the commit, the
-- space's lock lets one at a time at the words (and no shared holder asks to hold it alone);
-- inserts sharing any word would wait for each other's commit on the words' rows anyway.
CREATE OR REPLACE FUNCTION sx_decision_words_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sx_decision_words_lock(s.space_id, true) FROM (SELECT DISTINCT space_id FROM added ORDER BY 1) s;
    PERFORM sx_decision_words_count(array_agg(c.space_id), array_agg(c.word), array_agg(c.holders))
       FROM (SELECT a.space_id, w.word, count(*)::integer
               FROM added a CROSS JOIN unnest(tsvector_to_array(a.search_document)) w(word)
              GROUP BY 1, 2) c(space_id, word, holders);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sx_decision_words_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sx_decision_words_lock(s.space_id, true) FROM (SELECT DISTINCT space_id FROM gone ORDER BY 1) s;
    PERFORM sx_decision_words_count(array_agg(c.space_id), array_agg(c.word), array_agg(-c.holders))
       FROM (SELECT g.space_id, w.word, count(*)::integer
               FROM gone g CROSS JOIN unnest(tsvector_to_array(g.search_document)) w(word)
              GROUP BY 1, 2) c(space_id, word, holders);
    RETURN NULL;
END $$;

-- Only the words the edit adds or takes away (all of them when the decision changes space).
CREATE OR REPLACE FUNCTION sx_decision_words_edit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.search_document IS DISTINCT FROM OLD.search_document OR NEW.space_id <> OLD.space_id THEN
        PERFORM sx_decision_words_lock(s, true)
           FROM (SELECT DISTINCT unnest(ARRAY[OLD.space_id, NEW.space_id]) ORDER BY 1) x(s);
        PERFORM sx_decision_words_count(array_agg(c.space_id), array_agg(c.word), array_agg(c.delta))
           FROM (SELECT x.space_id, x.word, sum(x.delta)::integer
                   FROM (SELECT NEW.space_id, w, 1 FROM unnest(tsvector_to_array(NEW.search_document)) w
                         UNION ALL
                         SELECT OLD.space_id, w, -1 FROM unnest(tsvector_to_array(OLD.search_document)) w
                        ) x(space_id, word, delta)
                  GROUP BY 1, 2 HAVING sum(x.delta) <> 0) c(space_id, word, delta);
    END IF;
    RETURN NULL;
END $$;

DROP FUNCTION sx_decision_words_forget(uuid, text[]);

-- One pass over the decisions; a word no decision holds (none should be) keeps its 0 and goes.
INSERT INTO decisions_decisionword AS v (space_id, word, holders)
SELECT d.space_id, w.word, count(*)
  FROM decisions_decision d CROSS JOIN unnest(tsvector_to_array(d.search_document)) w(word)
 GROUP BY 1, 2
ON CONFLICT (space_id, word) DO UPDATE SET holders = EXCLUDED.holders;
DELETE FROM decisions_decisionword WHERE holders = 0;
"""

# The functions of migration 0009, as they were.
REVERSE_SQL = (
    LOCK_SQL
    + r"""
CREATE OR REPLACE FUNCTION sx_decision_words_forget(space uuid, words text[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM decisions_decisionword v
     WHERE v.space_id = space AND v.word = ANY (words)
       AND v.word NOT IN (SELECT unnest(tsvector_to_array(r.search_document))
                            FROM (SELECT search_document FROM decisions_decision WHERE space_id = space
                                   ORDER BY decided_at DESC LIMIT 200) r)
       AND NOT EXISTS (SELECT 1 FROM decisions_decision d
                        WHERE d.space_id = space AND d.search_document @@ sx_lexeme_query(v.word));
$$;

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
        PERFORM sx_decision_words_lock(s, true)
           FROM (SELECT DISTINCT unnest(ARRAY[OLD.space_id, NEW.space_id]) ORDER BY 1) x(s);
        INSERT INTO decisions_decisionword (space_id, word)
        SELECT NEW.space_id, w FROM unnest(tsvector_to_array(NEW.search_document)) w ORDER BY 2
        ON CONFLICT DO NOTHING;
        PERFORM sx_decision_words_forget(OLD.space_id, tsvector_to_array(OLD.search_document));
    END IF;
    RETURN NULL;
END $$;

DROP FUNCTION sx_decision_words_count(uuid[], text[], integer[]);
"""
)


class Migration(migrations.Migration):
    dependencies = [("decisions", "0011_admin_list_index")]

    operations = [
        migrations.RunSQL(sql=LOCK_SQL, reverse_sql=migrations.RunSQL.noop),
        migrations.AddField(
            model_name="decisionword",
            name="holders",
            field=models.IntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunSQL(sql=COUNTS_SQL, reverse_sql=REVERSE_SQL),
    ]
