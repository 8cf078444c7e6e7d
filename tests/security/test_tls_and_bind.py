"""TLS on REST and gRPC when a certificate is configured; no unauthenticated server beyond loopback."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import time
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import berth
from berth.core.errors import BerthError
from berth.core.settings import Settings
from berth.server.auth.security import check_bind
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from tests.conftest import Trained
from tests.support.servers import berth_executable, free_port


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.mark.slow
def test_rest_and_grpc_over_tls(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    cert, key = self_signed(tmp_path)
    port, grpc_port = free_port(), free_port()
    env = {**os.environ, "BERTH_TLS_CERT": str(cert), "BERTH_TLS_KEY": str(key)}
    argv = [
        berth_executable(),
        "serve",
        "--home",
        str(home),
        "--port",
        str(port),
        "--grpc-port",
        str(grpc_port),
    ]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"https://127.0.0.1:{port}"
        trusted = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready", verify=trusted).status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        body = {
            "inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": lr.x[0].tolist()}]
        }
        assert httpx.post(f"{url}/v2/models/lr/infer", json=body, verify=trusted).status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served
            httpx.get(f"http://127.0.0.1:{port}/v2/health/live", timeout=5)
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"localhost:{grpc_port}", credentials) as channel:
            assert (
                pb_grpc.GRPCInferenceServiceStub(channel).ServerLive(pb.ServerLiveRequest(), timeout=10).live
            )
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel, pytest.raises(grpc.RpcError):
            pb_grpc.GRPCInferenceServiceStub(channel).ServerLive(pb.ServerLiveRequest(), timeout=5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def test_no_authentication_beyond_loopback_unless_forced(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(BerthError, match=r"refusing to serve on 0\.0\.0\.0 without authentication"):
        check_bind(Settings(host="0.0.0.0"))
    check_bind(Settings(host="0.0.0.0", auth="tokens"))
    with caplog.at_level("WARNING"):
        check_bind(Settings(host="0.0.0.0", allow_insecure_bind=True))
        check_bind(Settings(host="127.0.0.1"))
        check_bind(Settings(host="::1"))
    assert sum("AUTHENTICATION IS OFF" in r.getMessage() for r in caplog.records) == 3


def test_berth_serve_refuses_an_open_bind_without_auth(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            berth_executable(),
            "serve",
            "--home",
            str(tmp_path / "home"),
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("BERTH_")},
    )
    assert done.returncode == 1
    assert "refusing to serve on 0.0.0.0 without authentication" in done.stderr
