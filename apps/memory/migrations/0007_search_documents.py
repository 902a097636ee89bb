"""The search documents of product states and kernel layers, kept by PostgreSQL for every write
path (memory search used to build both for every row of the space on every call).

Each table holds a row's weighted document and its plain text (what typo matching compares), as
``apps.memory.search_sources`` used to compute them: the same expressions, so ranks and
snippets do not move. Rows follow their product or layer: inserted with it, rewritten when a
searched column changes (not on ``last_activity_at`` or version bumps), deleted with it (a
foreign key ON DELETE CASCADE). Existing rows are filled here, after the triggers exist and
within the same transaction, so none is missed.
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

SQL = r"""
-- The expressions memory search used to build per row (apps.memory.search_sources).
CREATE OR REPLACE FUNCTION sx_product_search_document(p products_productstate) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english', coalesce(p.name, '')), 'A')
        || setweight(to_tsvector('english', coalesce(sx_jsonb_strings(p.what_works), '') || ' '
                                 || coalesce(sx_jsonb_strings(p.what_is_blocked), '') || ' '
                                 || coalesce(sx_jsonb_strings(p.open_questions), '')), 'B')
        || setweight(to_tsvector('english', coalesce(p.status, '') || ' ' || coalesce(p.next_session_starts_here, '')
                                 || ' ' || coalesce(p.last_session_summary, '')), 'C')
$$;
CREATE OR REPLACE FUNCTION sx_product_search_text(p products_productstate) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$  -- concat_ws is only STABLE
    SELECT concat_ws(' · ', p.name, p.status, sx_jsonb_strings(p.what_works), sx_jsonb_strings(p.what_is_blocked),
                     sx_jsonb_strings(p.open_questions), p.next_session_starts_here, p.last_session_summary)
$$;
CREATE OR REPLACE FUNCTION sx_kernel_search_document(k identity_kernel) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english', coalesce(sx_jsonb_strings(k.identity), '')), 'A')
        || setweight(to_tsvector('english', coalesce(sx_jsonb_strings(k.products), '') || ' '
                                 || coalesce(sx_jsonb_strings(k.constraints), '')), 'B')
        || setweight(to_tsvector('english', coalesce(sx_jsonb_strings(k.model_preferences), '')), 'C')
$$;
CREATE OR REPLACE FUNCTION sx_kernel_search_text(k identity_kernel) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$  -- concat_ws is only STABLE
    SELECT concat_ws(' · ', sx_jsonb_strings(k.identity), sx_jsonb_strings(k.products),
                     sx_jsonb_strings(k.constraints), sx_jsonb_strings(k.model_preferences))
$$;

CREATE OR REPLACE FUNCTION sx_product_search_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO memory_productsearch (product_id, space_id, document, text)
    VALUES (NEW.id, NEW.space_id, sx_product_search_document(NEW), sx_product_search_text(NEW))
    ON CONFLICT (product_id) DO UPDATE SET space_id = EXCLUDED.space_id, document = EXCLUDED.document, text = EXCLUDED.text;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION sx_kernel_search_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO memory_kernelsearch (kernel_id, space_id, document, text)
    VALUES (NEW.id, NEW.space_id, sx_kernel_search_document(NEW), sx_kernel_search_text(NEW))
    ON CONFLICT (kernel_id) DO UPDATE SET space_id = EXCLUDED.space_id, document = EXCLUDED.document, text = EXCLUDED.text;
    RETURN NULL;
END $$;

CREATE TRIGGER product_search_add AFTER INSERT ON products_productstate
    FOR EACH ROW EXECUTE FUNCTION sx_product_search_keep();
-- Only when a searched column changes: a product is touched by every decision written about it.
CREATE TRIGGER product_search_edit
    AFTER UPDATE OF name, status, what_works, what_is_blocked, open_questions, next_session_starts_here,
                    last_session_summary, space_id ON products_productstate
    FOR EACH ROW WHEN ((OLD.name, OLD.status, OLD.what_works, OLD.what_is_blocked, OLD.open_questions,
                        OLD.next_session_starts_here, OLD.last_session_summary, OLD.space_id)
                       IS DISTINCT FROM
                       (NEW.name, NEW.status, NEW.what_works, NEW.what_is_blocked, NEW.open_questions,
                        NEW.next_session_starts_here, NEW.last_session_summary, NEW.space_id))
    EXECUTE FUNCTION sx_product_search_keep();
CREATE TRIGGER kernel_search_add AFTER INSERT ON identity_kernel
    FOR EACH ROW EXECUTE FUNCTION sx_kernel_search_keep();
CREATE TRIGGER kernel_search_edit
    AFTER UPDATE OF identity, products, constraints, model_preferences, space_id ON identity_kernel
    FOR EACH ROW WHEN ((OLD.identity, OLD.products, OLD.constraints, OLD.model_preferences, OLD.space_id)
                       IS DISTINCT FROM (NEW.identity, NEW.products, NEW.constraints, NEW.model_preferences, NEW.space_id))
    EXECUTE FUNCTION sx_kernel_search_keep();

ALTER TABLE memory_productsearch ADD CONSTRAINT productsearch_product_cascade
    FOREIGN KEY (product_id) REFERENCES products_productstate (id) ON DELETE CASCADE;
ALTER TABLE memory_kernelsearch ADD CONSTRAINT kernelsearch_kernel_cascade
    FOREIGN KEY (kernel_id) REFERENCES identity_kernel (id) ON DELETE CASCADE;

INSERT INTO memory_productsearch (product_id, space_id, document, text)
SELECT p.id, p.space_id, sx_product_search_document(p), sx_product_search_text(p) FROM products_productstate p
ON CONFLICT DO NOTHING;
INSERT INTO memory_kernelsearch (kernel_id, space_id, document, text)
SELECT k.id, k.space_id, sx_kernel_search_document(k), sx_kernel_search_text(k) FROM identity_kernel k
ON CONFLICT DO NOTHING;
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS kernel_search_edit ON identity_kernel;
DROP TRIGGER IF EXISTS kernel_search_add ON identity_kernel;
DROP TRIGGER IF EXISTS product_search_edit ON products_productstate;
DROP TRIGGER IF EXISTS product_search_add ON products_productstate;
DROP FUNCTION IF EXISTS sx_kernel_search_keep();
DROP FUNCTION IF EXISTS sx_product_search_keep();
DROP FUNCTION IF EXISTS sx_kernel_search_text(identity_kernel);
DROP FUNCTION IF EXISTS sx_kernel_search_document(identity_kernel);
DROP FUNCTION IF EXISTS sx_product_search_text(products_productstate);
DROP FUNCTION IF EXISTS sx_product_search_document(products_productstate);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('api', '0003_btree_gin'),  # the space-led GIN indexes
        ('identity', '0004_kernel_product_name_key'),
        ('memory', '0006_text_nfc'),
        ('products', '0002_productstate_origin_id'),
        ('scopes', '0003_activescope_keeps_deleted_workspace_id'),
    ]

    operations = [
        migrations.CreateModel(
            name='KernelSearch',
            fields=[
                ('kernel', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='identity.kernel')),
                ('document', django.contrib.postgres.search.SearchVectorField()),
                ('text', models.TextField()),
                ('space', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='scopes.space')),
            ],
            options={
                'indexes': [django.contrib.postgres.indexes.GinIndex(fields=['space', 'document'], name='kernelsearch_space_document'), django.contrib.postgres.indexes.GinIndex(models.F('space'), django.contrib.postgres.indexes.OpClass('text', name='gin_trgm_ops'), name='kernelsearch_space_text_trgm')],
            },
        ),
        migrations.CreateModel(
            name='ProductSearch',
            fields=[
                ('product', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='products.productstate')),
                ('document', django.contrib.postgres.search.SearchVectorField()),
                ('text', models.TextField()),
                ('space', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='scopes.space')),
            ],
            options={
                'indexes': [django.contrib.postgres.indexes.GinIndex(fields=['space', 'document'], name='productsearch_space_document'), django.contrib.postgres.indexes.GinIndex(models.F('space'), django.contrib.postgres.indexes.OpClass('text', name='gin_trgm_ops'), name='productsearch_space_text_trgm')],
            },
        ),
        migrations.RunSQL(sql=SQL, reverse_sql=REVERSE_SQL),
    ]
