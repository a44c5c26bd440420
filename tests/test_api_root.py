"""The API root: a HAL document that leads to every collection."""

from conftest import API_KEY, BASE

COLLECTION_RELS = {
    "apiture:applications": "/applications",
    "apiture:runningApplications": "/runningApplications",
    "apiture:blockedApplications": "/blockedApplications",
    "apiture:approvedApplications": "/approvedApplications",
    "apiture:rejectedApplications": "/rejectedApplications",
    "apiture:canceledApplications": "/canceledApplications",
    "apiture:expiredApplications": "/expiredApplications",
}


def test_root_needs_only_the_api_key(client):
    response = client.get(f"{BASE}/", headers={"API-Key": API_KEY})
    assert response.status_code == 200
    assert response.mimetype == "application/hal+json"


def test_root_without_api_key_is_401_error_response(client):
    response = client.get(f"{BASE}/")
    assert response.status_code == 401
    assert response.json["_error"]["statusCode"] == 401


def test_root_links_to_every_application_collection_with_absolute_hrefs(client):
    links = client.get(f"{BASE}/", headers={"API-Key": API_KEY}).json["_links"]
    for rel, path in COLLECTION_RELS.items():
        assert links[rel]["href"] == f"http://localhost{BASE}{path}", rel
    assert links["self"]["href"] == f"http://localhost{BASE}/"


def test_root_has_id_and_profile(client):
    body = client.get(f"{BASE}/", headers={"API-Key": API_KEY}).json
    assert body["_id"]
    assert body["_profile"].startswith("http://localhost/")


def test_every_collection_linked_from_the_root_can_be_read(client, user):
    links = client.get(f"{BASE}/", headers={"API-Key": API_KEY}).json["_links"]
    for rel in ("apiture:applications", "apiture:runningApplications",
                "apiture:blockedApplications"):
        response = user.get(links[rel]["href"])
        assert response.status_code == 200, rel
        assert response.json["_embedded"]["items"] == []


def test_api_doc_is_linked_and_served(client):
    links = client.get(f"{BASE}/", headers={"API-Key": API_KEY}).json["_links"]
    response = client.get(links["apiture:apiDoc"]["href"], headers={"API-Key": API_KEY})
    assert response.status_code == 200
    assert response.json["openapi"].startswith("3.")
