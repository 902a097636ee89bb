"""Consolidation run in the test's own process, for tests of its rules (no worker)."""

from __future__ import annotations

from apps.memory.consolidation import consolidation_job_request, consolidation_job_run


def consolidate(space) -> dict:
    """Queue a consolidation of ``space``, run it here and return the job's stats. The job is
    published to the test's broker (use the ``broker_on_test_database`` fixture)."""
    job, created = consolidation_job_request(space=space)
    assert created
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"
    job.refresh_from_db()
    return job.stats
