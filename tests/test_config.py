"""Settings from the environment: defaults, and a clear error for a value Planner can't use."""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.access.secrets import SecretKeyError, decrypt, encrypt, new_secret_key, reencrypt
from core.config import Settings, is_own_variable
from core.errors import ConfigError
from queueing import make_huey
from support.processes import ROOT, free_port
from support.waiting import wait_until


def test_defaults_when_nothing_is_set():
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///var/planner.db"
    assert settings.queue_url == "sqlite:///var/queue.db"
    assert (settings.timezone, settings.max_retries, settings.retry_base_seconds) == ("UTC", 3, 30)
    assert settings.misfire_grace_seconds == 300


def test_values_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "sqlite:////tmp/p.db",
            "PLANNER_TIMEZONE": "Europe/Berlin",
            "PLANNER_MAX_RETRIES": "5",
            "PLANNER_RETRY_BASE_SECONDS": "2.5",
            "PLANNER_MISFIRE_GRACE_SECONDS": "0",
        }
    )
    assert settings.database_url == "sqlite:////tmp/p.db"
    assert (settings.timezone, settings.max_retries, settings.retry_base_seconds) == (
        "Europe/Berlin", 5, 2.5
    )  # fmt: skip
    assert settings.misfire_grace_seconds == 0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PLANNER_TIMEZONE", "Mars/Base", "not a known IANA timezone"),
        ("PLANNER_MAX_RETRIES", "three", "must be a whole number"),
        ("PLANNER_MAX_RETRIES", "-1", "must be at least 0"),
        ("PLANNER_RETRY_BASE_SECONDS", "0", "must be greater than 0"),
        ("PLANNER_HTTP_TIMEOUT_SECONDS", "soon", "must be a number"),
        ("PLANNER_MISFIRE_GRACE_SECONDS", "1.5", "must be a whole number"),
        ("PLANNER_MAX_IN_FLIGHT", "99999999", "must be at most 100,000, got 99999999"),
        ("PLANNER_MAX_RETRIES", "1000", "must be at most 100, got 1000"),
        ("PLANNER_INBOX_DAYS", "10000000", "must be at most 36,500, got 10000000"),
        ("PLANNER_HTTP_TIMEOUT_SECONDS", "1e300", "must be at most 86,400, got 1e+300"),
        ("PLANNER_HTTP_TIMEOUT_SECONDS", "nan", "must be greater than 0, got nan"),
        ("PLANNER_LEASE_MARGIN_SECONDS", "inf", "must be at most 86,400, got inf"),
        ("PLANNER_MISFIRE_GRACE_SECONDS", "99999999999", "must be at most 31,536,000"),
        (
            "PLANNER_EMBEDDED_WORKER",
            "sometimes",
            "must be one of 1/0, true/false, yes/no, on/off; got 'sometimes'",
        ),
        ("DATABASE_URL", "planner.db", "DATABASE_URL is not a database URL; use sqlite:///"),
        ("PLANNER_OUTBOUND_ALLOW", "10.0.0.0/8, http://ollama.internal",
         "PLANNER_OUTBOUND_ALLOW lists 'http://ollama.internal', which is neither a network "
         "(10.0.0.0/8, 192.168.1.20) nor a host name (ollama.internal, *.example.com); "
         "separate them with commas, without http:// or ports"),
        ("PLANNER_OUTBOUND_ALLOW", "ollama.internal:11434", "lists 'ollama.internal:11434'"),
        ("PLANNER_OUTBOUND_ALLOW", "10.0.0.0/33", "lists '10.0.0.0/33'"),
        ("PLANNER_OUTBOUND_ALLOW", "*", "lists '*'"),
        ("PLANNER_OUTBOUND_ALLOW", "169.254.169.254",
         "PLANNER_OUTBOUND_ALLOW lists 169.254.169.254, but Planner never calls link-local or "
         "cloud metadata addresses; take it out"),
        ("PLANNER_OUTBOUND_ALLOW", "fe80::/64", "never calls link-local"),
        ("PLANNER_OUTBOUND_ALLOW", "Metadata.Google.Internal", "never calls link-local"),
    ],
)  # fmt: skip
def test_unusable_values_are_refused_by_name(name, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as refused:
        Settings.from_env({name: value})
    assert name in str(refused.value)
    assert "\n" not in str(refused.value)


def test_without_an_allow_list_calls_may_go_anywhere_but_the_never_called_addresses():
    assert Settings.from_env({}).outbound_allow.everything
    assert Settings.from_env({"PLANNER_OUTBOUND_ALLOW": " , "}).outbound_allow.everything


def test_the_allow_list_holds_networks_and_host_names():
    allowed = Settings.from_env(
        {"PLANNER_OUTBOUND_ALLOW": " 10.0.0.0/8, 192.168.1.20 ,[fd12::]/64, Ollama.Internal., "
                                   "*.agents.example.com,"}
    ).outbound_allow  # fmt: skip
    assert str(allowed) == (
        "10.0.0.0/8,192.168.1.20/32,fd12::/64,ollama.internal,*.agents.example.com"
    )
    assert allowed.admits_address(IPv4Address("10.1.2.3"))
    assert not allowed.admits_address(IPv4Address("192.168.1.21"))
    assert allowed.admits_name("OLLAMA.internal") and allowed.admits_name("eu.agents.example.com")
    assert not allowed.admits_name("agents.example.com")
    # A network that only overlaps the never-called addresses is taken; they stay refused.
    assert str(Settings.from_env({"PLANNER_OUTBOUND_ALLOW": "0.0.0.0/0"}).outbound_allow)


POSTGRES = "postgres://planner:secret@db.internal/planner"
ONRENDER = "https://planner.onrender.com"


def test_with_nothing_set_no_public_address_and_the_worker_is_embedded():
    settings = Settings.from_env({})
    assert (settings.public_base_url, settings.webhook_url) == ("", "")
    assert settings.embedded_worker is True


@pytest.mark.parametrize(
    ("env", "queue_url"),
    [
        ({"REDIS_URL": "rediss://:pw@ec2.example.com:6380"}, "rediss://:pw@ec2.example.com:6380"),
        ({"QUEUE_URL": "redis://queue:6379/0", "REDIS_URL": "redis://other:6379"}, "redis://queue:6379/0"),
        ({"QUEUE_URL": " ", "REDIS_URL": "redis://red:6379"}, "redis://red:6379"),
        ({}, "sqlite:///var/queue.db"),
    ],
)  # fmt: skip
def test_the_queue_is_queue_url_else_the_redis_add_ons_redis_url(env, queue_url):
    assert Settings.from_env(env).queue_url == queue_url


@pytest.mark.parametrize(
    ("env", "address"),
    [
        ({"PUBLIC_BASE_URL": "https://planner.example.com//", "RENDER_EXTERNAL_URL": ONRENDER},
         "https://planner.example.com"),
        ({"RENDER": "true", "DATABASE_URL": POSTGRES, "RENDER_EXTERNAL_URL": f"{ONRENDER}/"},
         ONRENDER),
        ({"RAILWAY_PUBLIC_DOMAIN": "planner.up.railway.app"}, "https://planner.up.railway.app"),
        ({"HEROKU_APP_DEFAULT_DOMAIN_NAME": "planner-1a2b.herokuapp.com"}, "https://planner-1a2b.herokuapp.com"),
    ],
)  # fmt: skip
def test_the_public_address_is_the_one_the_platform_gives(env, address):
    settings = Settings.from_env(env)
    assert settings.public_base_url == address
    assert settings.webhook_url == f"{address}/webhooks/composio"


@pytest.mark.parametrize(
    ("raw", "embedded"),
    [("1", True), ("TRUE", True), ("Yes", True), (" on ", True),
     ("0", False), ("false", False), ("NO", False), ("Off", False)],
)  # fmt: skip
def test_the_embedded_worker_is_turned_on_and_off_in_words_or_digits(raw, embedded):
    assert Settings.from_env({"PLANNER_EMBEDDED_WORKER": raw}).embedded_worker is embedded


@pytest.mark.parametrize(
    "name", ["REDIS_URL", "redis_url", "QUEUE_URL", "DATABASE_URL", "PLANNER_OUTBOUND_ALLOW"]
)
def test_no_agent_key_is_read_from_a_variable_holding_planners_addresses(name):
    assert is_own_variable(name)


# No folder below the root is a mount point on this path (it does not exist).
NOT_ON_A_DISK = "sqlite:////planner-not-mounted/planner.db"


@pytest.mark.parametrize(
    ("platform", "env"),
    [
        ("Heroku", {"DYNO": "web.1"}),
        ("Heroku", {"DYNO": "worker.2", "DATABASE_URL": "sqlite:////var/data/planner.db"}),
        ("Render", {"RENDER": "true", "DATABASE_URL": NOT_ON_A_DISK}),
        ("Railway", {"RAILWAY_PROJECT_ID": "5e1f", "DATABASE_URL": NOT_ON_A_DISK}),
        ("Railway", {"RAILWAY_ENVIRONMENT": "production", "RAILWAY_VOLUME_MOUNT_PATH": "/data",
                     "DATABASE_URL": NOT_ON_A_DISK}),
    ],
)  # fmt: skip
def test_sqlite_is_refused_where_processes_share_no_lasting_disk(platform, env):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    message = str(refused.value)
    assert message.startswith(f"DATABASE_URL is SQLite, but on {platform} ")
    assert "attach PostgreSQL" in message and message.endswith("and restart.")
    assert "\n" not in message and "queue" not in message.lower()


def a_mount_point() -> Path:
    """A folder other than the root with a file system mounted on it (as a Render disk is)."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        folder = Path(line.split()[1])
        if folder != Path("/") and os.path.ismount(folder):
            return folder
    pytest.skip("no file system is mounted below the root here")


def test_sqlite_on_a_lasting_disk_and_a_sqlite_queue_are_accepted(tmp_path):
    volume = tmp_path / "volume"
    railway = {"RAILWAY_PROJECT_ID": "5e1f", "RAILWAY_VOLUME_MOUNT_PATH": str(volume)}
    on_volume = f"sqlite:///{volume}/planner.db"
    assert Settings.from_env(railway | {"DATABASE_URL": on_volume}).database_url == on_volume
    on_disk = f"sqlite:///{a_mount_point()}/planner.db"
    render = {"RENDER": "true", "DATABASE_URL": on_disk}
    assert Settings.from_env(render).database_url == on_disk
    heroku = Settings.from_env({"DYNO": "web.1", "DATABASE_URL": POSTGRES})
    assert heroku.queue_url == "sqlite:///var/queue.db"  # queue messages are only hints


PLATFORM_KEYS = {
    "heroku-secret-generator": os.urandom(32).hex(),
    "render-generate-value": base64.b64encode(os.urandom(32)).decode(),
    "phrase": "a long passphrase a person typed in",
    "minimum": "k" * 32,
}


@pytest.mark.parametrize("key", PLATFORM_KEYS.values(), ids=PLATFORM_KEYS.keys())
def test_a_platform_generated_secret_key_seals_and_opens(key):
    settings = Settings.from_env({"PLANNER_SECRET_KEY": key})
    sealed = encrypt(settings, "sk-agent")
    assert decrypt(settings, sealed) == "sk-agent"
    with pytest.raises(SecretKeyError, match="cannot be opened"):
        decrypt(replace(settings, secret_key=new_secret_key()), sealed)


def test_every_process_derives_the_same_key_from_a_hex_key():
    key = os.urandom(32).hex()
    code = (
        "from core.config import Settings; from core.access.secrets import encrypt; "
        "print(encrypt(Settings.from_env(), 'sk-agent'))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=os.environ | {"PLANNER_SECRET_KEY": key},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert decrypt(Settings.from_env({"PLANNER_SECRET_KEY": key}), other.stdout.strip()) == (
        "sk-agent"
    )


def test_a_fernet_key_still_opens_what_it_sealed():
    key = new_secret_key()
    sealed = Fernet(key).encrypt(b"sk-agent").decode()  # as Planner sealed before derivation
    assert decrypt(Settings(secret_key=key), sealed) == "sk-agent"


def test_rotating_from_a_fernet_key_to_a_hex_key():
    old, new = new_secret_key(), os.urandom(32).hex()
    sealed = encrypt(Settings(secret_key=old), "sk-agent")
    rotating = Settings(secret_key=f"{new}, {old}")
    assert decrypt(rotating, sealed) == "sk-agent"
    resealed = reencrypt(rotating, sealed)
    assert decrypt(Settings(secret_key=new), resealed) == "sk-agent"
    with pytest.raises(SecretKeyError, match="cannot be opened"):
        decrypt(Settings(secret_key=old), resealed)


@pytest.mark.parametrize(
    "key", ["hunter2", "k" * 31, "ab" * 32 + ",short"], ids=["word", "31", "second"]
)
def test_a_short_secret_key_is_refused_in_one_sentence(key):
    with pytest.raises(SecretKeyError) as refused:
        encrypt(Settings(secret_key=key), "sk-agent")
    assert str(refused.value) == (
        "PLANNER_SECRET_KEY must be at least 32 characters long (or a key from "
        "`planner secrets new-key`)."
    )


def redis_without_tls(folder: Path) -> str:
    """Why this machine cannot run a redis-server with TLS ("" when it can)."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    probe = subprocess.run(
        ["redis-server", "--port", "0", "--tls-port", "0"],
        cwd=folder, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if "not listen anywhere" in probe.stdout:  # it knows --tls-port
        return ""
    last_line = probe.stdout.strip().rpartition("\n")[2]
    return f"redis-server has no TLS: {last_line}"


LOOPBACK = IPv4Address("127.0.0.1")


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key, as Heroku's Key-Value Store has."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False
        )
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    certificate_file, key_file = folder / "redis.crt", folder / "redis.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_file, key_file


def tls_port_open(server: subprocess.Popen, port: int, log: Path) -> bool:
    if server.poll() is not None:
        raise AssertionError(f"redis-server exited: {log.read_text()}")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def tls_redis(folder: Path) -> Iterator[tuple[int, Path]]:
    """A redis-server on 127.0.0.1 speaking only TLS with a self-signed certificate: its port
    and the certificate."""
    certificate, key = self_signed_certificate(folder)
    port, log = free_port(), folder / "redis.log"
    command = [
        "redis-server", "--bind", "127.0.0.1", "--port", "0", "--tls-port", str(port),
        "--tls-cert-file", str(certificate), "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(certificate), "--tls-auth-clients", "no",
        "--save", "", "--appendonly", "no", "--dir", str(folder), "--logfile", str(log),
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=folder)
    try:
        wait_until(lambda: tls_port_open(server, port, log), timeout=20, what="redis-server")
        yield port, certificate
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_rediss_queue_with_a_self_signed_certificate_is_used_unless_told_to_verify(tmp_path):
    missing = redis_without_tls(tmp_path)
    if missing and not os.environ.get("CI"):
        pytest.skip(missing)
    with tls_redis(tmp_path) as (port, certificate):
        heroku_like = make_huey(f"rediss://127.0.0.1:{port}/0")
        heroku_like.storage.enqueue(b"run 1")
        assert heroku_like.storage.dequeue() == b"run 1"
        verifying = make_huey(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required")
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            verifying.storage.enqueue(b"run 2")
        trusting = make_huey(
            f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={certificate}"
        )
        trusting.storage.enqueue(b"run 3")
        assert trusting.storage.dequeue() == b"run 3"
