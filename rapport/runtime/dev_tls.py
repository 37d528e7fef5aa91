"""A development certificate authority and the local broker's certificate, made once.

The secured local Kafka (`kafka.local_secured`) speaks TLS: it needs a certificate for
127.0.0.1, and its clients the CA that signed it. Both are made here on first start, as PEM
files (Kafka reads PEM key stores since 2.7), under var/kafka/tls/. They are for one machine's
development stack only: a real cluster's certificates come from the company's CA.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: Short enough that a forgotten development CA expires; long enough not to bother anyone.
VALID_FOR = timedelta(days=825)


@dataclass(frozen=True)
class DevTls:
    """Where the CA certificate (for clients) and the broker's key and chain (PEM) are."""

    ca_file: Path
    broker_file: Path


def ensure_dev_tls(folder: Path) -> DevTls:
    """The CA and the broker certificate in `folder`, made if absent (key files mode 0600)."""
    tls = DevTls(folder / "ca.pem", folder / "broker.pem")
    if tls.ca_file.exists() and tls.broker_file.exists():
        return tls
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    usage = {name: False for name in _KEY_USAGES}
    ca_usage = x509.KeyUsage(**{**usage, "digital_signature": True, "key_cert_sign": True,
                                 "crl_sign": True})  # fmt: skip
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rapport development CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca_usage, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    broker_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    broker_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    # Kafka's PEM key store wants the key in PKCS#8, then the certificate chain.
    key_pem = broker_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(
        tls.broker_file, key_pem + broker_cert.public_bytes(pem) + ca_cert.public_bytes(pem)
    )
    # The CA's key is not kept: a new broker certificate comes with a new CA.
    tls.ca_file.write_bytes(ca_cert.public_bytes(pem))
    return tls


_KEY_USAGES = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
)  # fmt: skip


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)
