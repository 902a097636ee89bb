"""Step 2 of consolidation beyond English words: a symbol or an emoji that carries meaning, or a
negation in another language, makes a revision, never a copy; punctuation, case and spacing
still make a copy."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.memory import consolidation_steps as steps
from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db

# Pairs pg_trgm takes for duplicates (its trigrams are letters and digits only) or that were one
# normalised text: each is a revision of the other.
REVISIONS = [
    ("Deploy ✅", "Deploy ❌"),
    ("Release status for the billing service: deploy ✅", "Release status for the billing service: deploy ❌"),
    ("Set the price of the team plan to €10 per seat", "Set the price of the team plan to $10 per seat"),
    ("For the payments API use → v2 of the client", "For the payments API use ← v2 of the client"),
    ("The mobile app is written in C++ for the core", "The mobile app is written in C for the core"),
    ("Nightly backups of the primary database 🟢 healthy", "Nightly backups of the primary database 🔴 healthy"),
    (
        "The release of the mobile app waits for ½ of the testers",
        "The release of the mobile app waits for ¼ of the testers",
    ),
    # Negations in other languages.
    (
        "Wir verwenden Redis nicht für die Warteschlange der Hintergrundaufgaben",
        "Wir verwenden Redis für die Warteschlange der Hintergrundaufgaben",
    ),
    (
        "Für die Warteschlange der Hintergrundaufgaben nehmen wir keine Datenbank",
        "Für die Warteschlange der Hintergrundaufgaben nehmen wir eine Datenbank",
    ),
    (
        "Nous n'utilisons pas Redis pour la file d'attente des tâches de fond",
        "Nous utilisons Redis pour la file d'attente des tâches de fond",
    ),
    (
        "Nous déployons jamais le service de facturation le vendredi soir en production",
        "Nous déployons le service de facturation le vendredi soir en production",
    ),
    (
        "Desplegamos nunca el servicio de facturación los viernes por la tarde",
        "Desplegamos el servicio de facturación los viernes por la tarde",
    ),
    (
        "Usiamo non Redis per la coda dei lavori in background del servizio",
        "Usiamo Redis per la coda dei lavori in background del servizio",
    ),
    (
        "Usamos não o Redis para a fila de tarefas em segundo plano do serviço",
        "Usamos o Redis para a fila de tarefas em segundo plano do serviço",
    ),
    (
        "We gebruiken niet Redis voor de wachtrij van de achtergrondtaken",
        "We gebruiken Redis voor de wachtrij van de achtergrondtaken",
    ),
    (
        "Używamy nie Redisa do kolejki zadań w tle dla usługi rozliczeń",
        "Używamy Redisa do kolejki zadań w tle dla usługi rozliczeń",
    ),
    (
        "Мы не используем Redis для очереди фоновых задач сервиса оплаты",
        "Мы используем Redis для очереди фоновых задач сервиса оплаты",
    ),
    (
        "我们 不 使用 Redis 作为 后台 任务 的 队列 服务 在 生产 环境 中 的 计费 系统",
        "我们 使用 Redis 作为 后台 任务 的 队列 服务 在 生产 环境 中 的 计费 系统",
    ),
    (
        "The billing service's background job queue in production: 不使用 Redis",
        "The billing service's background job queue in production: 使用 Redis",
    ),
    (
        "For the billing service's background job queue in production and staging, Redis ない",
        "For the billing service's background job queue in production and staging, Redis",
    ),
    (
        "결제 서비스 의 백그라운드 작업 대기열 과 알림 대기열 과 이메일 대기열 에는 Redis 를 안 쓴다",
        "결제 서비스 의 백그라운드 작업 대기열 과 알림 대기열 과 이메일 대기열 에는 Redis 를 쓴다",
    ),
    (
        "ระบบคิวงานเบื้องหลัง ของ บริการ เรียกเก็บเงิน ใน การผลิต ไม่ ใช้ Redis",
        "ระบบคิวงานเบื้องหลัง ของ บริการ เรียกเก็บเงิน ใน การผลิต ใช้ Redis",
    ),
    (
        "बिलिंग सेवा की बैकग्राउंड जॉब कतार के लिए प्रोडक्शन में Redis नहीं चाहिए",
        "बिलिंग सेवा की बैकग्राउंड जॉब कतार के लिए प्रोडक्शन में Redis चाहिए",
    ),
]
# Pairs that differ in case, spacing, punctuation (of any script) or an emoji's presentation only.
COPIES = [
    ("Deploy ✅", "deploy ✅!"),
    ("For the payments API use → v2 of the client", "for the payments API, use → v2 of the client."),
    ("Set the price of the team plan to €10 per seat", "Set the price of the team plan to €10 per seat…"),
    ("Release status: deploy ✅", "Release status: deploy ✅\ufe0f"),
    ("Use `uv` for every Python install in the monorepo", "Use uv for every Python install in the monorepo"),
    (
        "Wir verwenden Redis nicht für die Warteschlange der Hintergrundaufgaben",
        "wir verwenden Redis nicht für die Warteschlange der Hintergrundaufgaben!",
    ),
    (
        "Nous n'utilisons pas Redis pour la file d'attente des tâches de fond",
        "Nous n’utilisons pas Redis pour la file d’attente des tâches de fond.",
    ),
    ("我们不使用Redis作为后台任务的队列服务", "我们不使用Redis作为后台任务的队列服务。"),
    ("¿Usamos Redis para la cola de tareas en segundo plano?", "Usamos Redis para la cola de tareas en segundo plano"),
]


@pytest.fixture
def space(user, settings):
    settings.EMBEDDINGS_PROVIDER = "none"
    return space_ensure_personal(user=user)


def pair_groups(space, one: str, other: str) -> list[set]:
    first = decision_create(space=space, decision=one, product_name="Atlas")
    Decision.objects.create(space=space, product=first.product, decision=other, reasoning="copy")
    with transaction.atomic():
        return steps._duplicate_groups(space=space, product_id=None)


def alike(one: str, other: str) -> bool:
    """Whether step 2 looks at the pair at all: the same normalised text, or trigram similarity ≥ 0.9."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {steps.NORMALISED.format(col='a')} = {steps.NORMALISED.format(col='b')}, similarity(a, b)"
            " FROM (SELECT %s::text AS a, %s::text AS b) pair",
            [one, other],
        )
        same, similarity = cursor.fetchone()
    return same or similarity >= steps.NEAR_DUPLICATE_SIMILARITY


@pytest.mark.parametrize(("one", "other"), REVISIONS)
def test_a_symbol_or_a_negation_in_any_language_makes_a_revision(space, one, other):
    assert alike(one, other)  # otherwise the pair would say nothing
    assert pair_groups(space, one, other) == []
    words = steps.revision_words(one), steps.revision_words(other)
    assert steps.revision_marks(one) != steps.revision_marks(other) or steps.is_revision(*words)


@pytest.mark.parametrize(("one", "other"), COPIES)
def test_case_spacing_and_punctuation_of_any_script_still_make_a_copy(space, one, other):
    assert len(pair_groups(space, one, other)) == 1
    assert steps.revision_marks(one) == steps.revision_marks(other)
    assert not steps.is_revision(steps.revision_words(one), steps.revision_words(other))


def test_symbols_are_words_and_punctuation_is_not():
    assert steps.revision_words("Use → v2, not ← v1!") == ("use", "→", "v", "2", steps.NEGATED, "←", "v", "1")
    assert steps.revision_words("Deploy ✅\ufe0f (done).") == ("deploy", "✅", "done")
    assert steps.revision_words("«Keine» Änderung…") == (steps.NEGATED, "änderung")


def test_a_run_keeps_a_revision_marked_by_a_symbol_apart(space):
    done = decision_create(space=space, decision="Deploy ✅", product_name="Atlas")
    failed = decision_create(space=space, decision="Deploy ❌", product_name="Atlas")
    copy = decision_create(space=space, decision="deploy ✅.", product_name="Atlas")
    job, _ = consolidation_job_request(space=space)
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"
    job.refresh_from_db()
    assert job.stats["decisions_merged"] == 1
    current = set(Decision.objects.filter(superseded_by__isnull=True).values_list("pk", flat=True))
    assert current == {done.pk, failed.pk}
    assert Decision.objects.get(pk=copy.pk).superseded_by_id == done.pk
