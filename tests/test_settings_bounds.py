"""Environment values that started and then broke the service later: numbers past what their
consumer takes, and secrets carrying a secrets file's whitespace."""

import pytest

from tests.test_settings import DEV_ENV, run_manage


def _refusal(result, name: str) -> str:
    """The ImproperlyConfigured line of a start refused for ``name``."""
    assert result.returncode != 0, result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured"), result.stderr
    assert name in last, last
    return last


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # Linux takes at most 32767 s, 32767 s and 127 probes: libpq's setsockopt failed, and so did
        # every connection to a database over TCP, while the service started as if nothing was wrong.
        ("DB_KEEPALIVES_IDLE", "32768"),
        ("DB_KEEPALIVES_INTERVAL", "86400"),
        ("DB_KEEPALIVES_COUNT", "128"),
        # Sent to libpq in milliseconds, a C int: "invalid integer value" on every connection.
        ("DB_TCP_USER_TIMEOUT", "2147484"),
        # now + that lifetime is past the year 9999: every token request was a 500 (OverflowError).
        ("OAUTH_ACCESS_TOKEN_SECONDS", "1000000000000"),
        ("WEB_TIMEOUT", "99999999999999999999"),
    ],
)
def test_a_number_past_what_its_consumer_takes_refuses_to_start(name, value):
    result = run_manage("check", env_overrides={**DEV_ENV, name: value})
    assert "at most" in _refusal(result, name)


def test_numbers_at_their_largest_are_accepted():
    env = {
        **DEV_ENV,
        "DB_KEEPALIVES_IDLE": "32767",
        "DB_KEEPALIVES_INTERVAL": "32767",
        "DB_KEEPALIVES_COUNT": "127",
        "DB_TCP_USER_TIMEOUT": "2147483",
        "OAUTH_ACCESS_TOKEN_SECONDS": "2147483647",
    }
    script = (
        "from django.conf import settings as s; o = s.DATABASES['default']['OPTIONS']; "
        "print(o['keepalives_idle'], o['keepalives_count'], o['tcp_user_timeout'])"
    )
    result = run_manage("shell", "-c", script, env_overrides=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "32767 127 2147483000"


def test_an_embedding_input_limit_of_zero_refuses_to_start():
    # fit_to_tokens cut every text to one character and then looped for ever: every search with
    # the openai provider, and every embedding task, hung.
    result = run_manage("check", env_overrides={**DEV_ENV, "EMBEDDINGS_MAX_INPUT_TOKENS": "0"})
    assert "at least 1" in _refusal(result, "EMBEDDINGS_MAX_INPUT_TOKENS")


def test_the_embeddings_api_key_is_read_without_a_secrets_files_newline():
    # Kept verbatim, "Bearer sk-…\n" was no header urllib would send: every embedding call raised
    # a ValueError quoting the header, key included, into the worker's and the web's error logs.
    env = {**DEV_ENV, "EMBEDDINGS_PROVIDER": "openai", "EMBEDDINGS_API_KEY": " sk-test-0123456789\n"}
    result = run_manage(
        "shell", "-c", "from django.conf import settings as s; print(repr(s.EMBEDDINGS_API_KEY))", env_overrides=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "'sk-test-0123456789'"


@pytest.mark.parametrize("inside", ["\n", "\r\n", " ", "\t", "\x7f", "€"])
def test_an_embeddings_api_key_no_header_can_carry_refuses_to_start_without_quoting_it(inside):
    secret = f"sk-test-{inside}0123456789"
    env = {**DEV_ENV, "EMBEDDINGS_PROVIDER": "openai", "EMBEDDINGS_API_KEY": secret}
    result = run_manage("check", env_overrides=env)
    _refusal(result, "EMBEDDINGS_API_KEY")
    assert "0123456789" not in result.stdout + result.stderr


REDIS_BROKER = {"CELERY_BROKER_URL": "redis://broker.internal:6379/1"}


@pytest.mark.parametrize(
    "overrides",
    [
        # Redis delivers again a message unacknowledged this long: a task still running (or held
        # for its retry countdown, up to 10 minutes) ran twice, embedding calls billed twice.
        {"CELERY_VISIBILITY_TIMEOUT": "600"},
        {"CELERY_VISIBILITY_TIMEOUT": "60"},
        {"CONSOLIDATION_TASK_TIME_LIMIT_SECONDS": "3600"},
        {"EMBEDDINGS_TASK_TIME_LIMIT_SECONDS": "3570"},
    ],
)
def test_a_visibility_timeout_a_task_can_outlast_refuses_to_start(overrides):
    result = run_manage("check", env_overrides={**DEV_ENV, **REDIS_BROKER, **overrides})
    assert "must exceed" in _refusal(result, "CELERY_VISIBILITY_TIMEOUT")


def test_a_visibility_timeout_above_every_run_and_countdown_is_accepted():
    env = {
        **DEV_ENV,
        **REDIS_BROKER,
        "CELERY_VISIBILITY_TIMEOUT": "7200",
        "CONSOLIDATION_TASK_TIME_LIMIT_SECONDS": "7000",
    }
    assert run_manage("check", env_overrides=env).returncode == 0
    # The database's broker has no visibility timeout.
    assert (
        run_manage("check", env_overrides={**DEV_ENV, "CONSOLIDATION_TASK_TIME_LIMIT_SECONDS": "7000"}).returncode == 0
    )


@pytest.mark.parametrize(
    ("name", "value"), [("LOGIN_RATE", "0/m"), ("OAUTH_TOKEN_RATE", "00/5m"), ("OAUTH_REGISTER_RATE", "0/h")]
)
def test_a_rate_of_zero_refuses_to_start(name, value):
    # django-ratelimit refuses every request past the count: at 0, every sign-in, token request or
    # registration was RATE_LIMITED, on a service that had started as if nothing was wrong.
    result = run_manage("check", env_overrides={**DEV_ENV, name: value})
    assert repr(value) in _refusal(result, name)
