"""Network settings end to end: an explicit proxy (never for loopback) and a corporate CA bundle."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import TEST_KEY_COMPAT
from tests.e2e.harness import lsp_session
from tests.fakes import FakeServer, openai_models


async def test_proxy_is_used_except_for_loopback(server_env: dict[str, str]) -> None:
    with FakeServer() as proxy, FakeServer() as local:
        proxy.route("GET", "/v1/models", openai_models(["via-proxy"]))
        local.route("GET", "/v1/models", openai_models(["direct"]))
        settings = {
            "proxy": proxy.url,
            "providers": {
                "remote": {"kind": "openai-compatible", "baseUrl": "http://llm.example.test/v1"},
                "local": {"kind": "openai-compatible", "baseUrl": f"{local.url}/v1"},
            },
        }
        async with lsp_session(settings, server_env) as s:
            remote = await s.command("byok.verifyKey", {"provider": "remote"})
            assert remote["ok"] and remote["models"] == ["via-proxy"]
            assert proxy.requests[-1].headers["host"] == "llm.example.test"
            direct = await s.command("byok.verifyKey", {"provider": "local"})
            assert direct["ok"] and direct["models"] == ["direct"]
            assert len(proxy.requests) == 1, "a loopback provider went through the proxy"


def _certificate_authority(tmp: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate for 127.0.0.1 signed by it (what a corporate TLS proxy looks like)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "byok test corporate CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_path, cert_path, key_path


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(
            {"object": "list", "data": [{"id": "behind-corporate-tls", "object": "model"}]}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ca, cert, key = _certificate_authority(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/v1", ca
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_ca_bundle_trusts_a_corporate_certificate(
    tls_server: tuple[str, Path], server_env: dict[str, str]
) -> None:
    url, ca = tls_server
    providers = {"corp": {"kind": "openai-compatible", "baseUrl": url}}
    async with lsp_session({"providers": providers}, server_env) as s:
        await s.command("byok.setKey", {"provider": "corp", "key": TEST_KEY_COMPAT})
        untrusted = await s.command("byok.verifyKey", {"provider": "corp"})
        assert not untrusted["ok"] and untrusted["error"]["code"] == "endpoint_unreachable"
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted["error"]["message"]
    async with lsp_session({"providers": providers, "caBundle": str(ca)}, server_env) as s:
        moved = await s.command("byok.verifyKey", {"provider": "corp"})
        assert moved["error"]["code"] == "key_endpoint_mismatch", "the CA bundle is part of the key's route"
        assert "CA bundle changed" in moved["error"]["message"]
        await s.command("byok.setKey", {"provider": "corp", "key": TEST_KEY_COMPAT})
        trusted = await s.command("byok.verifyKey", {"provider": "corp"})
        assert trusted["ok"] and trusted["models"] == ["behind-corporate-tls"]
