"""Abuse limits: body size (413), page size (400) and per-client rate limits (429)."""

from __future__ import annotations

import io
import json
import os

import pytest
from conftest import API_KEY, BASE, USER_SCOPES, token

from accountapps import create_app

MAX_BODY = 2048


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "ACCOUNTAPPS_MAX_BODY_BYTES": MAX_BODY}


def big_body(create_body) -> bytes:
    return json.dumps(create_body(accountName="x" * 200, padding="y" * MAX_BODY)).encode()


def assert_too_large(response) -> None:
    assert response.status_code == 413, response.json
    error = response.json["_error"]
    assert error["type"] == "requestBodyTooLarge" and error["statusCode"] == 413
    assert error["attributes"]["maximumBytes"] == MAX_BODY


def chunked(client, method: str, path: str, data: bytes, headers: dict):
    """A ``Transfer-Encoding: chunked`` request, as a WSGI server (gunicorn) hands it on."""
    return client.open(path, method=method, input_stream=io.BytesIO(data), headers={
        **headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})


def test_a_body_over_the_limit_is_413(client, user_headers, create_body):
    response = client.post(f"{BASE}/applications", data=big_body(create_body),
                           content_type="application/json", headers=user_headers)
    assert_too_large(response)


def test_the_size_is_checked_before_credentials(client, create_body):
    response = client.post(f"{BASE}/applications", data=big_body(create_body),
                           content_type="application/json")
    assert_too_large(response)


@pytest.mark.parametrize("method,path", [
    ("POST", "/applications"),
    ("PUT", "/applications/some-id"),
    ("PATCH", "/applications/some-id"),
    ("POST", "/approvedApplications?application=some-id"),
])
def test_a_chunked_body_over_the_limit_is_413(client, user_headers, create_body, method, path):
    assert_too_large(chunked(client, method, BASE + path, big_body(create_body), user_headers))


def test_a_chunked_body_within_the_limit_is_read_whole(client, user_headers, create_body):
    data = json.dumps(create_body()).encode()
    assert len(data) < MAX_BODY
    response = chunked(client, "POST", f"{BASE}/applications", data, user_headers)
    assert response.status_code == 201, response.json


class BrokenStream(io.BytesIO):
    """A chunked body whose framing breaks after ``data`` (gunicorn raises an OSError)."""

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        if not data:
            raise OSError("Invalid chunk size")
        return data


def test_a_body_shorter_than_its_content_length_is_400_and_nothing_is_written(
        client, user, user_headers, create_body):
    data = json.dumps(create_body()).encode()
    response = client.post(f"{BASE}/applications", data=data, headers={
        **user_headers, "Content-Type": "application/json"},
        environ_overrides={"CONTENT_LENGTH": str(len(data) + 100),
                           "wsgi.input": io.BytesIO(data)})
    assert response.status_code == 400, response.json
    assert response.json["_error"]["type"] == "incompleteBody"
    assert user.get("/applications").json["count"] == 0


def test_a_chunked_body_with_broken_framing_is_400_not_500(client, user_headers, create_body):
    response = client.open(f"{BASE}/applications", method="POST", headers={
        **user_headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True,
                           "wsgi.input": BrokenStream(b'{"accountName"')})
    assert response.status_code == 400, response.json
    assert response.json["_error"]["type"] == "incompleteBody"


def test_without_credentials_a_body_is_not_read_at_all(client, create_body):
    stream = BrokenStream(b"{not json")
    response = client.open(f"{BASE}/applications", method="POST", headers={
        "Content-Type": "text/plain", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True, "wsgi.input": stream})
    assert response.status_code == 401
    assert stream.tell() == 0


def test_a_body_of_exactly_the_limit_is_not_413(client, user_headers, create_body):
    data = json.dumps(create_body()).encode()
    data = data[:-1] + b" " * (MAX_BODY - len(data)) + b"}"
    assert len(data) == MAX_BODY
    response = chunked(client, "POST", f"{BASE}/applications", data, user_headers)
    assert response.status_code == 201, response.json


# A fullwidth 1, a superscript 2, an Arabic-Indic 1.
@pytest.mark.parametrize("value", ["\uff11", "\u00b2", "\u0661"])
@pytest.mark.parametrize("name", ["limit", "start"])
def test_a_paging_number_in_other_digits_than_ascii_is_400(user, name, value):
    response = user.get(f"/applications?{name}={value}")
    assert response.status_code == 400
    # marshmallow's Integer refuses some (int() does), the page parser the rest.
    assert response.json["_error"]["type"] in ("invalidQueryParameter", "invalidFields")
    assert name in response.get_data(as_text=True)


def test_limit_above_the_maximum_is_422(user):
    response = user.get("/applications?limit=1001")
    assert response.status_code == 422
    assert response.json["_error"]["attributes"]["name"] == "limit"


def test_limit_at_the_maximum_is_accepted(user):
    assert user.get("/applications?limit=1000").status_code == 200


# --- rate limits ----------------------------------------------------------------------

SECOND_KEY = "second-client-key-0123456789"


@pytest.fixture(params=["local", "shared"])
def rate_counter(request, monkeypatch):
    """Run a test with each counter: this process's (memory://) and the shared one
    (as with redis://, on the limits library's memory storage)."""
    if request.param == "shared":
        monkeypatch.setattr("accountapps.web.limits.LOCAL_STORAGE", ())
    return request.param


def without_token(client, key: str = API_KEY, path: str = "/applications"):
    """A request with an API key (a public app's: anyone has it) but no user token."""
    return client.get(f"{BASE}{path}", headers={"API-Key": key})


@pytest.mark.usefixtures("rate_counter")
class TestRateLimits:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "ACCOUNTAPPS_RATE_LIMIT": "3/minute",
                "ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS": "3/minute",
                "ACCOUNTAPPS_API_KEYS": f"{API_KEY},{SECOND_KEY}"}

    def test_requests_within_the_limit_pass(self, user):
        assert [user.get("/applications").status_code for _ in range(3)] == [200] * 3

    def test_the_request_over_the_limit_is_429_with_retry_after(self, user):
        for _ in range(3):
            user.get("/applications")
        response = user.get("/applications")
        assert response.status_code == 429
        error = response.json["_error"]
        assert error["type"] == "tooManyRequests" and error["statusCode"] == 429
        assert error["attributes"]["budget"] == "user"
        assert 1 <= int(response.headers["Retry-After"]) <= 61
        assert response.mimetype == "application/hal+json"

    def test_the_budget_is_per_user_across_operations(self, user):
        user.get("/applications")
        user.get("/runningApplications")
        user.get("/blockedApplications")
        assert user.get("/applications").status_code == 429

    def test_each_user_of_a_client_has_a_budget_of_its_own(self, user, other):
        for _ in range(4):
            user.get("/applications")
        assert other.get("/applications").status_code == 200

    def test_the_same_user_through_another_client_has_another_budget(self, client, user):
        for _ in range(4):
            user.get("/applications")
        response = client.get(f"{BASE}/applications", headers={
            "API-Key": SECOND_KEY, "Authorization": f"Bearer {token('user-1', USER_SCOPES)}"})
        assert response.status_code == 200

    def test_requests_without_a_valid_key_are_limited_by_address(self, client):
        statuses = [client.get(f"{BASE}/applications", headers={"API-Key": f"guess-{n}"})
                    .status_code for n in range(4)]
        assert statuses == [401, 401, 401, 429]
        assert client.get(f"{BASE}/applications", headers={"API-Key": "guess"}).json[
            "_error"]["attributes"]["budget"] == "address"

    def test_requests_with_a_bad_token_are_limited_by_address(self, client):
        bad = {"API-Key": API_KEY, "Authorization": "Bearer not-a-token"}
        statuses = [client.get(f"{BASE}/applications", headers=bad).status_code
                    for _ in range(4)]
        assert statuses == [401, 401, 401, 429]

    def test_token_less_requests_with_a_clients_key_do_not_spend_its_users_budget(
            self, client, user):
        # The key of a browser or mobile app is public: its holders are anonymous.
        assert {without_token(client).status_code for _ in range(20)} == {401, 429}
        assert [user.get("/applications").status_code for _ in range(3)] == [200] * 3

    def test_a_user_is_served_when_its_address_spent_its_anonymous_budget(self, client, user):
        for _ in range(5):
            without_token(client)
        assert without_token(client).status_code == 429
        assert user.get("/applications").status_code == 200

    def test_the_api_root_with_a_token_counts_against_the_user(self, client, user):
        for _ in range(3):
            assert user.get("/").status_code == 200
        assert user.get("/applications").status_code == 429
        assert without_token(client, path="/").status_code == 200  # the address's budget

    def test_health_probes_are_never_rate_limited(self, client):
        for _ in range(5):
            without_token(client)
        statuses = {client.get(f"{BASE}/health/{probe}").status_code
                    for probe in ("live", "ready") for _ in range(10)}
        assert statuses == {200}

    def test_successful_responses_carry_no_retry_after(self, user):
        assert "Retry-After" not in user.get("/applications").headers

    def test_requests_to_no_route_spend_nothing(self, user):
        for _ in range(4):
            assert user.get("/noSuchResource").status_code == 404
        assert user.get("/applications").status_code == 200

    def test_the_429_names_the_limit(self, user):
        for _ in range(3):
            user.get("/applications")
        assert user.get("/applications").json["_error"]["attributes"]["limit"] == "3 per 1 minute"


@pytest.mark.usefixtures("rate_counter")
class TestClientCeiling:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "ACCOUNTAPPS_RATE_LIMIT": "3/minute",
                "ACCOUNTAPPS_RATE_LIMIT_CLIENT": "4/minute"}

    def test_the_users_of_a_client_together_stop_at_its_ceiling(self, user, other):
        assert [user.get("/applications").status_code for _ in range(3)] == [200] * 3
        assert other.get("/applications").status_code == 200
        refused = other.get("/applications")
        assert refused.status_code == 429
        assert refused.json["_error"]["attributes"]["budget"] == "client"

    def test_a_request_over_its_users_limit_does_not_spend_the_ceiling(self, user, other):
        for _ in range(6):
            user.get("/applications")  # 3 served, 3 refused by the user's own limit
        assert other.get("/applications").status_code == 200


@pytest.mark.parametrize(("address", "key"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("not an address", "not an address"),
])
def test_an_ipv6_address_spends_the_budget_of_its_64(address, key):
    from accountapps.web.limits import address_key

    assert address_key(address) == key


def test_a_rate_that_is_not_a_rate_stops_the_start_up(app_settings):
    with pytest.raises(ValueError, match="ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS"):
        create_app({**app_settings, "ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS": "lots"})


class TestLocalRateLimiter:
    """The per-process fixed-window counter behind ``memory://``."""

    @pytest.fixture
    def clock(self, monkeypatch):
        now = [1000.0]
        monkeypatch.setattr("accountapps.web.limits.time.monotonic", lambda: now[0])
        return now

    def limiter(self, rate: str):
        from limits import parse_many

        from accountapps.web.limits import LocalRateLimiter

        return LocalRateLimiter(parse_many(rate))

    def test_the_request_over_the_amount_is_refused_until_the_window_closes(self, clock):
        limiter = self.limiter("2/minute")
        assert [limiter.hit("a"), limiter.hit("a")] == [None, None]
        clock[0] += 20
        assert limiter.hit("a") == ("2 per 1 minute", 40)

    def test_a_new_window_opens_after_the_period(self, clock):
        limiter = self.limiter("1/minute")
        limiter.hit("a")
        clock[0] += 60
        assert limiter.hit("a") is None

    def test_keys_are_counted_apart(self, clock):
        limiter = self.limiter("1/minute")
        assert [limiter.hit("a"), limiter.hit("b")] == [None, None]

    def test_the_shortest_limit_exceeded_refuses(self, clock):
        limiter = self.limiter("5/minute;1/second")
        limiter.hit("a")
        assert limiter.hit("a") == ("1 per 1 second", 1)

    def test_closed_windows_are_forgotten(self, clock):
        limiter = self.limiter("1/second")
        for n in range(100):
            limiter.hit(f"address-{n}")
        clock[0] += 2
        limiter.hit("a")
        assert len(limiter._windows) == 1


def test_rate_limits_are_off_in_the_test_settings(user):
    assert {user.get("/applications").status_code for _ in range(20)} == {200}


def test_the_default_rate_limits_are_per_user_and_per_address():
    from accountapps.config import DEFAULTS

    assert DEFAULTS["ACCOUNTAPPS_RATE_LIMIT"] == "600/minute"
    assert DEFAULTS["ACCOUNTAPPS_RATE_LIMIT_CLIENT"] == ""
    assert DEFAULTS["ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS"] == "120/minute"
    assert DEFAULTS["ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI"] == "memory://"


# --- rate limits shared through Redis -----------------------------------------------

REDIS_URL = os.environ.get("ACCOUNTAPPS_TEST_REDIS_URL", "").strip()
REQUIRE_REDIS = os.environ.get("ACCOUNTAPPS_TEST_REQUIRE_REDIS", "") in ("1", "true")


@pytest.fixture
def redis_url() -> str:
    """A Redis server emptied for this test (``.ci/run`` starts one)."""
    if not REDIS_URL:
        message = "no ACCOUNTAPPS_TEST_REDIS_URL: the shared rate-limit tests need Redis"
        if REQUIRE_REDIS:
            pytest.fail(message)
        pytest.skip(message)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def workers(app_settings, redis_url):
    """Two apps on one Redis, as two gunicorn workers (or two hosts) are."""
    settings = {**app_settings, "ACCOUNTAPPS_RATE_LIMIT": "3/minute",
                "ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI": redis_url}
    return [create_app(settings).test_client() for _ in range(2)]


def get(worker, key: str = API_KEY) -> int:
    return worker.get(f"{BASE}/applications", headers={
        "API-Key": key, "Authorization": f"Bearer {token('user-1', USER_SCOPES)}"}).status_code


def test_workers_sharing_redis_share_one_budget(workers):
    first, second = workers
    assert [get(first), get(second), get(first), get(second)] == [200, 200, 200, 429]


def test_the_shared_429_is_an_error_response_with_retry_after(workers):
    for _ in range(3):
        get(workers[0])
    response = workers[1].get(f"{BASE}/applications", headers={
        "API-Key": API_KEY, "Authorization": f"Bearer {token('user-1', USER_SCOPES)}"})
    assert response.status_code == 429
    assert response.json["_error"]["type"] == "tooManyRequests"
    assert 1 <= int(response.headers["Retry-After"]) <= 61


def test_through_redis_token_less_requests_spend_only_their_addresss_budget(
        app_settings, redis_url):
    settings = {**app_settings, "ACCOUNTAPPS_RATE_LIMIT": "3/minute",
                "ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS": "2/minute",
                "ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI": redis_url}
    first, second = (create_app(settings).test_client() for _ in range(2))
    assert [without_token(worker).status_code for worker in (first, second, first)] == [
        401, 401, 429]
    assert [get(first), get(second), get(first), get(second)] == [200, 200, 200, 429]


def test_an_unreachable_redis_leaves_each_process_counting_for_itself(app_settings):
    """Redis down: requests within the limit are served (not a 500), and still counted."""
    unreachable = create_app({**app_settings, "ACCOUNTAPPS_RATE_LIMIT": "3/minute",
                              "ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI": "redis://127.0.0.1:9/0"})
    worker = unreachable.test_client()
    assert [get(worker) for _ in range(4)] == [200, 200, 200, 429]
