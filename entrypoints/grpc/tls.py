"""TLS on the gRPC port, its files read again whenever they change (as cert-manager renews
them), for the connections opened from then on."""

from __future__ import annotations

import os
import threading

import grpc
import structlog

from entrypoints.tls_files import TlsFiles, TlsFilesError, TlsMaterial, read_tls_files

log = structlog.get_logger(__name__)

# A file's identity for change detection: kubelet replaces a mounted secret by swapping a
# symlink, which changes the inode even when size and mtime look alike.
_Stamp = tuple[tuple[int, int, int], ...]


class CertificateFiles:
    """The certificate configuration gRPC asks for before every TLS handshake: None (keep the
    current one) while the files are unchanged, the files read anew once any of them changed.
    A new set that does not hold together (a key that is not the certificate's, a file half
    written) is not taken: the current one keeps serving, and the next change is tried."""

    def __init__(self, files: TlsFiles) -> None:
        self._files = files
        self._lock = threading.Lock()  # gRPC's core may ask from more than one thread
        self._stamp = self._stamps()
        self.initial = _configuration(read_tls_files(files))

    @property
    def mutual(self) -> bool:
        return self._files.mutual

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            try:
                stamp = self._stamps()
            except OSError as err:
                log.warning("grpc_tls_files_unreadable", error=err.strerror)
                return None
            if stamp == self._stamp:
                return None
            self._stamp = stamp
            try:
                material = read_tls_files(self._files)
            except TlsFilesError as err:
                log.warning("grpc_tls_reload_refused", problem=str(err))
                return None
        log.info("grpc_tls_reloaded", cert_file=str(self._files.cert_file))
        return _configuration(material)

    def _stamps(self) -> _Stamp:
        stats = [os.stat(path) for path in self._files.paths()]
        return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)


def _configuration(material: TlsMaterial) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(material.key, material.chain)], root_certificates=material.client_ca
    )


def server_credentials(files: CertificateFiles) -> grpc.ServerCredentials:
    """Credentials that serve TLS with the files' current certificate (asking `files` before
    each handshake), requiring a client certificate from the CA for mutual TLS."""
    return grpc.dynamic_ssl_server_credentials(
        files.initial,
        files.fetch,  # type: ignore[arg-type]  # None means "no change" to gRPC, not to its stubs
        require_client_authentication=files.mutual,
    )
