"""Generic memories (imported from other systems via MIF), per-space embedding settings, consolidation jobs."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Func
from pgvector.django import VectorField

from apps.scopes.models import Space

# One text-search configuration for every searchable document of the project, so that ranks
# of different types (decisions, memories, products, kernel) are comparable.
SEARCH_CONFIG = "english"
# Memory search's typo tolerance compares a query with at most this many characters of a text:
# ``word_similarity`` reads the whole text it is given (~0.6 ms per 1,000 characters), and a
# product state's text holds up to ~155,000 (3 lists of 100 items of 500), a generic memory's
# 100,000, so a misspelt word over 50 full products took 3–5 s. A decision's text and a signal's
# title hold at most this many, and kernel layers are compared whole.
TYPO_TEXT_MAX = 2_000


# A generic memory's title (MIF ``metadata.title`` when a string: what memory search shows as its
# title) is searched up to this many characters: a memory's whole search document must stay within
# PostgreSQL's 1 MiB tsvector limit, and metadata has no length limit of its own.
MEMORY_TITLE_SEARCH_CHARS = 1_000


def typo_text(field: str | Func) -> Func:
    """The first ``TYPO_TEXT_MAX`` characters of ``field``: what typo tolerance compares, and what
    the trigram indexes serving it hold (the length is written out so both read the same SQL)."""
    text = F(field) if isinstance(field, str) else field
    return Func(text, template=f"left(%(expressions)s, {TYPO_TEXT_MAX})", output_field=models.TextField())


def memory_typo_text() -> Func:
    """A generic memory's ``typo_text``: its title (as ``services.memory_title`` reads it) and a
    space, then its content. Spelled with ``||`` and CASE, not concat_ws (only STABLE): an index
    expression must be IMMUTABLE."""
    title = (
        "CASE WHEN jsonb_typeof(%(expressions)s -> 'title') = 'string'"
        f" THEN left(%(expressions)s ->> 'title', {MEMORY_TITLE_SEARCH_CHARS}) || ' ' ELSE '' END"
    )
    text = Func(
        Func(F("metadata"), template=title, output_field=models.TextField()),
        F("content"),
        template="(%(expressions)s)",
        arg_joiner=" || ",
        output_field=models.TextField(),
    )
    return typo_text(text)


class Memory(models.Model):
    """A generic memory, typically imported from another system; kept losslessly in ``raw``.

    Two ids: ``id`` is this row's own key; ``memory_id`` is the memory's id as the source gave
    it (MIF ``id``), unique *within a space*. Keeping the source id out of the global primary
    key lets the same document be imported into several spaces (personal and a workspace, or
    export → import into an empty space) with every original id intact. ``memory_id`` is the
    public id: search results and exports show it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="memories")
    memory_id = models.UUIDField(help_text="The memory's id as the source gave it (MIF id).")
    content = models.TextField()
    # Dedupe key after the id: the same text is stored once per space (SPEC §8).
    content_sha256 = models.CharField(max_length=64)
    memory_type = models.CharField(max_length=100, blank=True, default="")
    tags = ArrayField(models.TextField(), default=list, blank=True)
    entities = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    source = models.JSONField(null=True, blank=True)
    parent_id = models.CharField(max_length=255, blank=True, default="")
    related_memory_ids = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    agent_id = models.CharField(max_length=255, blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")
    version = models.PositiveIntegerField(null=True, blank=True)
    # Timestamps as the source gave them; ``stored_at`` is when this row was written here.
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(null=True, blank=True)
    stored_at = models.DateTimeField(auto_now_add=True)
    # The full original memory JSON: unknown fields and vendor extensions untouched.
    raw = models.JSONField(default=dict)
    # Weighted document: title and content A, tags B, type and entity names C (see services).
    search = SearchVectorField(null=True, editable=False)
    # No fixed size: each vector is stored with the model and dimensions that produced it.
    embedding = VectorField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    embedding_dimensions = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["space", "memory_id"], name="memory_unique_id_per_space"),
            models.UniqueConstraint(fields=["space", "content_sha256"], name="memory_unique_content_per_space"),
            models.CheckConstraint(condition=~models.Q(content=""), name="memory_content_not_empty"),
            models.CheckConstraint(
                condition=models.Q(content_sha256__regex=r"^[0-9a-f]{64}$"), name="memory_content_sha256_hex"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(embedding__isnull=True, embedding_dimensions__isnull=True, embedding_model="")
                    | (models.Q(embedding__isnull=False, embedding_dimensions__gt=0) & ~models.Q(embedding_model=""))
                ),
                name="memory_embedding_has_model_and_dimensions",
            ),
        ]
        indexes = [
            # Led by the space (btree_gin), as the decision indexes: a search reads its own postings.
            GinIndex(fields=["space", "search"], name="memory_space_search"),
            GinIndex(F("space"), OpClass("content", name="gin_trgm_ops"), name="memory_space_content_trgm"),
            # Typo tolerance (``memory_typo_text``); the whole content's index serves words inside runs.
            GinIndex(F("space"), OpClass(memory_typo_text(), name="gin_trgm_ops"), name="memory_space_title_typo_trgm"),
            models.Index(fields=["space", "-created_at"], name="memory_space_created"),
            # Every space's memories in the admin's order (Meta.ordering, then the id the admin adds
            # to make it total), without a sort of the table.
            models.Index(fields=["-created_at", "-id"], name="memory_created"),
        ]

    def __str__(self) -> str:
        return f"{self.memory_type or 'memory'} {self.memory_id}"


class EmbeddingSettings(models.Model):
    """A space's override of the deployment's embedding provider (blank fields inherit it)."""

    class Provider(models.TextChoices):
        NONE = "none", "None (keyword search only)"
        OPENAI = "openai", "OpenAI-compatible /v1/embeddings"
        LOCAL = "local", "Local sentence-transformers"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="embedding_settings")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    base_url = models.URLField(
        max_length=500,
        blank=True,
        default="",
        help_text="OpenAI-compatible server; blank uses the deployment's. "
        "The deployment's API key is never sent to another URL.",
    )
    model = models.CharField(max_length=200, blank=True, default="", help_text="Blank uses the default model.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "embedding settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(provider__in=["none", "openai", "local"]), name="embedding_settings_provider_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.space}: {self.provider}"


class ConsolidationJob(models.Model):
    """One consolidation run of a space (SPEC §9): requested, run on a worker, its result kept."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = ("queued", "running")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="consolidation_jobs")
    # Optional narrowing of the product steps to one product; the name is kept for display and
    # so that a job whose product was deleted meanwhile does not widen to the whole space.
    product = models.ForeignKey(
        "products.ProductState", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    product_name = models.CharField(max_length=100, blank=True, default="")
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set in the same transaction as the applied changes: a retried run never applies them again.
    applied_at = models.DateTimeField(null=True, blank=True)
    # While queued or running, a job past its lease is presumed lost (its message or its worker
    # died) and is queued again; a running worker keeps extending it (heartbeat).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    stats = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            # At most one queued or running job per space; concurrent requests share it.
            models.UniqueConstraint(
                fields=["space"],
                condition=models.Q(status__in=["queued", "running"]),
                name="consolidationjob_one_active_per_space",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "running", "succeeded", "failed"]),
                name="consolidationjob_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["space", "-created_at"], name="consolidationjob_space_created"),
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status__in=["queued", "running"]),
                name="consolidationjob_active_lease",
            ),
        ]

    def __str__(self) -> str:
        return f"Consolidation {self.id} ({self.status})"


# -- search documents kept by PostgreSQL for memory search (migration 0007) ----------------------
# Memory search ranks product states and kernel layers by a weighted document (A/B/C, the
# ``SEARCH_CONFIG`` of every other type) and matches typos by trigram word similarity on their
# text. Built per search, both cost every row of the space on every call (seconds for 50 products
# with full lists: word_similarity alone is ~0.1 s over one product's ~150 KB of text), and
# nothing could be indexed. Triggers keep them here for every write path (API, import, admin,
# consolidation), each table with space-led GIN indexes as the other types have. They are side
# tables rather than generated columns so the many reads of product states and kernel layers
# (every request reads the kernel) do not carry them along. Rows go with their product or layer
# (ON DELETE CASCADE in the database, so Django's deletions need no extra statement).
class ProductSearch(models.Model):
    """The search document (name A, lists B, status and handoff C) and text of one product state."""

    product = models.OneToOneField(
        "products.ProductState", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    space = models.ForeignKey(Space, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    document = SearchVectorField()
    text = models.TextField()

    class Meta:
        indexes = [
            GinIndex(fields=["space", "document"], name="productsearch_space_document"),
            GinIndex(F("space"), OpClass("text", name="gin_trgm_ops"), name="productsearch_space_text_trgm"),
            GinIndex(F("space"), OpClass(typo_text("text"), name="gin_trgm_ops"), name="productsearch_space_typo_trgm"),
        ]

    def __str__(self) -> str:
        return f"Search document of product {self.product_id}"


class KernelSearch(models.Model):
    """The search document (identity A, products and constraints B, model preferences C) and text
    of one kernel layer, as the personal scope searches it (a workspace merges two layers per
    caller, and searches that one merged row as it is)."""

    kernel = models.OneToOneField(
        "identity.Kernel", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    space = models.ForeignKey(Space, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    document = SearchVectorField()
    text = models.TextField()

    class Meta:
        indexes = [
            GinIndex(fields=["space", "document"], name="kernelsearch_space_document"),
            GinIndex(F("space"), OpClass("text", name="gin_trgm_ops"), name="kernelsearch_space_text_trgm"),
        ]

    def __str__(self) -> str:
        return f"Search document of kernel {self.kernel_id}"
