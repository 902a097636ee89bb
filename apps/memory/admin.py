import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.search import SearchQuery
from django.db import models
from django.db.models import F, Q, Subquery, Value
from django.template.defaultfilters import truncatechars
from django.utils.html import format_html

from apps.byok.shapes import base_url_problem
from apps.memory.consolidation import consolidation_job_request
from apps.memory.models import SEARCH_CONFIG, ConsolidationJob, EmbeddingSettings, Memory
from apps.scopes.models import Space
from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_filters import ILike, InArray, contains_pattern, listed_space, search_terms, top_values_filter
from synchronex.admin_redaction import RedactedAdmin
from synchronex.api import errors


@admin.register(Memory)
class MemoryAdmin(RedactedAdmin, BoundedAdmin, admin.ModelAdmin):
    list_redacted_fields = ["content"]  # pasted BYOK keys; a memory's page redacts every field
    list_display = ["memory_id", "space", "memory_type", "short_content", "created_at", "embedding_model"]
    list_filter = [top_values_filter("memory_type"), top_values_filter("embedding_model"), "space__kind", "created_at"]
    # Shows the search box; the search itself is get_search_results.
    search_fields = ["content", "memory_id", "external_id", "agent_id", "space__name", "space__owner__email"]
    list_select_related = ["space"]
    raw_id_fields = ["space"]
    date_hierarchy = "created_at"
    dates_in_space_only = True  # BoundedAdmin: no DISTINCT over every memory
    search_help_text = (
        "Part of the content or its words, a memory id, part of a space name or owner email; "
        "in a list of one space (?space=) also an exact external id or agent id."
    )
    exclude = ["embedding", "search"]  # derived columns, too large to show

    def get_queryset(self, request):
        return super().get_queryset(request).defer("embedding", "search")

    def get_search_results(self, request, queryset, search_term):
        """Every word must match: part of the content (``ILIKE``, the trigram index), a word of the
        search document (``@@``, content, tags, type and entities), the memory id, or part of the
        space's name or owner's email (the space's key). External and agent ids have no index, so
        they are matched (exactly) only in a list narrowed to one space, whose rows its index finds.
        Django's search compares ``UPPER(column) LIKE``, which no index serves: it read every memory.
        """
        space_id = listed_space(request)
        for term in search_terms(search_term):
            pattern = Value(contains_pattern(term))
            spaces = Space.objects.filter(Q(ILike(F("name"), pattern)) | Q(ILike(F("owner__email"), pattern)))
            match = (
                Q(ILike(F("content"), pattern))
                | Q(search=SearchQuery(term, config=SEARCH_CONFIG, search_type="plain"))
                | Q(InArray(F("space_id"), Subquery(spaces.values("pk"))))
            )
            try:
                match |= Q(memory_id=uuid.UUID(term))
            except ValueError:
                pass
            if space_id is not None:
                match |= Q(external_id=term) | Q(agent_id=term)
            queryset = queryset.filter(match)
        return queryset, False

    # Memories enter only through memory_create (typed columns, hash, search document and raw JSON
    # stay consistent); the admin views and deletes them.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="content")
    def short_content(self, obj: Memory) -> str:
        return truncatechars(obj.content, 80)


class EmbeddingSettingsForm(forms.ModelForm):
    """The space's server under the BYOK API's rule for a base URL (``base_url_problem``): every
    text of the space, and its stored key, are sent there. Its model and fields are the admin's."""

    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"]
        if url and (problem := base_url_problem(url)):
            raise forms.ValidationError(problem)
        return url


@admin.register(EmbeddingSettings)
class EmbeddingSettingsAdmin(BoundedAdmin, admin.ModelAdmin):
    form = EmbeddingSettingsForm
    list_display = ["space", "provider", "base_url", "model", "updated_at"]
    list_filter = ["provider"]
    search_fields = ["space__name", "space__owner__email", "model"]
    list_select_related = ["space"]
    date_hierarchy = "updated_at"
    raw_id_fields = ["space"]
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(ConsolidationJob)
class ConsolidationJobAdmin(RedactedAdmin, BoundedAdmin, admin.ModelAdmin):
    """Consolidation runs: status and stats, read-only; "Run again" requests a new job."""

    list_redacted_fields = ["product_name"]  # a product's name may hold a pasted BYOK key

    list_display = [
        "created_at",
        "space",
        "product_label",
        "status",
        "dry_run",
        "attempts",
        "duration",
        "stats_summary",
        "finished_at",
    ]
    list_filter = ["status", "dry_run", "space__kind"]
    search_fields = ["space__name", "space__owner__email", "product_name"]
    search_help_text = "Space name, owner email or product name."
    list_select_related = ["space"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "space",
        "product_name",
        "dry_run",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "applied_at",
        "lease_expires_at",
        "attempts",
        "stats_json",
        "error_json",
    ]
    readonly_fields = fields
    actions = ["run_again"]

    def has_add_permission(self, request) -> bool:
        return False  # a job is requested through the consolidation service (API or "Run again")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="product", ordering="product_name")
    def product_label(self, obj: ConsolidationJob) -> str:
        return obj.product_name or "all products"

    @admin.display(description="duration")
    def duration(self, obj: ConsolidationJob) -> str:
        duration_ms = (obj.stats or {}).get("duration_ms")
        return f"{duration_ms} ms" if duration_ms is not None else "—"

    @admin.display(description="stats")
    def stats_summary(self, obj: ConsolidationJob) -> str:
        stats = obj.stats or {}
        shown = [(key, value) for key, value in stats.items() if key != "duration_ms"]
        return ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in shown) or "—"

    @admin.display(description="stats")
    def stats_json(self, obj: ConsolidationJob):
        return _pretty_json(obj.stats)

    @admin.display(description="error")
    def error_json(self, obj: ConsolidationJob):
        return _pretty_json(obj.error)

    def has_rerun_permission(self, request) -> bool:
        return request.user.has_perm("memory.add_consolidationjob")

    @admin.action(
        description="Run again (a new job with the same space, product and dry-run setting)", permissions=["rerun"]
    )
    def run_again(self, request, queryset):
        for job in queryset.select_related("space"):
            try:
                new, created = consolidation_job_request(
                    space=job.space, product_name=job.product_name or None, dry_run=job.dry_run
                )
            except errors.ServiceError as exc:
                self.message_user(request, f"{job.space}: {exc.message}", messages.ERROR)
                continue
            if created:
                self.log_addition(request, new, f"Requested again from job {job.pk}.")
                self.message_user(request, f"{job.space}: queued job {new.pk}.")
            else:
                self.message_user(
                    request,
                    f"{job.space}: job {new.pk} is already {new.status}; it was not requested twice.",
                    messages.WARNING,
                )


def _pretty_json(value):
    if value is None:
        return "—"
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))
