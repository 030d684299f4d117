"""The self-signed dev certificate and the server's TLS context."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from core.clock import FakeClock
from lippejob.tlsdev import DevCertificateError, ensure_dev_certificate, ssl_context

DAY = 86400.0


def _load(cert_path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert_path.read_bytes())


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        set(san.get_values_for_type(x509.DNSName)),
        {str(ip) for ip in san.get_values_for_type(x509.IPAddress)},
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_certificate_has_the_sans_and_a_private_key(tmp_path: Path, clock: FakeClock) -> None:
    certs_dir = tmp_path / "certs" / "dev"
    cert_path, key_path = ensure_dev_certificate(
        certs_dir, ["lippe.example", "192.168.1.20", "0.0.0.0", "[fe80::1]"], clock=clock
    )

    cert = _load(cert_path)
    dns, ips = _sans(cert)
    assert dns == {"localhost", "lippe.example"}
    assert ips == {"127.0.0.1", "::1", "192.168.1.20", "fe80::1"}  # bind-all is not a name
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(certs_dir.stat().st_mode) == 0o700
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, ec.SECP256R1)
    now = dt.datetime.fromtimestamp(clock.now(), tz=dt.UTC)
    assert cert.not_valid_after_utc - now == dt.timedelta(days=90)
    assert cert.not_valid_before_utc <= now
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_certificate_is_reused(tmp_path: Path, clock: FakeClock) -> None:
    first = ensure_dev_certificate(tmp_path, ["lippe.example"], clock=clock)
    cert_bytes, key_bytes = first[0].read_bytes(), first[1].read_bytes()
    clock.advance(88 * DAY)

    # Fewer hosts than the certificate covers is fine too.
    second = ensure_dev_certificate(tmp_path, [], clock=clock)

    assert second == first
    assert second[0].read_bytes() == cert_bytes
    assert second[1].read_bytes() == key_bytes


def test_certificate_expiring_within_a_day_is_replaced(tmp_path: Path, clock: FakeClock) -> None:
    cert_path, _ = ensure_dev_certificate(tmp_path, [], clock=clock)
    old_serial = _load(cert_path).serial_number
    clock.advance(89 * DAY)

    cert_path, _ = ensure_dev_certificate(tmp_path, [], clock=clock)

    cert = _load(cert_path)
    assert cert.serial_number != old_serial
    now = dt.datetime.fromtimestamp(clock.now(), tz=dt.UTC)
    assert cert.not_valid_after_utc - now == dt.timedelta(days=90)


def test_new_host_triggers_a_new_certificate(tmp_path: Path, clock: FakeClock) -> None:
    cert_path, _ = ensure_dev_certificate(tmp_path, [], clock=clock)
    old_serial = _load(cert_path).serial_number

    cert_path, _ = ensure_dev_certificate(tmp_path, ["10.0.0.7"], clock=clock)

    cert = _load(cert_path)
    assert cert.serial_number != old_serial
    assert "10.0.0.7" in _sans(cert)[1]


def test_mismatched_key_triggers_a_new_certificate(tmp_path: Path, clock: FakeClock) -> None:
    cert_path, key_path = ensure_dev_certificate(tmp_path, [], clock=clock)
    other = ensure_dev_certificate(tmp_path / "other", [], clock=clock)
    key_path.write_bytes(other[1].read_bytes())
    old_serial = _load(cert_path).serial_number

    ensure_dev_certificate(tmp_path, [], clock=clock)

    assert _load(cert_path).serial_number != old_serial


def test_key_readable_by_others_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    _, key_path = ensure_dev_certificate(tmp_path, [], clock=clock)
    key_path.chmod(0o644)

    with pytest.raises(DevCertificateError, match="group or others"):
        ensure_dev_certificate(tmp_path, [], clock=clock)


def test_ssl_context_is_tls12_or_newer(tmp_path: Path) -> None:
    cert_path, key_path = ensure_dev_certificate(tmp_path, [])

    context = ssl_context(cert_path, key_path)

    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("server_name", ["localhost", "127.0.0.1"])
async def test_loopback_handshake_verifies_the_certificate(
    tmp_path: Path, server_name: str
) -> None:
    cert_path, key_path = ensure_dev_certificate(tmp_path, [])  # real clock: a real handshake

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=ssl_context(cert_path, key_path))
    port = server.sockets[0].getsockname()[1]
    client_context = ssl.create_default_context(cafile=str(cert_path))
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context, server_hostname=server_name
        )
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        tls = writer.get_extra_info("ssl_object")
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
