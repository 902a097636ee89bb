"""GET /api/v1/memory/export-mif: formats, headers, filters, permissions, privacy, isolation."""

import hashlib
import json
import math
import random
import re
import struct
from datetime import UTC, datetime

import pytest
import rfc8785
from cryptography.fernet import Fernet
from django.db import connection

from apps.accounts.models import ApiKey
from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import fresh_key
from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.memory.mif.common import EXPORT_TYPES, VENDOR, canonical
from apps.memory.mif.export import FLUSH_BYTES, ExportOptions, StartedStream, mif_json_stream
from apps.memory.models import Memory
from apps.memory.services import memory_create
from apps.memory.tests.mif_support import EXPORT, PLAIN, by_id, export, export_json, mif_memory, seed_space
from apps.memory.tests.test_mif_streaming import fill
from apps.scopes.models import Membership
from apps.scopes.services import space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)


def kinds(document: dict) -> list[str]:
    return [memory["vendor_extensions"][VENDOR]["kind"] for memory in document["memories"]]


def test_json_export_is_a_download_named_after_scope_and_date(user, client_for):
    seed_space(user)
    response = export(client_for(user, "read"))
    assert response.headers["Content-Type"] == "application/json"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert response.headers["Content-Disposition"] == f'attachment; filename="synchronex-personal-{today}.mif.json"'
    assert response.headers["X-Synchronex-Scope"] == "personal"
    assert "Content-Length" not in response.headers  # streamed
    body = response.json()
    assert body["vendor_extensions"][VENDOR]["scope"] == "personal"
    assert body["vendor_extensions"][VENDOR]["counts"] == {
        "identity_kernel": 1,
        "product_state": 3,
        "decision": 3,
        "memory": 2,
    }
    assert body["export_meta"]["memory_count"] == 9


def test_each_row_maps_to_its_memory_type_and_tag(user, client_for):
    data = seed_space(user)
    document = export_json(client_for(user, "read"))
    memories = by_id(document)
    kernel = document["memories"][0]
    assert (kernel["memory_type"], kernel["tags"]) == ("context", ["identity-kernel"])
    assert "Ada Lovelace" in kernel["content"] and "Deploy on Fridays" in kernel["content"]
    product = memories[str(data["product"].id)]
    assert (product["memory_type"], product["tags"]) == ("context", ["product-state"])
    assert product["content"].startswith("Product Atlas: blocked")
    assert product["vendor_extensions"][VENDOR]["data"]["what_is_blocked"] == ["PostgreSQL upgrade"]
    old, new = data["decisions"]
    decision = memories[str(new.id)]
    assert decision["memory_type"] == "decision"
    assert decision["content"].startswith("Use PostgreSQL")
    assert decision["metadata"]["supersedes"] == str(old.id)
    assert memories[str(old.id)]["metadata"]["superseded_by"] == str(new.id)
    assert decision["vendor_extensions"][VENDOR]["data"]["product_name"] == "Atlas"


def test_generic_memory_keeps_unknown_fields_and_other_vendors_extensions(user, client_for):
    seed_space(user)
    foreign = export_json(client_for(user, "read"))["memories"][-1]
    assert foreign["x_unknown"] == {"kept": True}
    assert foreign["vendor_extensions"]["othervendor"] == {"score": 0.5}
    assert foreign["id"] == "6f9619ff-8b86-4d11-b42d-00c04fc964ff"  # canonical form
    assert foreign["metadata"] == {"importance": "0.8", "nested": '{"a": [1, 2]}', "label": "kept"}
    assert foreign["source"] == {
        "source_type": "conversation",
        "session_id": "s-1",
        "agent_name": "claude",
        "agent": "claude",
    }
    assert foreign["external_id"] == "12345"
    assert foreign["created_at"] == "2026-03-01T08:00:00Z"
    restore = foreign["vendor_extensions"][VENDOR]["restore"]
    assert restore["original"]["metadata"] == {"importance": 0.8, "nested": {"a": [1, 2]}, "label": "kept"}
    assert restore["original"]["parent_id"] == "not-a-uuid" and "parent_id" not in foreign


def test_markdown_export_is_readable(user, client_for):
    seed_space(user)
    response = export(client_for(user, "read"), format="markdown")
    assert response.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="synchronex-personal-\d{4}-\d{2}-\d{2}\.md"', response.headers["Content-Disposition"]
    )
    text = response.text
    assert text.startswith("# Synchronex memory export")
    for heading in ("## Identity Kernel", "## Products", "## Decisions", "## Memories"):
        assert heading in text
    assert "### Atlas (blocked)" in text and "- PostgreSQL upgrade" in text
    assert "### Use PostgreSQL" in text and "Full-text search and pgvector in one engine." in text
    assert "Prefers PostgreSQL over MySQL for new services." in text


def test_empty_scope_exports_a_valid_empty_document(user, client_for):
    document = export_json(client_for(user, "read"))
    assert document["memories"] == []
    assert document["export_meta"]["memory_count"] == 0
    markdown = export(client_for(user, "read"), format="markdown").text
    assert "Nothing to export." in markdown


def test_types_filter_selects_kinds(user, client_for):
    seed_space(user)
    client = client_for(user, "read")
    assert kinds(export_json(client, types="decision,memory")) == ["decision"] * 3 + ["memory"] * 2
    assert kinds(export_json(client, types="identity")) == ["identity_kernel"]
    assert kinds(export_json(client, types="memory, product")) == ["product_state"] * 3 + ["memory"] * 2


def test_since_keeps_rows_created_or_changed_since(user, client_for):
    data = seed_space(user)
    space = data["space"]
    old, other = data["decisions"]
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    Decision.objects.filter(space=space).update(created_at=long_ago, updated_at=long_ago)
    Memory.objects.filter(space=space).update(stored_at=long_ago)  # else stored here since
    Decision.objects.filter(pk=old.pk).update(created_at=datetime(2026, 5, 2, tzinfo=UTC))
    recent = memory_create(space=space, data=mif_memory(content="A recent note", created_at="2026-06-01T00:00:00Z"))
    document = export_json(client_for(user, "read"), since="2026-05-01", types="decision,memory")
    assert [m["id"] for m in document["memories"]] == [str(old.id), str(recent.memory_id)]
    assert document["vendor_extensions"][VENDOR]["since"] == "2026-05-01T00:00:00Z"
    # A decision made before but changed since (by any writer: the database stamps the change).
    Decision.objects.filter(pk=other.pk).update(tags=["changed"])
    document = export_json(client_for(user, "read"), since="2026-05-01", types="decision")
    assert [m["id"] for m in document["memories"]] == [str(other.id), str(old.id)]


def test_embeddings_only_on_request(user, client_for):
    data = seed_space(user)
    Memory.objects.filter(pk=data["memories"][1].pk).update(
        embedding=[0.6, 0.8], embedding_model="m-1", embedding_dimensions=2
    )
    client = client_for(user, "read")
    assert all("embeddings" not in m for m in export_json(client)["memories"])
    memories = by_id(export_json(client, include_embeddings="true"))
    assert memories[PLAIN["id"]]["embeddings"] == {
        "model": "m-1",
        "dimensions": 2,
        "vector": pytest.approx([0.6, 0.8]),
        "normalized": True,
    }
    # The foreign memory arrived with a vector in no column: nothing to add, and none in the body.
    assert all("embeddings" not in m for m in export_json(client, include_embeddings="false")["memories"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "xml"}, "format"),
        # Compared exactly, as the OpenAPI enum, the kernel export and the MCP tool compare them.
        ({"format": "JSON"}, "format"),
        ({"format": " markdown"}, "format"),
        ({"types": "Decision"}, "types"),
        ({"include_embeddings": "yes"}, "include_embeddings"),
        ({"since": "last tuesday"}, "since"),
        ({"types": "memory,bogus"}, "types"),
        ({"types": "memory,"}, "types"),
        ({"types": ""}, "types"),
        ({"limit": "5"}, "limit"),
    ],
)
def test_bad_parameters_are_validation_errors(user, client_for, params, field):
    response = client_for(user, "read").get(EXPORT, params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]["fields"]


@pytest.mark.parametrize("fmt", ["json", "markdown"])
@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_a_since_outside_the_years_1_to_9999_in_utc_is_a_validation_error(user, client_for, since, fmt):
    """Such a moment parses, but no UTC date-time holds it: refused up front, not a broken download."""
    seed_space(user)
    response = client_for(user, "read").get(EXPORT, params={"since": since, "format": fmt})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and list(error["details"]["fields"]) == ["since"]
    assert response.headers["X-Request-ID"]


def test_a_since_at_the_edges_of_the_years_1_to_9999_in_utc_is_taken(user, client_for):
    seed_space(user)
    client = client_for(user, "read")
    everything = export_json(client, since="0001-01-01T14:00:00+14:00")
    assert everything["export_meta"]["memory_count"] == 9
    assert everything["vendor_extensions"][VENDOR]["since"] == "0001-01-01T00:00:00Z"
    assert export_json(client, since="9999-12-31T11:59:59-12:00")["memories"] == []
    assert "Since: 9999-12-31T23:59:59Z" in export(client, since="9999-12-31T23:59:59Z", format="markdown").text


@pytest.mark.parametrize("fmt", ["json", "markdown"])
def test_a_failure_before_the_first_chunk_is_the_json_error_envelope(user, client_for, settings, fmt):
    """The export starts (secrets, first rows) before the response does: a failure there takes the
    one error path (JSON envelope with the request id), not the server's bare 500 page."""
    space = space_ensure_personal(user=user)
    byok_credential_create(space=space, service="openai", label="main", key=fresh_key("openai"))
    decision_create(space=space, decision="Use PostgreSQL", product_name="Atlas")
    client = client_for(user, "read")
    settings.FERNET_KEYS = [Fernet.generate_key().decode()]  # the stored secret no longer opens
    response = client.get(EXPORT, params={"format": fmt})
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    request_id = response.headers["X-Request-ID"]
    error = response.json()["error"]
    assert error["code"] == "INTERNAL_ERROR" and request_id in error["message"]
    assert "Content-Disposition" not in response.headers


def test_an_export_of_many_chunks_streams_whole_and_closing_it_early_ends_its_snapshot(user, client_for):
    space = space_ensure_personal(user=user)
    fill(space, 400)  # about 250 KiB: several chunks
    body = client_for(user, "read").get(EXPORT).content
    assert len(body) > 3 * FLUSH_BYTES and json.loads(body)["export_meta"]["memory_count"] == 400

    options = ExportOptions(space=space, scope="personal", user_id=str(user.pk), types=EXPORT_TYPES)
    started = StartedStream(mif_json_stream(options))
    assert connection.in_atomic_block  # the first chunk was made inside the export's snapshot
    started.close()  # what the server does when the client leaves after the first chunk
    assert not connection.in_atomic_block


def test_repeated_parameter_is_refused(user, client_for):
    response = client_for(user, "read").get(f"{EXPORT}?types=memory&types=decision")
    assert response.status_code == 400 and "types" in response.json()["error"]["details"]["fields"]


def test_export_needs_a_token(api):
    response = api.get(EXPORT)
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"


def test_decisions_need_the_decisions_read_scope(user, client_for, monkeypatch):
    seed_space(user)
    original = ApiKey.allows
    monkeypatch.setattr(ApiKey, "allows", lambda self, scope: scope != "decisions:read" and original(self, scope))
    document = export_json(client_for(user, "read"))
    assert "decision" not in kinds(document)
    assert document["vendor_extensions"][VENDOR]["decisions_included"] is False
    assert export_json(client_for(user, "read"), types="decision")["memories"] == []


def test_another_users_data_never_appears(user, make_user, client_for):
    seed_space(user)
    other = make_user()
    memory_create(space=space_ensure_personal(user=other), data=mif_memory(content="Only mine"))
    document = export_json(client_for(other, "read"))
    assert [m["content"] for m in document["memories"]] == ["Only mine"]
    assert "Ada" not in export(client_for(other, "read"), format="markdown").text


def test_workspace_export_holds_the_workspace_only(make_user, client_for):
    owner, member = make_user(tier="team"), make_user(tier="team")
    seed_space(owner)
    workspace = workspace_create(owner=owner, name="Acme", kind="team")
    Membership.objects.create(space=workspace, user=member, role="viewer")
    decision_create(space=workspace, decision="Team decision", product_name="Shared")
    response = client_for(member, "read").get(EXPORT, headers={"X-Synchronex-Scope": str(workspace.id)})
    assert response.status_code == 200
    assert response.headers["X-Synchronex-Scope"] == "team"
    assert "synchronex-team-" in response.headers["Content-Disposition"]
    document = response.json()
    assert kinds(document) == ["product_state", "decision"]
    assert document["memories"][1]["content"] == "Team decision"


def test_byok_secrets_never_appear_and_pasted_ones_are_redacted(user, client_for):
    data = seed_space(user)
    secret = fresh_key("openai")
    other_secret = fresh_key("anthropic")
    byok_credential_create(space=data["space"], service="openai", label="main", key=secret)
    byok_credential_create(space=data["space"], service="anthropic", label="second", key=other_secret)
    decision_create(
        space=data["space"], decision="Rotate the key", product_name="Atlas", reasoning=f"The old key was {secret}."
    )
    client = client_for(user, "read")
    raw = client.get(EXPORT).text
    assert secret not in raw and other_secret not in raw
    document = export_json(client)
    assert document["export_meta"]["privacy"] == {"pii_detected": True, "redacted_fields": ["api_key"]}
    rotated = next(m for m in document["memories"] if m["content"].startswith("Rotate the key"))
    assert "[REDACTED:api_key]" in rotated["metadata"]["reasoning"]
    markdown = export(client, format="markdown").text
    assert secret not in markdown and "[REDACTED:api_key]" in markdown


def test_markdown_redacts_a_key_that_crosses_the_cut_of_a_decision_heading(user, client_for):
    space = space_ensure_personal(user=user)
    secret = "sk-proj-" + fresh_key("openai")[8:] + fresh_key("openai")[8:48] + "0123456789"  # 98 characters
    byok_credential_create(space=space, service="openai", label="main", key=secret)
    decision = f"We moved the embedding calls to the new project key {secret} for billing"
    decision_create(space=space, decision=decision, product_name="Atlas")
    markdown = export(client_for(user, "read"), format="markdown").text
    heading = next(line for line in markdown.splitlines() if line.startswith("### We moved"))
    assert heading == "### We moved the embedding calls to the new project key [REDACTED:api_key] for billing"
    assert secret[:12] not in markdown


def test_a_key_the_kernel_rendering_escapes_is_redacted_before_rendering(user, client_for):
    # The kernel memory's content bolds a product name, escaping its "*", "`" and "\": the key must
    # be gone from the data before that, or the escaped key would not be found in the rendered text.
    space = space_ensure_personal(user=user)
    key = "Zq*9x`K\\7Lm"
    byok_credential_create(
        space=space, service="openai_compatible", label="star", key=key, base_url="http://localhost:8081/v1"
    )
    client = client_for(user)
    client.put(
        "/api/v1/memory/identity",
        json={"identity": {"name": "Cee"}, "products": [{"name": key, "status": "active", "summary": "the product"}]},
    )
    response = client.get(EXPORT)
    markdown = export(client, format="markdown").text
    assert "9x" not in response.text and "9x" not in markdown, markdown
    document = response.json()
    kernel = next(m for m in document["memories"] if m["vendor_extensions"][VENDOR]["kind"] == "identity_kernel")
    # Shorter than "[REDACTED:api_key]": "[SECRET]", so that the text does not grow.
    assert re.search(r"- \*\*\[SECRET\] \([0-9a-f]{8}\)\*\* \(active\): the product", kernel["content"])
    assert document["export_meta"]["privacy"]["redacted_fields"] == ["api_key"]
    assert re.search(r"- \*\*\[SECRET\] \([0-9a-f]{8}\)\*\* \(active\): the product", markdown)


def test_email_addresses_are_reported_as_pii(user, client_for):
    memory_create(space=space_ensure_personal(user=user), data=mif_memory(content="Write to ada@example.com"))
    privacy = export_json(client_for(user, "read"))["export_meta"]["privacy"]
    assert privacy == {"pii_detected": True, "redacted_fields": []}


def test_looking_for_an_address_reads_a_long_text_once(user, client_for):
    # A long run of letters with an "@" but no address was searched from each of its positions
    # (quadratic: 10,000 letters and 5,000 labels took 1.9 s, the text below minutes), on every
    # answer scrubbed.
    space = space_ensure_personal(user=user)
    memory_create(space=space, data=mif_memory(content="a" * 49_000 + "@" + "b." * 25_000))
    client = client_for(user, "read")
    assert export_json(client)["export_meta"]["privacy"] == {"pii_detected": False, "redacted_fields": []}
    memory_create(space=space, data=mif_memory(content="x" * 90_000 + " ada.l@example.co.uk"))
    assert export_json(client)["export_meta"]["privacy"] == {"pii_detected": True, "redacted_fields": []}


# -- the checksum: RFC 8785 (JCS), reproducible in any language ------------------------------------
NUMBERS = {"one": 1.0, "small": 1e-05, "tiny": 1.5e-07, "big": 1e16, "zero": -0.0, "x": 0.25, "n": 7}


def test_the_memories_are_written_in_rfc8785_form_and_the_checksum_is_of_it(user, client_for):
    """Integral floats, exponents and a key beyond U+FFFF (UTF-16 orders it before U+E000):
    where Python's json.dumps and JCS differ, the export writes JCS, so any JCS library verifies."""
    data = seed_space(user)
    space = data["space"]
    memory_create(space=space, data=mif_memory(metadata=NUMBERS, x_keys={"\ue000": 1, "😀": 2.0, "a": [1e-6, 3e-5]}))
    Memory.objects.filter(pk=data["memories"][1].pk).update(
        embedding=[0.00003, 1.0], embedding_model="m-1", embedding_dimensions=2
    )
    body = export(client_for(user, "read"), include_embeddings="true").content
    document = json.loads(body, parse_int=float)  # as JCS reads JSON: every number a double
    memories = rfc8785.dumps(document["memories"])
    # The exported bytes of the array are its JCS form: what the checksum is taken of.
    assert b'"memories":' + memories + b',"vendor_extensions":' in body
    assert document["export_meta"]["checksum"] == "sha256:" + hashlib.sha256(memories).hexdigest()
    assert "RFC 8785" in document["export_meta"]["checksum_covers"]
    assert (
        b'"confidence":1,' in memories
        and b'"one":1,"small":0.00001,"tiny":1.5e-7' in memories
        and b'"x_keys":{"a":[0.000001,0.00003],"\xf0\x9f\x98\x80":2,"\xee\x80\x80":1}' in memories
    )


def test_canonical_text_is_rfc8785s_for_any_double():
    rng = random.Random(8785)
    doubles = [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(20_000)]
    doubles += [rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30) for _ in range(20_000)]
    doubles += [0.0, -0.0, 5e-324, 1.7976931348623157e308, 2.0**53, 2.0**60, 1e-7, 1e-6, 1e20, 1e21, 0.1]
    finite = [d for d in doubles if math.isfinite(d)]
    assert canonical(finite) == rfc8785.dumps(finite).decode()
    assert (
        canonical({"list": finite[:100], "ü": '\u2028\x7f\x01\n"\\'})
        == rfc8785.dumps({"list": finite[:100], "ü": '\u2028\x7f\x01\n"\\'}).decode()
    )


def test_an_integer_beyond_a_doubles_precision_keeps_all_its_digits(user, client_for):
    # Outside JCS's domain (it would round it to a double): the value is kept, the form documented.
    space = space_ensure_personal(user=user)
    memory_create(space=space, data=mif_memory(x_snowflake=2**64 + 1, x_float=1e21))
    body = export(client_for(user, "read")).content
    # jsonb keeps 1e21 as the integer it equals, so it comes back as one: all digits too.
    assert b'"x_float":1000000000000000000000,"x_snowflake":18446744073709551617' in body
