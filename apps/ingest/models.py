"""Project signals (SPEC §9): events of a product sent by tools, applied at once or by consolidation."""

from __future__ import annotations

import uuid

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from apps.decisions.models import Decision
from apps.memory.models import SEARCH_CONFIG
from apps.memory.spaceless import Searchable
from apps.products.models import ProductState
from apps.scopes.models import Space

TITLE_MAX = 2_000  # a decision signal's title is the decision (SPEC §6); other types allow 500
BODY_MAX = 10_000
SOURCE_MAX = 100
EXTERNAL_ID_MAX = 255

SIGNAL_TYPES = (
    "commit",
    "deploy",
    "ci",
    "issue",
    "error",
    "release",
    "note",
    "session_summary",
    "decision",
    "blocker",
    "unblocked",
    "question",
    "ai_usage",
)


class Signal(models.Model):
    """One event of a product (a commit, a deploy, a blocker, an AI call, …) as it was ingested."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (waits for consolidation)"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored (no rule changes the state)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="signals")
    product = models.ForeignKey(ProductState, on_delete=models.CASCADE, related_name="signals")
    type = models.CharField(max_length=32, choices=[(t, t) for t in SIGNAL_TYPES])
    title = models.TextField(blank=True, default="")
    body = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    # Signals apply in (occurred_at, received_at, position) order: a batch shares ``received_at``
    # and keeps its order through ``position``.
    received_at = models.DateTimeField(default=timezone.now)
    position = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=SOURCE_MAX, blank=True, default="")
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    applied_at = models.DateTimeField(null=True, blank=True)
    # The decision a ``decision`` signal created. The signal holds its text and reasoning, so it goes
    # with it, whoever deletes it (the API, the admin).
    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    # Maintained by PostgreSQL: title A, body B, type and source C. Title and body go through
    # ``sx_searchable`` (apps/memory/spaceless.py, migration 0006): a run of a script written
    # without spaces too long to be a word is searched in overlapping pieces. Type and source are
    # too short to hold one.
    search_document = models.GeneratedField(
        expression=SearchVector(Searchable("title"), config=SEARCH_CONFIG, weight="A")
        + SearchVector(Searchable("body"), config=SEARCH_CONFIG, weight="B")
        + SearchVector("type", config=SEARCH_CONFIG, weight="C")
        + SearchVector("source", config=SEARCH_CONFIG, weight="C"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-occurred_at", "-received_at", "-position"]
        constraints = [
            # Race-safe de-duplication: a repeated external id of a product is never stored twice.
            models.UniqueConstraint(
                fields=["product", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="signal_external_id_unique_per_product",
            ),
            models.CheckConstraint(condition=models.Q(type__in=SIGNAL_TYPES), name="signal_type_valid"),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "applied", "ignored"]), name="signal_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending", applied_at__isnull=True)
                | (~models.Q(status="pending") & models.Q(applied_at__isnull=False)),
                name="signal_applied_at_iff_done",
            ),
            models.CheckConstraint(condition=~models.Q(external_id=""), name="signal_external_id_not_empty"),
            models.CheckConstraint(condition=LessThanOrEqual(Length("title"), TITLE_MAX), name="signal_title_length"),
            models.CheckConstraint(condition=LessThanOrEqual(Length("body"), BODY_MAX), name="signal_body_length"),
        ]
        indexes = [
            models.Index(fields=["space", "-occurred_at"], name="signal_space_occurred"),
            # Every space's signals in the admin's order (Meta.ordering), without a sort of the table.
            models.Index(fields=["-occurred_at", "-received_at", "-position"], name="signal_occurred"),
            # What consolidation reads: the pending signals of a space, in application order.
            models.Index(
                fields=["space", "occurred_at", "received_at", "position"],
                condition=models.Q(status="pending"),
                name="signal_pending",
            ),
            models.Index(fields=["product", "-occurred_at"], name="signal_product_occurred"),
            # Led by the space (btree_gin), as the decision indexes: a search reads its own postings.
            GinIndex(fields=["space", "search_document"], name="signal_space_document"),
            GinIndex(F("space"), OpClass("title", name="gin_trgm_ops"), name="signal_space_title_trgm"),
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.title[:60] or self.id}"


class DeletedSignal(models.Model):
    """A deleted signal's ``external_id``, still taken: a resend is a duplicate, not new (SPEC §9).

    What a signal did outlives it (an ``ai_usage`` signal's cost event, a ``decision`` signal's
    decision), so a tool that sends the same event again after the signal was deleted (to remove a
    pasted secret, say), or its decision with it, must not charge or decide it a second time.
    ``deleted_signals_record`` writes them before every delete of signals that leaves their product
    (a deleted space takes its products with these rows). Nothing else of the signal is kept. The
    row keeps the signal's id and type: a duplicate's entry names the signal stored first.
    """

    id = models.UUIDField(primary_key=True, editable=False)  # the deleted signal's
    product = models.ForeignKey(ProductState, on_delete=models.CASCADE, related_name="deleted_signals")
    type = models.CharField(max_length=32, choices=[(t, t) for t in SIGNAL_TYPES])
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX)
    deleted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "external_id"], name="deleted_signal_external_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.external_id} (deleted)"
