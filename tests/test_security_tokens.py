"""Bearer tokens: signature, algorithms, time claims, audience and issuer.

Every refusal is ``401`` with ``WWW-Authenticate: Bearer`` and an errorResponse
that says only that the token is not acceptable (never which check failed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from conftest import API_KEY, BASE, SECRET
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://idp.example.com/"
AUDIENCE = "accountApplications"


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "user-1", "scope": "banking/read", "iat": now, "nbf": now, "exp": now + 600}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def hs256(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], key: bytes = b"") -> str:
    """A token built by hand (what an attacker can send), HMAC-SHA256-signed with ``key``."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest()) if key else ""
    return f"{signing_input}.{signature}"


def get(client, token: str | None, key: str = API_KEY):
    headers = {"API-Key": key}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(f"{BASE}/applications", headers=headers)


def assert_unauthorized(response) -> None:
    assert response.status_code == 401, response.json
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = response.json["_error"]
    assert error["statusCode"] == 401 and error["type"] == "unauthorized"
    assert response.mimetype == "application/hal+json"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(private_key) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def rs256(payload: dict[str, Any], private_key, **headers: Any) -> str:
    return jwt.encode(payload, private_key, algorithm="RS256", headers=headers or None)


# --- HS256 ---------------------------------------------------------------------

def test_a_valid_hs256_token_is_accepted(client):
    assert get(client, hs256(claims())).status_code == 200


def test_a_missing_token_is_401(client):
    assert_unauthorized(get(client, None))


def test_a_non_bearer_authorization_is_401(client):
    response = client.get(f"{BASE}/applications", headers={
        "API-Key": API_KEY, "Authorization": "Basic dXNlcjpwYXNz"})
    assert_unauthorized(response)


def test_a_malformed_token_is_401(client):
    assert_unauthorized(get(client, "not.a.jwt"))


def test_a_token_signed_with_another_secret_is_401(client):
    assert_unauthorized(get(client, hs256(claims(), "another-secret-of-sufficient-length-123456")))


def test_a_tampered_payload_is_401(client):
    header, _payload, signature = hs256(claims()).split(".")
    forged = b64(json.dumps(claims(scope="banking/full admin/full")).encode())
    assert_unauthorized(get(client, f"{header}.{forged}.{signature}"))


def test_an_expired_token_is_401(client):
    now = int(time.time())
    assert_unauthorized(get(client, hs256(claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600))))


def test_a_token_without_exp_is_401(client):
    assert_unauthorized(get(client, hs256(claims(exp=None))))


def test_a_token_without_sub_is_401(client):
    assert_unauthorized(get(client, hs256(claims(sub=None))))


def test_a_scope_claim_that_is_not_a_string_is_401(client):
    assert_unauthorized(get(client, hs256(claims(scope=["banking/read"]))))


def test_a_token_not_yet_valid_nbf_is_401(client):
    assert_unauthorized(get(client, hs256(claims(nbf=int(time.time()) + 3600))))


def test_a_token_issued_in_the_future_beyond_the_leeway_is_401(client):
    assert_unauthorized(get(client, hs256(claims(iat=int(time.time()) + 3600))))


def test_clock_skew_within_the_leeway_is_tolerated(client):
    now = int(time.time())
    skewed = hs256(claims(iat=now + 10, nbf=now + 10, exp=now + 600))
    assert get(client, skewed).status_code == 200


def test_expiry_within_the_leeway_is_tolerated(client):
    now = int(time.time())
    assert get(client, hs256(claims(iat=now - 600, nbf=now - 600, exp=now - 5))).status_code == 200


def test_alg_none_is_401(client):
    token = unsigned_token({"alg": "none", "typ": "JWT"}, claims())
    assert_unauthorized(get(client, token))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_an_algorithm_that_is_not_configured_is_401(client):
    # Signed with the right secret, which is short for HS512: PyJWT warns, and the
    # service refuses the token for its algorithm, whatever its key's length.
    assert_unauthorized(get(client, jwt.encode(claims(), SECRET, algorithm="HS512")))


def test_the_401_does_not_say_which_check_failed(client):
    now = int(time.time())
    expired = get(client, hs256(claims(exp=now - 3600, iat=now - 7200, nbf=now - 7200)))
    forged = get(client, hs256(claims(), "another-secret-of-sufficient-length-123456"))
    assert expired.json["_error"]["message"] == forged.json["_error"]["message"]


# --- audience and issuer -----------------------------------------------------------

class TestAudienceAndIssuer:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "ACCOUNTAPPS_JWT_AUDIENCE": AUDIENCE,
                "ACCOUNTAPPS_JWT_ISSUER": ISSUER}

    def test_the_configured_audience_and_issuer_are_accepted(self, client):
        assert get(client, hs256(claims(aud=AUDIENCE, iss=ISSUER))).status_code == 200

    def test_an_audience_among_several_is_accepted(self, client):
        token = hs256(claims(aud=["other-api", AUDIENCE], iss=ISSUER))
        assert get(client, token).status_code == 200

    def test_a_wrong_audience_is_401(self, client):
        assert_unauthorized(get(client, hs256(claims(aud="other-api", iss=ISSUER))))

    def test_a_missing_audience_is_401(self, client):
        assert_unauthorized(get(client, hs256(claims(iss=ISSUER))))

    def test_a_wrong_issuer_is_401(self, client):
        assert_unauthorized(get(client, hs256(claims(aud=AUDIENCE, iss="https://evil.example/"))))

    def test_a_missing_issuer_is_401(self, client):
        assert_unauthorized(get(client, hs256(claims(aud=AUDIENCE))))


# --- RS256 with a PEM public key -------------------------------------------------------

class TestRs256PublicKey:
    @pytest.fixture
    def app_settings(self, app_settings, tmp_path, rsa_key):
        path = tmp_path / "jwt-public.pem"
        path.write_bytes(public_pem(rsa_key))
        return {**app_settings, "ACCOUNTAPPS_JWT_PUBLIC_KEY": str(path)}

    def test_a_token_signed_with_the_private_key_is_accepted(self, client, rsa_key):
        assert get(client, rs256(claims(), rsa_key)).status_code == 200

    def test_hs256_tokens_still_work_alongside(self, client):
        assert get(client, hs256(claims())).status_code == 200

    def test_a_token_signed_with_another_key_is_401(self, client, other_rsa_key):
        assert_unauthorized(get(client, rs256(claims(), other_rsa_key)))

    def test_an_expired_rs256_token_is_401(self, client, rsa_key):
        now = int(time.time())
        token = rs256(claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600), rsa_key)
        assert_unauthorized(get(client, token))

    def test_hs256_signed_with_the_public_key_is_401(self, client, rsa_key):
        # Algorithm confusion: the public key is public, so it must never act as an HMAC secret.
        token = unsigned_token({"alg": "HS256", "typ": "JWT"}, claims(), public_pem(rsa_key))
        assert_unauthorized(get(client, token))

    def test_alg_none_is_401(self, client):
        assert_unauthorized(get(client, unsigned_token({"alg": "none"}, claims())))


class TestRs256InlinePem:
    @pytest.fixture
    def app_settings(self, app_settings, rsa_key):
        return {**app_settings, "ACCOUNTAPPS_JWT_PUBLIC_KEY": public_pem(rsa_key).decode()}

    def test_the_setting_may_hold_the_pem_text_itself(self, client, rsa_key):
        assert get(client, rs256(claims(), rsa_key)).status_code == 200


# --- RS256 with a JWKS file ----------------------------------------------------------

class TestRs256Jwks:
    @pytest.fixture
    def app_settings(self, app_settings, tmp_path, rsa_key, other_rsa_key):
        keys = []
        for kid, key in (("key-1", rsa_key), ("key-2", other_rsa_key)):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        path = tmp_path / "jwks.json"
        path.write_text(json.dumps({"keys": keys}))
        return {key: value for key, value in {
            **app_settings, "ACCOUNTAPPS_JWT_JWKS": str(path),
            "ACCOUNTAPPS_JWT_SECRET": None}.items()}

    @pytest.mark.parametrize("kid", ["key-1", "key-2"])
    def test_a_token_signed_by_any_key_of_the_set_is_accepted(self, client, rsa_key,
                                                              other_rsa_key, kid):
        key = rsa_key if kid == "key-1" else other_rsa_key
        assert get(client, rs256(claims(), key, kid=kid)).status_code == 200

    def test_a_token_without_kid_is_checked_against_every_key(self, client, other_rsa_key):
        assert get(client, rs256(claims(), other_rsa_key)).status_code == 200

    def test_a_kid_naming_another_key_than_the_signer_is_401(self, client, rsa_key):
        assert_unauthorized(get(client, rs256(claims(), rsa_key, kid="key-2")))

    def test_a_key_outside_the_set_is_401(self, client):
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert_unauthorized(get(client, rs256(claims(), stranger, kid="key-1")))

    def test_hs256_is_refused_when_only_rsa_keys_are_configured(self, client):
        assert_unauthorized(get(client, hs256(claims())))


# --- API key ----------------------------------------------------------------------

def test_a_missing_api_key_is_401_even_with_a_valid_token(client):
    response = client.get(f"{BASE}/applications",
                          headers={"Authorization": f"Bearer {hs256(claims())}"})
    assert_unauthorized(response)


def test_an_unknown_api_key_is_401(client):
    assert_unauthorized(get(client, hs256(claims()), key="not-a-key"))


def test_the_api_root_needs_only_the_api_key(client):
    assert client.get(f"{BASE}/", headers={"API-Key": API_KEY}).status_code == 200
    assert_unauthorized(client.get(f"{BASE}/"))


@pytest.mark.parametrize("subject", ["u" * 256, "user\x00one", "user\ud800"],
                         ids=["too-long", "nul", "lone-surrogate"])
def test_a_subject_no_user_id_can_be_is_401(client, subject):
    bearer = jwt.encode({"sub": subject, "scope": "banking/read", "exp": int(time.time()) + 60},
                        SECRET, algorithm="HS256")
    response = client.get(f"{BASE}/applications",
                          headers={"API-Key": API_KEY, "Authorization": f"Bearer {bearer}"})
    assert response.status_code == 401
    assert response.json["_error"]["statusCode"] == 401


def test_a_token_whose_exp_is_beyond_any_float_is_refused_not_a_500(client):
    # A NumericDate past the year 9999 means "never expires": no token lives that long.
    token = hs256(claims(exp=10 ** 400))
    assert get(client, token).status_code == 401
    assert get(client, token).status_code == 401


# --- time claims are NumericDates ---------------------------------------------------

@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["9999999999", "soon", 1e30, float(2**62), True, [1], None])
def test_a_time_claim_that_is_not_a_sane_numeric_date_is_refused(client, claim, value):
    # PyJWT alone takes a numeric string, and 1e30: a token that never expires.
    payload = claims()
    payload[claim] = value
    assert_unauthorized(get(client, hs256(payload)))


def test_a_fractional_numeric_date_is_accepted(client):
    now = time.time()
    assert get(client, hs256(claims(iat=now - 0.5, nbf=now - 0.5, exp=now + 60.5))
               ).status_code == 200


@pytest.fixture
def short_lived(app_settings):
    from accountapps import create_app

    application = create_app({**app_settings, "ACCOUNTAPPS_JWT_MAX_LIFETIME": "3600"})
    return application.test_client()


def test_a_token_within_the_maximum_lifetime_is_accepted(short_lived):
    assert get(short_lived, hs256(claims(exp=int(time.time()) + 3600))).status_code == 200


def test_a_token_living_longer_than_the_maximum_lifetime_is_refused(short_lived):
    assert_unauthorized(get(short_lived, hs256(claims(exp=int(time.time()) + 7200))))


def test_a_token_issued_for_longer_than_the_maximum_lifetime_is_refused(short_lived):
    now = int(time.time())
    assert_unauthorized(get(short_lived, hs256(claims(iat=now - 7000, nbf=now - 7000,
                                                      exp=now + 600))))


def test_without_a_maximum_lifetime_a_long_token_is_accepted(client):
    assert get(client, hs256(claims(exp=int(time.time()) + 10 * 365 * 86400))).status_code == 200


@pytest.mark.parametrize("value", ["-1", "forever", "nan", str(400 * 86400)])
def test_a_maximum_lifetime_out_of_range_stops_the_start_up(app_settings, value):
    from accountapps import create_app

    with pytest.raises(ValueError, match="ACCOUNTAPPS_JWT_MAX_LIFETIME"):
        create_app({**app_settings, "ACCOUNTAPPS_JWT_MAX_LIFETIME": value})
