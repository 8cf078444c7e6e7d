"""Single sign-on: JWTs of a configured issuer, checked against its keys (generated here locally)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

import berth
from berth.core.access import Role
from berth.core.errors import BerthError
from berth.core.settings import Settings
from berth.server.auth import oidc
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.support.servers import server_in_thread

ISSUER = "https://sso.bank.example"
AUDIENCE = "berth"


@dataclass(frozen=True)
class Sso:
    url: str
    key: rsa.RSAPrivateKey
    api_token: str

    def token(self, **overrides: Any) -> str:
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "sso-user",
            "exp": int(time.time()) + 300,
            **overrides,
        }
        return jwt.encode(
            {k: v for k, v in claims.items() if v is not None}, self.key, "RS256", headers={"kid": "k1"}
        )


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Sso]:
    folder: Path = tmp_path_factory.mktemp("oidc")
    home = folder / "home"
    berth.push(lr.model, name="sso-model", home=home, input_example=lr.x[:2], team="risk")
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        store.set_member("risk", "sso-user", Role.READER)
        api_token = store.create_token("sso-user").secret
    finally:
        store.close()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    settings = Settings(
        home=home, auth="oidc", oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks=str(jwks)
    )
    with server_in_thread(settings) as url:
        yield Sso(url, key, api_token)


def _get(sso: Sso, token: str) -> httpx.Response:
    return httpx.get(f"{sso.url}/api/v1/models/sso-model", headers={"authorization": f"Bearer {token}"})


def test_a_valid_jwt_is_the_principal_it_names(sso: Sso) -> None:
    answer = _get(sso, sso.token())
    assert answer.status_code == 200, answer.text
    assert answer.json()["team"] == "risk"
    # its roles are the principal's: a reader may not move an alias
    moved = httpx.put(
        f"{sso.url}/api/v1/models/sso-model/aliases/production",
        headers={"authorization": f"Bearer {sso.token()}"},
        json={"version": 1},
    )
    assert moved.status_code == 403
    # another subject, in no team: the model does not exist for it
    assert _get(sso, sso.token(sub="stranger")).status_code == 404


def test_bad_jwts_are_refused(sso: Sso) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "sso-user", "exp": int(time.time()) + 300},
        other_key,
        "RS256",
        headers={"kid": "k1"},
    )
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "sso-user", "exp": int(time.time()) + 300}, None, "none"
    )
    refused = {
        "expired": (sso.token(exp=int(time.time()) - 120), "token expired"),
        "wrong issuer": (sso.token(iss="https://evil.example"), "invalid token"),
        "wrong audience": (sso.token(aud="someone-else"), "invalid token"),
        "no subject": (sso.token(sub=None), "invalid token"),
        "no expiry": (sso.token(exp=None), "invalid token"),
        "signed by another key": (forged, "invalid token"),
        "alg none": (unsigned, "invalid token"),
        "truncated": (sso.token()[:-10], "invalid token"),
        "berth token when only oidc is on": (sso.api_token, "API tokens are not accepted"),
    }
    for label, (token, reason) in refused.items():
        answer = _get(sso, token)
        assert answer.status_code == 401, (label, answer.text)
        assert answer.json()["error"].startswith(reason), (label, answer.json())
        assert answer.headers["www-authenticate"].startswith("Bearer ")


def test_a_rotated_signing_key_is_fetched_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc, "JWKS_REFETCH_S", 0.0)
    old, new = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))

    def jwks(*keys: tuple[str, rsa.RSAPrivateKey]) -> str:
        listed = [{**json.loads(RSAAlgorithm.to_jwk(k.public_key())), "kid": kid} for kid, k in keys]
        return json.dumps({"keys": listed})

    source = tmp_path / "jwks.json"
    source.write_text(jwks(("k1", old)))
    verifier = oidc.JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=str(source))
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "exp": int(time.time()) + 60}
    rotated = jwt.encode(claims, new, "RS256", headers={"kid": "k2"})
    with pytest.raises(BerthError, match="unknown signing key 'k2'"):
        verifier.verify(rotated)
    source.write_text(jwks(("k1", old), ("k2", new)))  # the issuer publishes its new key
    deadline = time.monotonic() + 60
    while True:
        try:
            assert verifier.verify(rotated)[0] == "ann"
            break
        except BerthError:
            assert time.monotonic() < deadline, "the new key was never fetched"
            time.sleep(0.05)


def test_a_token_minted_with_a_jwt_expires_with_it(sso: Sso) -> None:
    """A JWT cannot be revoked here, so its tokens get no parent; their expiry is capped at its exp."""
    exp = int(time.time()) + 120
    answer = httpx.post(
        f"{sso.url}/api/v1/tokens",
        headers={"authorization": f"Bearer {sso.token(exp=exp)}"},
        json={"expires_days": 3650},
    )
    assert answer.status_code == 201, answer.text
    minted = answer.json()
    assert minted["parent_id"] is None
    assert datetime.fromisoformat(minted["expires_at"]).timestamp() <= exp
