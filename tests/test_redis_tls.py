"""A ``rediss://`` Redis (cache and Celery broker) is used only after its certificate is verified.

kombu connects to a ``rediss://`` broker without verifying the certificate unless told otherwise,
and the Redis password then goes to whoever answers. These tests run a real redis-server with TLS
and a certificate from a private CA: untrusted, both the cache and the broker must refuse it;
trusted (``SSL_CERT_FILE``, which OpenSSL's default verify paths read), both must work.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.servers import ROOT, free_port, redis_server_binary

pytestmark = pytest.mark.slow

PASSWORD = "tls-probe-password"

# Runs in `manage.py shell`: one cache round trip and one broker connection, each reported.
PROBE = """
import json
from django.core.cache import cache
from synchronex.celery import app

def attempt(fn):
    try:
        return fn()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

def cache_round_trip():
    cache.set("tls-probe", "ok", 30)
    return cache.get("tls-probe")

def broker_ping():
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        conn.default_channel.client.ping()
    return "ok"

print(json.dumps({"cache": attempt(cache_round_trip), "broker": attempt(broker_ping)}))
"""


def _write_certificates(directory) -> tuple:
    """A private CA and a server certificate for 127.0.0.1 signed by it; returns the PEM paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "synchronex test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@contextlib.contextmanager
def tls_redis(directory):
    """redis-server speaking only TLS, with a password; yields (rediss URL, CA certificate path)."""
    binary = redis_server_binary()
    if binary is None:
        pytest.skip("redis-server is not installed")
    ca, cert, key = _write_certificates(directory)
    port = free_port()
    args = [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
    args += ["--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-auth-clients", "no"]
    args += ["--requirepass", PASSWORD, "--save", "", "--appendonly", "no", "--dir", str(directory)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.skip("this redis-server cannot serve TLS")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("redis-server did not start")
            time.sleep(0.05)
        yield f"rediss://:{PASSWORD}@127.0.0.1:{port}/0", ca
    finally:
        proc.terminate()
        proc.wait(10)


def probe(redis_url: str, extra_env: dict) -> dict:
    drop = ("SSL_CERT_FILE", "SSL_CERT_DIR", "CELERY_BROKER_URL", "SYNCHRONEX_ENV")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    # Never connected to: settings only need a URL so that the embedded server is not started.
    env.update({"DATABASE_URL": "postgres://synchronex@db.invalid:5432/synchronex", "REDIS_URL": redis_url})
    env.update(extra_env)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_an_untrusted_redis_certificate_is_refused_by_cache_and_broker(tmp_path):
    with tls_redis(tmp_path) as (url, _ca):
        outcome = probe(url, {})
    assert "certificate verify failed" in outcome["cache"], outcome
    assert "certificate verify failed" in outcome["broker"], outcome


def test_a_trusted_redis_certificate_serves_cache_and_broker(tmp_path):
    with tls_redis(tmp_path) as (url, ca):
        outcome = probe(url, {"SSL_CERT_FILE": str(ca)})
    assert outcome == {"cache": "ok", "broker": "ok"}
