"""A development certificate authority, a server certificate and agency client certificates,
so mTLS can be tried in a minute (`preflight certs`). Production certificates come from the
agencies' own PKI; these are for a laptop or a test suite."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Preflight development CA"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])  # fmt: skip


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    """PATH.crt and PATH.key, the suffix added (a DNS name's last label is not a suffix)."""
    path.with_name(f"{path.name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = path.with_name(f"{path.name}.key")
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)


def _sign(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    usage: x509.ObjectIdentifier,
    alt_names: Sequence[x509.GeneralName],
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_development_pki(
    directory: Path, hosts: Sequence[str], clients: Sequence[str]
) -> list[Path]:
    """ca.crt/ca.key, server.crt/server.key (for `hosts`) and NAME.crt/NAME.key per client;
    the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    now = dt.datetime.now(dt.UTC)
    ca_name = _name("Preflight development CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(directory / "ca", ca_key, ca)
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    server_key = _key()
    server = _sign(hosts[0] if hosts else "localhost", server_key, ca_name, ca_key,
                   usage=ExtendedKeyUsageOID.SERVER_AUTH, alt_names=alt_names)  # fmt: skip
    _write(directory / "server", server_key, server)
    written = [directory / f"{n}.{e}" for n in ("ca", "server") for e in ("crt", "key")]
    for client in clients:
        client_key = _key()
        cert = _sign(client, client_key, ca_name, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH,
                     alt_names=[x509.DNSName(client)])  # fmt: skip
        _write(directory / client, client_key, cert)
        written += [directory / f"{client}.crt", directory / f"{client}.key"]
    return written
