"""A self-signed TLS certificate for development, and the server's TLS context.

Browsers only give camera and microphone to secure origins, so even a dev server on a LAN
tablet needs HTTPS. Production uses a real certificate (`--cert`/`--key`) or a TLS proxy.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import ssl
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.clock import Clock, SystemClock

CERT_FILE = "dev-cert.pem"
KEY_FILE = "dev-key.pem"
VALIDITY = dt.timedelta(days=90)
RENEW_BEFORE = dt.timedelta(days=1)  # reuse only a certificate that outlives today's session
# Tolerates a tablet whose clock runs a little behind the server's.
BACKDATE = dt.timedelta(minutes=5)
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DevCertificateError(ValueError):
    """The dev certificate cannot be used safely (e.g. its key is readable by others)."""


def ensure_dev_certificate(
    certs_dir: Path, hosts: list[str], *, clock: Clock | None = None
) -> tuple[Path, Path]:
    """Paths of a self-signed dev certificate and its key, generated on first run.

    An existing certificate is reused while it stays valid for more than a day, covers every
    requested host and matches its key; otherwise it is replaced.
    """
    now = dt.datetime.fromtimestamp((clock or SystemClock()).now(), tz=dt.UTC)
    dns_names, ips = _split_hosts([*DEFAULT_HOSTS, *hosts])
    cert_path, key_path = certs_dir / CERT_FILE, certs_dir / KEY_FILE
    if cert_path.exists() and key_path.exists():
        _check_key_mode(key_path)
        if _reusable(cert_path, key_path, now, dns_names, ips):
            return cert_path, key_path
    if not certs_dir.exists():
        certs_dir.mkdir(mode=0o700, parents=True)
        certs_dir.chmod(0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build_certificate(key, now, dns_names, ips)
    # A crash between the two writes leaves a mismatched pair, which the next run replaces.
    _write_atomic(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path


def ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or newer) for `cert` and `key`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=cert, keyfile=key)
    return context


def _split_hosts(hosts: list[str]) -> tuple[list[str], list[_IPAddress]]:
    dns_names: list[str] = []
    ips: list[_IPAddress] = []
    for raw in hosts:
        host = raw.strip().strip("[]").lower()
        if not host:
            continue
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            if host not in dns_names:
                dns_names.append(host)
            continue
        # A bind-all address is not a name a client connects to; localhost covers it.
        if not ip.is_unspecified and ip not in ips:
            ips.append(ip)
    return dns_names, ips


def _build_certificate(
    key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
    dns_names: list[str],
    ips: list[_IPAddress],
) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "lippejob development"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lippejob (self-signed, dev only)"),
        ]
    )
    san: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    san += [x509.IPAddress(ip) for ip in ips]
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )


def _reusable(
    cert_path: Path,
    key_path: Path,
    now: dt.datetime,
    dns_names: list[str],
    ips: list[_IPAddress],
) -> bool:
    """Whether the certificate on disk is ours to keep using; unreadable files are not."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    if cert.not_valid_before_utc > now or cert.not_valid_after_utc - now <= RENEW_BEFORE:
        return False
    if key.public_key() != cert.public_key():
        return False
    have_dns = {d.lower() for d in san.get_values_for_type(x509.DNSName)}
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return set(dns_names) <= have_dns and set(ips) <= have_ips


def _check_key_mode(key_path: Path) -> None:
    mode = key_path.stat().st_mode
    if mode & 0o077:
        raise DevCertificateError(
            f"{key_path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); "
            f"refusing to use it; run `chmod 600 {key_path}` or delete it to regenerate"
        )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write via a fresh temporary file created with `mode`, so a key is never exposed."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
