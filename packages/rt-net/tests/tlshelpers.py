"""Certificates for the TLS tests, made with trustme (a throwaway CA per test session)."""

from __future__ import annotations

import datetime
import functools
import ssl
from pathlib import Path

import trustme


@functools.cache
def ca() -> trustme.CA:
    return trustme.CA()


@functools.cache
def server_cert() -> trustme.LeafCert:
    return ca().issue_cert("localhost", "127.0.0.1", "::1")


def server_context(**kw: object) -> ssl.SSLContext:
    """A server context with a certificate for localhost / 127.0.0.1 / ::1."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert().configure_cert(ctx)
    for key, value in kw.items():
        setattr(ctx, key, value)
    return ctx


def client_context(**kw: object) -> ssl.SSLContext:
    """A verifying client context that trusts the test CA."""
    ctx = ssl.create_default_context()
    ca().configure_trust(ctx)
    for key, value in kw.items():
        setattr(ctx, key, value)
    return ctx


def expired_server_context() -> ssl.SSLContext:
    cert = ca().issue_cert(
        "localhost",
        not_before=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
        not_after=datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC),
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


def write_pem_files(directory: Path) -> tuple[Path, Path, Path]:
    """``(ca.pem, server-cert.pem, server-key.pem)`` for command-line peers."""
    ca_pem = directory / "ca.pem"
    cert_pem = directory / "server-cert.pem"
    key_pem = directory / "server-key.pem"
    ca().cert_pem.write_to_path(str(ca_pem))
    server_cert().cert_chain_pems[0].write_to_path(str(cert_pem))
    for extra in server_cert().cert_chain_pems[1:]:
        extra.write_to_path(str(cert_pem), append=True)
    server_cert().private_key_pem.write_to_path(str(key_pem))
    return ca_pem, cert_pem, key_pem
