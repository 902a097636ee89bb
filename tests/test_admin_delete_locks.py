"""Admin deletes of users and workspaces while a consolidation or a writer holds the space's rows.

Deleting a user or a workspace cascades into its spaces' decisions, product states, kernel…
Django deletes decisions before product states; consolidation locks product states first, then
decisions. A delete that met a running consolidation closed that cycle and was PostgreSQL's
deadlock victim: a 500 page and the user still there. Now the delete takes the space's
consolidation lock and its product rows first (``apps.scopes.services.spaces_lock_for_delete``),
a lock cycle it still meets is run again (``retry_deadlocks``), and one that outlasts the retries
is an error message with nothing deleted. Deleting decisions or signals takes their product rows
first, as every writer of theirs does (``decisions_delete``, ``signals_delete``). A delete whose
COMMIT is refused by rows a member wrote after its collector read them (the keys are checked then)
is run again the same way, and takes them.
"""

from __future__ import annotations

import logging
import threading

import pytest
from django.contrib.messages import get_messages
from django.db import transaction
from django.db.models.deletion import Collector
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.services import users_delete
from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.identity.models import Kernel
from apps.identity.services import kernel_update
from apps.ingest.models import Signal
from apps.memory.consolidation import consolidation_job_run
from apps.memory.consolidation_steps import lock_space
from apps.memory.models import ConsolidationJob
from apps.products.models import ProductState
from apps.products.services import products_ensure
from apps.scopes.models import Space
from apps.scopes.services import space_ensure_personal, workspace_create
from synchronex.db import deadlocks
from tests.support.concurrency import on_thread, wait_for_lock_waiters

pytestmark = pytest.mark.django_db(transaction=True)

RETRIED = "was a deadlock's victim"
# The other session waits this long before its own deadlock check, so the delete (waiting first
# and checking after the server's 1 s) is always the victim PostgreSQL picks.
PATIENT = "SET LOCAL deadlock_timeout = '10s'"


def _memory(space: Space) -> None:
    """A product with decisions (one superseding another), a kernel and a running job."""
    first = decision_create(space=space, decision="Use Postgres", product_name="Atlas")
    decision_create(space=space, decision="Use Postgres 18", product_name="Atlas", supersedes=first.id)
    for n in range(8):
        decision_create(space=space, decision=f"Decision {n}", product_name="Atlas" if n % 2 else "Borealis")
    kernel_update(space=space, changes={"constraints": {"never": ["Guess"]}}, actor="test")
    ConsolidationJob.objects.create(space=space, status=ConsolidationJob.Status.RUNNING, attempts=1)


def _gone(space_ids) -> list[str]:
    """The models that still hold rows of these spaces."""
    models = (Space, ProductState, Decision, Kernel, ConsolidationJob)
    field = {Space: "pk__in"}
    return [m.__name__ for m in models if m.objects.filter(**{field.get(m, "space_id__in"): space_ids}).exists()]


def _consolidating(space, locked: threading.Event, release: threading.Event, rows=None):
    """Consolidation's locks in the order steps 1–4 take them: the space's consolidation lock, its
    product rows, then (once released) the decisions it merges (or ``rows``, the pending signals
    it applies, say); returns how many of those it found."""
    rows = Decision.objects.filter(space=space).order_by("created_at", "id") if rows is None else rows

    def run():
        with transaction.atomic():
            with transaction.get_connection().cursor() as cursor:
                cursor.execute(PATIENT)
            lock_space(space)
            list(ProductState.objects.select_for_update().filter(space=space).order_by("id"))
            locked.set()
            release.wait(10)
            return len(rows.select_for_update())

    return run


def _out_of_order(space, decision_id, locked: threading.Event, release: threading.Event, model=Decision):
    """A decision's row (or another ``model``'s), then (once released) its product rows: a cycle
    no lock order of the delete's can avoid, only a rerun settles."""

    def run():
        with transaction.atomic():
            with transaction.get_connection().cursor() as cursor:
                cursor.execute(PATIENT)
            model.objects.select_for_update().filter(pk=decision_id).get()
            locked.set()
            release.wait(10)
            list(ProductState.objects.select_for_update().filter(space=space).order_by("id"))
            return "done"

    return run


@pytest.fixture
def target(request, make_user):
    """``(admin URL, POST data, the space a consolidation holds, ids of the spaces the delete
    takes, the user or workspace deleted)`` for each way the admin deletes a space's memory."""
    route = request.param
    owner = make_user(tier="team")
    personal = space_ensure_personal(user=owner)
    _memory(personal)
    if route == "user":
        return reverse("admin:accounts_user_delete", args=[owner.pk]), {"post": "yes"}, personal, [personal.pk], owner
    if route == "selected users":
        other = make_user(tier="pro")
        _memory(space_ensure_personal(user=other))
        data = {"action": "delete_selected", "_selected_action": [str(owner.pk), str(other.pk)], "post": "yes"}
        spaces = list(Space.objects.filter(owner__in=[owner, other]).values_list("pk", flat=True))
        return reverse("admin:accounts_user_changelist"), data, personal, spaces, owner
    workspace = workspace_create(owner=owner, name="Team", kind=Space.Kind.TEAM)
    _memory(workspace)
    if route == "workspace":
        url = reverse("admin:scopes_space_delete", args=[workspace.pk])
        return url, {"post": "yes"}, workspace, [workspace.pk], workspace
    data = {"action": "delete_selected", "_selected_action": [str(workspace.pk)], "post": "yes"}
    return reverse("admin:scopes_space_changelist"), data, workspace, [workspace.pk], workspace


ROUTES = ["user", "selected users", "workspace", "selected workspaces"]


@pytest.mark.parametrize("target", ROUTES, indirect=True)
def test_a_delete_waits_for_a_running_consolidation_and_takes_everything(staff, target, caplog):
    url, data, space, space_ids, deleted = target
    locked, release = threading.Event(), threading.Event()
    outcome: dict = {}
    caplog.set_level(logging.WARNING, logger="synchronex.db.deadlocks")

    consolidation = on_thread(_consolidating(space, locked, release), outcome, "consolidation")
    assert locked.wait(10)
    admin = on_thread(lambda: staff.post(url, data), outcome, "delete")
    wait_for_lock_waiters()  # the delete waits for the consolidation
    release.set()
    consolidation.join(15), admin.join(15)

    assert outcome["consolidation"] == 10, outcome["consolidation"]
    response = outcome["delete"]
    assert not isinstance(response, Exception), response
    assert response.status_code == 302
    assert not [m for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    assert RETRIED not in caplog.text  # no lock cycle: the delete simply waited its turn
    assert not type(deleted).objects.filter(pk=deleted.pk).exists()
    assert _gone(space_ids) == []


@pytest.mark.parametrize("target", ["user", "selected users"], indirect=True)
def test_a_delete_that_is_a_deadlocks_victim_runs_again(staff, target, caplog):
    url, data, space, space_ids, deleted = target
    locked, release = threading.Event(), threading.Event()
    outcome: dict = {}
    caplog.set_level(logging.WARNING, logger="synchronex.db.deadlocks")
    decision = Decision.objects.filter(space=space).order_by("created_at").first()

    writer = on_thread(_out_of_order(space, decision.pk, locked, release), outcome, "writer")
    assert locked.wait(10)
    admin = on_thread(lambda: staff.post(url, data), outcome, "delete")
    wait_for_lock_waiters()  # the delete holds the product rows and waits for the decision's
    release.set()
    writer.join(15), admin.join(15)

    assert outcome["writer"] == "done"
    response = outcome["delete"]
    assert not isinstance(response, Exception), response
    assert response.status_code == 302
    assert caplog.text.count(RETRIED) == 1
    assert not User.objects.filter(pk=deleted.pk).exists()
    assert _gone(space_ids) == []


@pytest.mark.parametrize("target", ["user", "selected users"], indirect=True)
def test_a_deadlock_outlasting_the_retries_is_a_message_and_deletes_nothing(staff, target, monkeypatch):
    url, data, space, space_ids, deleted = target
    monkeypatch.setattr(deadlocks, "ATTEMPTS", 1)  # no rerun: the one attempt is the victim
    locked, release = threading.Event(), threading.Event()
    outcome: dict = {}
    decision = Decision.objects.filter(space=space).order_by("created_at").first()

    writer = on_thread(_out_of_order(space, decision.pk, locked, release), outcome, "writer")
    assert locked.wait(10)
    admin = on_thread(lambda: staff.post(url, data), outcome, "delete")
    wait_for_lock_waiters()
    release.set()
    writer.join(15), admin.join(15)

    assert outcome["writer"] == "done"
    response = outcome["delete"]
    assert not isinstance(response, Exception), response
    assert response.status_code == 302  # back to where the delete was asked for, not a 500
    errors = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    assert len(errors) == 1 and "Nothing was deleted" in errors[0], errors
    assert User.objects.filter(pk=deleted.pk).exists()
    assert sorted(_gone(space_ids)) == sorted(["Space", "ProductState", "Decision", "Kernel", "ConsolidationJob"])
    assert Decision.objects.filter(space_id__in=space_ids).count() == 10 * len(space_ids)


def _paused_after_collecting(monkeypatch, collected: threading.Event, release: threading.Event) -> None:
    """The delete's first run pauses once between collecting its rows and deleting them."""
    delete = Collector.delete
    paused = []

    def pausing(self):
        if not paused:
            paused.append(True)
            collected.set()
            release.wait(10)
        return delete(self)

    monkeypatch.setattr(Collector, "delete", pausing)


def _written_meanwhile(space) -> str:
    """Rows a member writes into the space while the delete runs (none waits on the delete's locks):
    a new product, as a decision or a signal naming it makes, and a finished consolidation job."""
    products_ensure(space=space, names=["Nova"])
    ConsolidationJob.objects.create(space=space, status=ConsolidationJob.Status.SUCCEEDED)
    return "written"


@pytest.mark.parametrize("target", ROUTES, indirect=True)
def test_a_delete_that_meets_rows_written_after_it_collected_runs_again_and_takes_them(
    staff, target, monkeypatch, caplog
):
    url, data, space, space_ids, deleted = target
    collected, release = threading.Event(), threading.Event()
    outcome: dict = {}
    caplog.set_level(logging.WARNING, logger="synchronex.db.deadlocks")
    _paused_after_collecting(monkeypatch, collected, release)

    admin = on_thread(lambda: staff.post(url, data), outcome, "delete")
    assert collected.wait(10)
    writer = on_thread(lambda: _written_meanwhile(space), outcome, "writer")
    writer.join(15)  # committed before the delete commits: its collector did not see the rows
    release.set()
    admin.join(15)

    assert outcome["writer"] == "written"
    response = outcome["delete"]
    assert not isinstance(response, Exception), response  # was an IntegrityError at COMMIT: a 500 page
    assert response.status_code == 302
    said = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert len(said) == 1 and said[0][0] == "success", said  # the failed run's message is not repeated
    assert "is still referenced" in caplog.text  # the first run was refused at COMMIT, then run again
    assert not type(deleted).objects.filter(pk=deleted.pk).exists()
    assert _gone(space_ids) == []


@pytest.mark.parametrize("target", ["workspace", "selected users"], indirect=True)
def test_rows_written_after_the_last_run_collected_are_a_message_and_nothing_is_deleted(staff, target, monkeypatch):
    url, data, space, space_ids, deleted = target
    monkeypatch.setattr(deadlocks, "ATTEMPTS", 1)  # no rerun
    collected, release = threading.Event(), threading.Event()
    outcome: dict = {}
    _paused_after_collecting(monkeypatch, collected, release)

    admin = on_thread(lambda: staff.post(url, data), outcome, "delete")
    assert collected.wait(10)
    writer = on_thread(lambda: _written_meanwhile(space), outcome, "writer")
    writer.join(15)
    release.set()
    admin.join(15)

    response = outcome["delete"]
    assert not isinstance(response, Exception), response
    assert response.status_code == 302
    said = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert len(said) == 1 and said[0][0] == "error" and "Nothing was deleted" in said[0][1], said
    assert type(deleted).objects.filter(pk=deleted.pk).exists()
    assert ProductState.objects.filter(space=space, name="Nova").exists()
    assert Decision.objects.filter(space_id__in=space_ids).count() == 10 * len(space_ids)


def test_a_consolidation_that_waited_on_a_delete_finds_its_space_gone(user):
    space = space_ensure_personal(user=user)
    _memory(space)
    job = ConsolidationJob.objects.get(space=space)
    ConsolidationJob.objects.filter(pk=job.pk).update(status=ConsolidationJob.Status.QUEUED, attempts=0)
    deleted, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def delete():
        with transaction.atomic():  # holds the delete's locks until released
            users_delete(users=User.objects.filter(pk=user.pk))
            deleted.set()
            release.wait(10)

    deleter = on_thread(delete, outcome, "delete")
    assert deleted.wait(10)
    worker = on_thread(lambda: consolidation_job_run(job_id=job.pk), outcome, "consolidation")
    wait_for_lock_waiters()  # the run's claim waits on its job's row, which the delete holds
    release.set()
    deleter.join(15), worker.join(15)

    assert outcome["delete"] is None, outcome["delete"]
    assert outcome["consolidation"].outcome == "done", outcome["consolidation"]  # its job went with the space
    assert _gone([space.pk]) == []


def _note(space, product_name: str, title: str, **fields) -> Signal:
    product = ProductState.objects.get(space=space, name=product_name)
    return Signal.objects.create(
        space=space, product=product, type="note", title=title, occurred_at=timezone.now(), **fields
    )


@pytest.fixture
def rows(request, make_user):
    """``(admin URL, POST data, the space, what a consolidation locks after its product rows, ids
    of the rows the delete takes)`` for each way the admin deletes decisions or signals."""
    route = request.param
    space = space_ensure_personal(user=make_user())
    _memory(space)
    for n in range(4):
        _note(space, "Atlas" if n % 2 else "Borealis", f"Note {n}")
    decisions = Decision.objects.filter(space=space).order_by("created_at", "id")
    pending = Signal.objects.filter(space=space, status=Signal.Status.PENDING).order_by("occurred_at", "id")
    if route == "decision":  # the successor: the decision it superseded is current again
        picked, locked = [decisions.get(decision="Use Postgres 18").pk], decisions
        url, data = reverse("admin:decisions_decision_delete", args=picked), {"post": "yes"}
        return url, data, space, locked, picked
    if route == "selected decisions":  # two products' decisions, one of them superseded
        picked = [decisions.get(decision="Use Postgres").pk, decisions.get(decision="Decision 0").pk]
        url, locked = reverse("admin:decisions_decision_changelist"), decisions
    elif route == "signal":
        picked = [pending.first().pk]
        url, data = reverse("admin:ingest_signal_delete", args=picked), {"post": "yes"}
        return url, data, space, pending, picked
    else:
        picked, locked = list(pending.values_list("pk", flat=True)), pending
        url = reverse("admin:ingest_signal_changelist")
    data = {"action": "delete_selected", "_selected_action": [str(pk) for pk in picked], "post": "yes"}
    return url, data, space, locked, picked


ROW_ROUTES = ["decision", "selected decisions", "signal", "selected signals"]


@pytest.mark.parametrize("rows", ROW_ROUTES, indirect=True)
def test_a_delete_of_decisions_or_signals_waits_for_a_running_consolidation(staff, rows, caplog):
    url, data, space, locked_later, picked = rows
    model = locked_later.model
    before = locked_later.count()
    locked, release = threading.Event(), threading.Event()
    outcome: dict = {}
    caplog.set_level(logging.WARNING, logger="synchronex.db.deadlocks")

    consolidation = on_thread(_consolidating(space, locked, release, rows=locked_later), outcome, "consolidation")
    assert locked.wait(10)
    admin = on_thread(lambda: staff.post(url, data), outcome, "delete")
    wait_for_lock_waiters()  # the delete waits for the consolidation's product rows
    release.set()
    consolidation.join(15), admin.join(15)

    assert outcome["consolidation"] == before  # it found every row: the delete had touched none
    response = outcome["delete"]
    assert not isinstance(response, Exception), response
    assert response.status_code == 302
    assert not [m for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    assert RETRIED not in caplog.text
    assert not model.objects.filter(pk__in=picked).exists()
    assert locked_later.count() == before - len(picked)


@pytest.mark.parametrize("rows", ROW_ROUTES, indirect=True)
def test_a_delete_of_decisions_or_signals_that_is_a_deadlocks_victim_runs_again(staff, rows, caplog):
    url, data, space, locked_later, picked = rows
    model = locked_later.model
    locked, release = threading.Event(), threading.Event()
    outcome: dict = {}
    caplog.set_level(logging.WARNING, logger="synchronex.db.deadlocks")

    writer = on_thread(_out_of_order(space, picked[0], locked, release, model=model), outcome, "writer")
    assert locked.wait(10)
    admin = on_thread(lambda: staff.post(url, data), outcome, "delete")
    wait_for_lock_waiters()  # the delete holds the product rows and waits for the writer's row
    release.set()
    writer.join(15), admin.join(15)

    assert outcome["writer"] == "done"
    response = outcome["delete"]
    assert not isinstance(response, Exception), response
    assert response.status_code == 302
    assert caplog.text.count(RETRIED) == 1
    assert not model.objects.filter(pk__in=picked).exists()


@pytest.mark.parametrize("route", ["page", "selected"])
def test_an_admin_decision_delete_leaves_no_dangling_link_and_takes_its_signals(staff, user, route):
    space = space_ensure_personal(user=user)
    oldest = decision_create(space=space, decision="Use Postgres", product_name="Atlas")
    middle = decision_create(space=space, decision="Use Postgres 17", product_name="Atlas", supersedes=oldest.id)
    newest = decision_create(space=space, decision="Use Postgres 18", product_name="Borealis", supersedes=middle.id)
    created = _note(space, "Atlas", middle.decision, status=Signal.Status.APPLIED, applied_at=timezone.now())
    Signal.objects.filter(pk=created.pk).update(type="decision", decision=middle)
    other = _note(space, "Atlas", "Unrelated")

    if route == "page":
        response = staff.post(reverse("admin:decisions_decision_delete", args=[middle.pk]), {"post": "yes"})
    else:
        data = {"action": "delete_selected", "_selected_action": [str(middle.pk)], "post": "yes"}
        response = staff.post(reverse("admin:decisions_decision_changelist"), data)

    assert response.status_code == 302
    assert not Decision.objects.filter(pk=middle.pk).exists()
    oldest.refresh_from_db(), newest.refresh_from_db()
    assert newest.supersedes_id == oldest.pk  # spliced, as by the API's delete: not current again
    assert oldest.superseded_by_id == newest.pk
    assert not Signal.objects.filter(pk=created.pk).exists()  # it held the decision's text
    assert Signal.objects.filter(pk=other.pk).exists()


@pytest.mark.parametrize("route", ["page", "selected"])
def test_an_admin_decision_delete_takes_the_copies_consolidation_merged_into_it(staff, user, route):
    space = space_ensure_personal(user=user)
    survivor, *copies = (decision_create(space=space, decision="Use Postgres", product_name="Atlas") for _ in range(3))
    job = ConsolidationJob.objects.create(space=space)
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"
    kept = decision_create(space=space, decision="Use Redis", product_name="Atlas")

    if route == "page":
        confirm = staff.get(reverse("admin:decisions_decision_delete", args=[survivor.pk]))
        assert "Decisions: 2" in confirm.content.decode()  # the copies, named on the confirmation
        response = staff.post(reverse("admin:decisions_decision_delete", args=[survivor.pk]), {"post": "yes"})
    else:
        data = {"action": "delete_selected", "_selected_action": [str(survivor.pk)], "post": "yes"}
        response = staff.post(reverse("admin:decisions_decision_changelist"), data)

    assert response.status_code == 302
    assert list(Decision.objects.filter(space=space).values_list("pk", flat=True)) == [kept.pk]
