"""The Decision Index (SPEC §6): durable decisions with reasoning, searchable by text and vector."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Func
from django.db.models.functions import Cast, Length
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from apps.memory.spaceless import Searchable
from apps.products.models import ProductState
from apps.scopes.models import Space

DECISION_MAX = 2_000
REASONING_MAX = 10_000
TAGS_MAX = 20
TAG_MAX = 50
AFFECTS_MAX = 20
ALTERNATIVES_MAX = 20
ALTERNATIVE_MAX = 2_000
SEARCH_CONFIG = "english"
# Vector sizes with an HNSW index: MiniLM (384), common self-hosted models (768), OpenAI small/ada
# (1536). Larger vectors (3,072) exceed HNSW's 2,000-dimension limit and are compared exactly.
HNSW_DIMENSIONS = (384, 768, 1536)


class JoinWords(Func):
    """``sx_join_words(text[])``: an IMMUTABLE array_to_string (the built-in is only STABLE,
    which a generated column may not use). Created by migration 0001."""

    function = "sx_join_words"
    output_field = models.TextField()


class LowerWords(Func):
    """``sx_lower_words(text[])``: each element trimmed and lowercased (IMMUTABLE, migration 0001)."""

    function = "sx_lower_words"
    output_field = ArrayField(models.TextField())


class Decision(models.Model):
    """One decision of a product, with its reasoning, tags and the other products it affects.

    ``origin_id`` is the id the decision had in the system it was imported from (MIF), set on
    every restored row (its own id comes from the space, never from other spaces' ids); exports
    and id lookups in the space use it, API responses show the row's own ``id``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    origin_id = models.UUIDField(null=True, blank=True, editable=False)
    # Both foreign keys are indexed by the (…, -decided_at) composite indexes below.
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="decisions", db_index=False)
    product = models.ForeignKey(ProductState, on_delete=models.CASCADE, related_name="decisions", db_index=False)
    decision = models.TextField()
    reasoning = models.TextField(blank=True, default="")
    tags = ArrayField(models.CharField(max_length=TAG_MAX), default=list, blank=True)
    affects_products = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    alternatives = ArrayField(models.TextField(), default=list, blank=True)
    # The newer decision names the one it replaces (at most one successor per decision).
    supersedes = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The mark on the older decision. Written only by the database (trigger of migration 0002,
    # for every write path), as the mirror of ``supersedes``: deleting the successor clears it
    # (the older decision is current again), deleting the older one clears ``supersedes``.
    # Stored rather than derived so "current decisions" is a row filter an index can serve.
    superseded_by = models.OneToOneField(
        "self", null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    # The original id of the decision this one supersedes while that decision is not in the space
    # (a MIF import brought the successor first): the link is made, and this cleared, when it is
    # imported. Exported as ``supersedes`` meanwhile, so no export loses the link.
    supersedes_pending = models.UUIDField(null=True, blank=True, editable=False)
    # The decision consolidation merged this one into as a duplicate (its survivor; set by the
    # merge step, and by a MIF import restoring one). A merge supersedes too, so this is what
    # tells a merged copy from a decision superseded by hand: deleting a decision deletes its
    # copies (the same text would otherwise be current again), while a superseded decision is
    # spliced into its successor's chain (``decisions_delete``). CASCADE, so that every delete of
    # the ORM takes the copies along.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, editable=False, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The original id of that survivor while it is not in the space (a MIF import brought the copy
    # first, as it brings a superseded decision before its successor): the link is made, and this
    # cleared, when it is imported. Exported as ``merged_into`` meanwhile, as ``supersedes_pending``.
    merged_into_pending = models.UUIDField(null=True, blank=True, editable=False)
    # A survivor's own ``tags``, ``affects_products`` (with their ``affects_keys``), ``alternatives``
    # and ``reasoning``, as they were when consolidation first merged a copy into it: its fields
    # are these plus what its copies add, computed again from these and the copies that stay when
    # a copy is deleted (``apps.decisions.merges``). Null on a decision that took no copy, and on
    # survivors merged before it was recorded or restored from a MIF file without it (their own
    # values are then estimated from their copies); a MIF export carries it, its import restores it.
    # It holds nothing the survivor does not show, so writing it is no change of the decision
    # (``updated_at`` does not follow it).
    merge_base = models.JSONField(null=True, blank=True, editable=False)
    decided_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    # When its stored fields or links last changed, whatever changed them (a merge, a supersede, a
    # splice on delete, an import's links): set by PostgreSQL (trigger of migration 0015), so
    # ``since=`` exports hold every decision changed since, not only those made since. A vector
    # computed later is no change of the decision.
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    source = models.CharField(max_length=32, default="api")

    # Maintained by PostgreSQL for every write path (API, admin, import, COPY). The decision and
    # its reasoning go through ``sx_searchable`` (apps/memory/spaceless.py, migration 0018): a run
    # of a script written without spaces too long to be a word is searched in overlapping pieces.
    # A tag (``TAG_MAX`` characters) is too short to hold one.
    search_document = models.GeneratedField(
        expression=SearchVector(Searchable("decision"), config=SEARCH_CONFIG, weight="A")
        + SearchVector(JoinWords(F("tags")), config=SEARCH_CONFIG, weight="B")
        + SearchVector(Searchable("reasoning"), config=SEARCH_CONFIG, weight="C"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    affects_keys = models.GeneratedField(
        expression=LowerWords(F("affects_products")),
        output_field=ArrayField(models.TextField()),
        db_persist=True,
    )

    # Filled off the request path by the embedding task; compared only within one model and size.
    embedding = VectorField(null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    embedding_dimensions = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-decided_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(GreaterThanOrEqual(Length("decision"), 1))
                & models.Q(LessThanOrEqual(Length("decision"), DECISION_MAX)),
                name="decision_text_length",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("reasoning"), REASONING_MAX), name="decision_reasoning_length"
            ),
            models.CheckConstraint(condition=models.Q(tags__len__lte=TAGS_MAX), name="decision_tags_max"),
            models.CheckConstraint(
                condition=models.Q(affects_products__len__lte=AFFECTS_MAX), name="decision_affects_max"
            ),
            models.CheckConstraint(
                condition=models.Q(alternatives__len__lte=ALTERNATIVES_MAX), name="decision_alternatives_max"
            ),
            models.CheckConstraint(condition=~models.Q(supersedes=F("id")), name="decision_not_superseding_itself"),
            # One row per original id in a space: re-imports find it, parallel imports cannot
            # store it twice. Also the index of id lookups that fall back to the original id.
            models.UniqueConstraint(
                fields=["space", "origin_id"],
                condition=models.Q(origin_id__isnull=False),
                name="decision_origin_unique_per_space",
            ),
            models.CheckConstraint(
                condition=models.Q(embedding__isnull=True)
                | (models.Q(embedding_dimensions__isnull=False) & ~models.Q(embedding_model="")),
                name="decision_embedding_labelled",
            ),
        ]
        indexes = [
            models.Index(fields=["space", "-decided_at"], name="decision_space_decided"),
            # Every space's decisions in the admin's order (Meta.ordering): read from the top of
            # this index, not sorted out of the whole table.
            models.Index(fields=["-decided_at", "id"], name="decision_decided"),
            # Current (not superseded) decisions: the default listing, newest first.
            models.Index(
                fields=["space", "-decided_at"],
                condition=models.Q(superseded_by__isnull=True),
                name="decision_current_decided",
            ),
            # ... and their count, index-only: one key per space, so btree deduplication stores
            # its entries as posting lists, a sixth of the pages of the index above (measured at
            # 100,000 decisions: 90 against 541 pages, the count 12.6 → 7.6 ms).
            models.Index(
                fields=["space"], condition=models.Q(superseded_by__isnull=True), name="decision_current_space"
            ),
            # ``space`` included: filters always name the space, and counts stay index-only.
            models.Index(
                fields=["product", "-decided_at"],
                condition=models.Q(superseded_by__isnull=True),
                include=["space"],
                name="decision_current_product_v2",
            ),
            models.Index(fields=["product", "-decided_at"], name="decision_product_decided"),
            # The copies merged into a decision, found when it is deleted: only merged rows are indexed.
            models.Index(
                fields=["merged_into"], condition=models.Q(merged_into__isnull=False), name="decision_merged_into"
            ),
            # Decisions waiting for the one they supersede: few, looked up by each imported decision.
            models.Index(
                fields=["space", "supersedes_pending"],
                condition=models.Q(supersedes_pending__isnull=False),
                name="decision_supersedes_pending",
            ),
            # Copies waiting for the survivor they were merged into: as few, looked up the same way.
            models.Index(
                fields=["space", "merged_into_pending"],
                condition=models.Q(merged_into_pending__isnull=False),
                name="decision_merged_into_pending",
            ),
            # Text and trigram indexes lead with the space (btree_gin), so a search reads only its
            # own space's postings: a word common in other people's spaces costs it nothing.
            GinIndex(fields=["space", "search_document"], name="decision_space_document"),
            GinIndex(F("space"), OpClass("decision", name="gin_trgm_ops"), name="decision_space_text_trgm"),
            GinIndex(fields=["tags"], name="decision_tags"),
            GinIndex(fields=["affects_keys"], name="decision_affects_keys"),
            models.Index(
                fields=["space", "embedding_model", "embedding_dimensions"],
                condition=models.Q(embedding__isnull=False),
                name="decision_embedded",
            ),
            # The column has no fixed size, so approximate-nearest-neighbour indexes are per size
            # (cast expression + partial); search casts the same way for these sizes.
            *(
                HnswIndex(
                    OpClass(Cast("embedding", output_field=VectorField(dimensions=size)), name="vector_cosine_ops"),
                    condition=models.Q(embedding_dimensions=size),
                    name=f"decision_embedding_hnsw_{size}",
                    m=16,
                    ef_construction=64,
                )
                for size in HNSW_DIMENSIONS
            ),
        ]

    def __str__(self) -> str:
        return self.decision[:80]


class DecisionWord(models.Model):
    """One word (a lexeme of the search document) that some decision of the space contains.

    Typo correction compares a query's unknown words with these (SPEC §6's trigram fallback):
    a space has far fewer distinct words than decisions, so finding the closest ones is cheap
    (and deciding that a word is unknown is one key lookup). Maintained by PostgreSQL for
    every write path (triggers of migrations 0009 and 0012): each word counts the decisions of
    the space that hold it; inserted rows add to their words' counts, deleted ones take from
    theirs, an edit changes only the words it adds or loses, and a word leaves when its count
    reaches 0 (deleted decisions leave no words behind). So a delete touches its own words'
    rows, never the other holders. Every writer of a space's decisions takes its lock alone
    (migration 0012 says why), so concurrent writers keep the counts exact and cannot deadlock
    on the words (tests/test_concurrency_writes.py, test_decision_word_holders.py).
    """

    pk = models.CompositePrimaryKey("space_id", "word")
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+", db_index=False)
    word = models.TextField()
    # How many decisions of the space hold the word; written only by the triggers.
    holders = models.IntegerField()

    class Meta:
        indexes = [
            # Led by the space (btree_gin), like every searched text index.
            GinIndex(F("space"), OpClass("word", name="gin_trgm_ops"), name="decision_word_trgm"),
        ]

    def __str__(self) -> str:
        return self.word
