"""The files TLS is served from: a certificate chain and its key, and the CA bundle that client
certificates must come from (mutual TLS), read and checked to hold together. Kept apart from the
gRPC server so that checking a configuration loads no server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the server's certificate chain and key are (PEM), and, for mutual TLS, the CA
    bundle (PEM) that must have signed every client's certificate."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    @property
    def mutual(self) -> bool:
        return self.client_ca_file is not None

    def paths(self) -> tuple[Path, ...]:
        return (self.cert_file, self.key_file) + (
            () if self.client_ca_file is None else (self.client_ca_file,)
        )


class TlsFilesError(ValueError):
    """A certificate, key or CA file cannot be used; the message names the file, never its key."""


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """The files' contents, checked: the chain's first certificate is the key's."""

    chain: bytes
    key: bytes = field(repr=False)
    client_ca: bytes | None


def read_tls_files(files: TlsFiles) -> TlsMaterial:
    """The files' PEM contents; TlsFilesError if one cannot be read or parsed, or the key is not
    the certificate's (a rotation caught half-way)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    def read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as err:
            raise TlsFilesError(f"cannot read {path}: {err.strerror}") from None

    def certificates(path: Path, pem: bytes) -> list[x509.Certificate]:
        try:
            return x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise TlsFilesError(f"{path} holds no PEM certificate") from None

    chain, key_pem = read(files.cert_file), read(files.key_file)
    leaf = certificates(files.cert_file, chain)[0]
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise TlsFilesError(f"{files.key_file} holds no unencrypted PEM private key") from None
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(der, spki) != leaf.public_key().public_bytes(der, spki):
        raise TlsFilesError(f"the key in {files.key_file} is not the key of {files.cert_file}")
    client_ca = None
    if files.client_ca_file is not None:
        client_ca = read(files.client_ca_file)
        certificates(files.client_ca_file, client_ca)
    return TlsMaterial(chain, key_pem, client_ca)
