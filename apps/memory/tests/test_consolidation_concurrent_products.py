"""A consolidation run racing writers of its space's products, on real concurrent connections."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

from apps.ingest.api.serializers import SignalSerializer
from apps.ingest.models import Signal
from apps.ingest.services import signals_ingest
from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.memory.models import ConsolidationJob
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal
from tests.support.concurrency import on_thread, wait_for_lock_waiters
from tests.support.consolidation import consolidate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]


def send(space, product: str, *signals: dict) -> None:
    checked = []
    for signal in signals:
        serializer = SignalSerializer(data=signal)
        serializer.is_valid(raise_exception=True)
        checked.append(serializer.validated_data)
    signals_ingest(space=space, project_id=product, signals=checked, batch=True)


def test_a_signal_of_a_product_made_while_the_run_waits_for_a_product_lock_waits_for_the_next_run(user):
    space = space_ensure_personal(user=user)
    send(space, "Heavy", {"type": "blocker", "title": "Heavy is slow"})
    heavy = ProductState.objects.get(space=space, name="Heavy")
    job, _ = consolidation_job_request(space=space)
    held, release, outcome = threading.Event(), threading.Event(), {}

    def hold_heavy():  # a write of another request holding the product's row
        with transaction.atomic():
            ProductState.objects.select_for_update().get(pk=heavy.pk)
            held.set()
            release.wait(30)

    holder = on_thread(hold_heavy, outcome, "holder")
    assert held.wait(10)
    runner = on_thread(lambda: consolidation_job_run(job_id=job.pk).outcome, outcome, "run")
    try:
        wait_for_lock_waiters()  # the run's product lock waits for Heavy's row
        # A product made meanwhile is committed after the run's lock statement began.
        send(space, "Fresh", {"type": "blocker", "title": "Fresh is broken"})
    finally:
        release.set()
        holder.join()
        runner.join()

    job.refresh_from_db()
    assert outcome["run"] == "succeeded", job.error
    assert job.stats["signals_applied"] == 1
    assert ProductState.objects.get(pk=heavy.pk).what_is_blocked == ["Heavy is slow"]
    # Fresh's signal waits for the next run, which applies it.
    assert Signal.objects.get(title="Fresh is broken").status == Signal.Status.PENDING
    assert consolidate(space)["signals_applied"] == 1
    assert ProductState.objects.get(space=space, name="Fresh").what_is_blocked == ["Fresh is broken"]
    assert ConsolidationJob.objects.filter(status=ConsolidationJob.Status.FAILED).count() == 0
