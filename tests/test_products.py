"""The product catalog as resources: each product, and what it requires before anyone applies.

The requirements come from the same rules as an application's blockers
(``workflow.plan``): the property tests below create, for every shipped product,
applicant type and country, the application a form built from the requirements
would create, and compare.
"""

from __future__ import annotations

import copy
import json
import os
from importlib import resources
from typing import Any

import pytest
from conftest import API_KEY, BASE, USER_SCOPES, Api, headers_for
from jsonschema import Draft202012Validator
from workflow_support import FUNDING_ACCOUNT, document, href, money, patch, person

from accountapps import create_app
from accountapps.domain import catalog, workflow

ROOT = f"http://localhost{BASE}"
PRODUCTS = f"{ROOT}/products"
PREMIERE = "51df9a81-2cb8-4515-aad1-9543b3c4fc18"
PERSONAL_CHECKING = "8b0c3a52-6f0e-4a3c-9d2f-1c7e5b9a4d10"
BUSINESS_CHECKING = "c2f7e8d4-3b1a-4e6f-8a9c-5d0b7e2f1a36"
GLOBAL_SAVINGS = "e5a1c0d7-94b2-4f3e-8c61-2b7d9f0a3e58"
BUSINESS_SAVINGS = "3f9d2b71-6c4e-4a85-b0d3-7e1a5c8f2b94"


def shipped() -> dict[str, Any]:
    text = resources.files("accountapps.domain").joinpath("data/products.json").read_text()
    return json.loads(text)


SHIPPED = shipped()["products"]
SHIPPED_IDS = [item["_id"] for item in SHIPPED]
SHIPPED_NAMES = [item["name"] for item in SHIPPED]
#: every country some product is offered in, and one none is
COUNTRIES = [*sorted({code for item in SHIPPED for code in item["countries"]}), "FR"]


def requirement_ids(body: dict[str, Any]) -> set[str]:
    return {need["_id"] for group in ("fields", "consents", "documents", "relatedParties")
            for need in body[group]}


def applicant_requirements(application: dict[str, Any]) -> set[str]:
    """The requirements the applicant's blockers of an application name."""
    return {b["requirement"] for b in application["blockers"] if b["actor"] == "applicant"}


def requirements_of(api: Api, product_id: str, **query: str):
    return api.get(f"/products/{product_id}/requirements", query_string=query)


def new_application(product_id: str, **fields: Any) -> dict[str, Any]:
    return {"_links": {"apiture:product": {"href": f"{PRODUCTS}/{product_id}"}}, **fields}


def caller(client, name: str) -> Api:
    return Api(client, headers_for(name, USER_SCOPES))


# --- the collection ---------------------------------------------------------------

def test_the_root_links_to_the_catalog(client, user):
    links = client.get(f"{BASE}/", headers={"API-Key": API_KEY}).json["_links"]
    assert links["apiture:products"]["href"] == PRODUCTS
    assert user.get(links["apiture:products"]["href"]).status_code == 200


def test_the_catalog_lists_every_product_in_catalog_order(user):
    page = user.get("/products").json
    assert page["name"] == "products"
    assert page["count"] == len(SHIPPED)
    assert [item["_id"] for item in page["_embedded"]["items"]] == SHIPPED_IDS


def test_an_item_summarises_the_product_and_links_to_it(user):
    (item,) = [i for i in user.get("/products").json["_embedded"]["items"]
               if i["_id"] == GLOBAL_SAVINGS]
    assert {k: item[k] for k in ("name", "type", "currency", "applicantTypes", "countries")} == {
        "name": "Global Savings", "type": "personal", "currency": "USD",
        "applicantTypes": ["individual"], "countries": ["US", "CA", "MX"]}
    assert user.get(href(item, "self")).json["_id"] == GLOBAL_SAVINGS


def test_start_and_limit_page_the_catalog(user):
    page = user.get("/products", query_string={"start": 1, "limit": 2}).json
    assert [i["_id"] for i in page["_embedded"]["items"]] == SHIPPED_IDS[1:3]
    assert (page["start"], page["limit"], page["count"]) == (1, 2, len(SHIPPED))
    assert href(page, "next") == f"{PRODUCTS}?start=3&limit=2"
    assert href(page, "prev") == f"{PRODUCTS}?start=0&limit=1"


def test_following_next_links_visits_every_product_once(user):
    seen, url = [], "/products?limit=4"
    while url:
        page = user.get(url).json
        seen += [i["_id"] for i in page["_embedded"]["items"]]
        url = page["_links"].get("next", {}).get("href")
    assert seen == SHIPPED_IDS


@pytest.mark.parametrize("types, expected", [
    ("business", [BUSINESS_CHECKING, BUSINESS_SAVINGS]),
    ("personal", [i for i in SHIPPED_IDS if i not in (BUSINESS_CHECKING, BUSINESS_SAVINGS)]),
    ("personal|business", SHIPPED_IDS),
])
def test_type_keeps_the_products_of_those_types(user, types, expected):
    page = user.get("/products", query_string={"type": types}).json
    assert [i["_id"] for i in page["_embedded"]["items"]] == expected
    assert page["count"] == len(expected)


def test_page_links_keep_the_type(user):
    page = user.get("/products", query_string={"type": "personal", "limit": 1}).json
    assert href(page, "next") == f"{PRODUCTS}?type=personal&start=1&limit=1"


@pytest.mark.parametrize("query", [{"start": "x"}, {"start": ""}, {"limit": "1.5"},
                                   {"type": "personal;x"}])
def test_malformed_paging_or_type_is_400(user, query):
    response = user.get("/products", query_string=query)
    assert response.status_code == 400, response.json
    assert response.json["_error"]["type"] == "invalidQueryParameter"
    assert response.json["_error"]["attributes"]["name"] == next(iter(query))


@pytest.mark.parametrize("query", [{"start": "-1"}, {"limit": "1001"}, {"type": "savings"},
                                   {"type": "personal|checking"}])
def test_paging_or_type_out_of_range_is_422(user, query):
    # The reference's rule: well formed but otherwise invalid.
    response = user.get("/products", query_string=query)
    assert response.status_code == 422, response.json
    assert response.json["_error"]["type"] == "invalidQueryParameter"
    assert response.json["_error"]["attributes"]["name"] == next(iter(query))


# --- a product ------------------------------------------------------------------

def test_a_product_shows_its_offer_and_funding_limits(user):
    body = user.get(f"/products/{PREMIERE}").json
    assert {k: body[k] for k in ("_id", "name", "type", "currency", "minimumFunding",
                                 "maximumFunding", "applicantTypes", "countries")} == {
        "_id": PREMIERE, "name": "Premiere Savings", "type": "personal", "currency": "USD",
        "minimumFunding": {"value": "100.00", "currency": "USD"},
        "maximumFunding": {"value": "250000.00", "currency": "USD"},
        "applicantTypes": ["individual"], "countries": ["US"]}
    assert body["_profile"] == f"{ROOT}/schemas/product/v1.0.0/profile.json"
    assert href(body, "self") == f"{PRODUCTS}/{PREMIERE}"


def test_a_product_shows_its_current_workflow_with_who_and_what_completes_each_task(user):
    flow = user.get(f"/products/{PREMIERE}").json["workflow"]
    assert (flow["_id"], flow["version"]) == ("premiere-savings", 1)
    tasks = {task["_id"]: task for task in flow["tasks"]}
    assert [t["_id"] for t in flow["tasks"]] == [
        "identity", "funding", "consent-terms", "consent-electronic", "consent-privacy",
        "approval"]
    assert {t["_id"]: t["actor"] for t in flow["tasks"]} == {
        "identity": "institution", "funding": "applicant", "consent-terms": "applicant",
        "consent-electronic": "applicant", "consent-privacy": "applicant",
        "approval": "institution"}
    assert tasks["funding"]["completion"] == (
        "fundingAccount is given, and fundingAmount between 100.00 and 250000.00 USD.")
    assert tasks["consent-privacy"]["consent"] == "privacyPolicy"
    assert tasks["consent-privacy"]["completion"] == "A consent of type privacyPolicy is given."


def test_a_task_that_applies_to_some_applicants_says_to_whom(user):
    tasks = {t["_id"]: t for t in user.get(f"/products/{GLOBAL_SAVINGS}").json["workflow"]["tasks"]}
    assert tasks["document-w8ben"]["when"] == {"exceptCountries": ["US"]}
    assert tasks["review-w8ben"]["when"] == {"exceptCountries": ["US"]}
    assert "when" not in tasks["document-governmentId"]


def test_an_unknown_product_is_404(user):
    response = user.get("/products/no-such-product")
    assert response.status_code == 404
    assert response.json["_error"]["type"] == "notFound"
    assert requirements_of(user, "no-such-product").status_code == 404


def test_any_banking_read_token_reads_the_catalog(client):
    reader = Api(client, headers_for("someone", "banking/read"))
    for path in ("/products", f"/products/{PREMIERE}", f"/products/{PREMIERE}/requirements"):
        assert reader.get(path).status_code == 200, path
        assert Api(client, headers_for("someone", "banking/write")).get(path).status_code == 403
        assert Api(client, {"API-Key": API_KEY}).get(path).status_code == 401


# --- ETags ----------------------------------------------------------------------

RESOURCES = ["/products", "/products?type=business", f"/products/{PREMIERE}",
             f"/products/{GLOBAL_SAVINGS}/requirements?country=CA"]


@pytest.mark.parametrize("path", RESOURCES)
def test_a_catalog_resource_has_a_strong_etag_and_a_matching_if_none_match_is_304(user, path):
    first = user.get(path)
    tag = first.headers["ETag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    again = user.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == tag
    assert user.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_profiles_the_catalog_names_are_served_and_describe_it(client, user):
    bodies = [user.get("/products").json, user.get(f"/products/{BUSINESS_SAVINGS}").json,
              requirements_of(user, BUSINESS_SAVINGS, applicantType="business").json]
    bodies += bodies[0]["_embedded"]["items"]
    for body in bodies:
        schema = client.get(body["_profile"]).json  # no credentials: profiles are public
        Draft202012Validator.check_schema(schema)
        assert not list(Draft202012Validator(schema).iter_errors(body)), body["_profile"]


def test_each_product_has_its_own_etag(user):
    tags = {user.get(f"/products/{pid}").headers["ETag"] for pid in SHIPPED_IDS}
    assert len(tags) == len(SHIPPED_IDS)


# --- requirements -----------------------------------------------------------------

def test_the_product_links_to_its_requirements_with_a_template(user):
    link = user.get(f"/products/{GLOBAL_SAVINGS}").json["_links"]["apiture:requirements"]
    template = f"{PRODUCTS}/{GLOBAL_SAVINGS}/requirements{{?applicantType,country}}"
    assert link == {"href": template, "templated": True}
    expanded = link["href"].replace("{?applicantType,country}",
                                    "?applicantType=individual&country=CA")
    assert user.get(expanded).status_code == 200


def test_requirements_list_fields_consents_documents_and_related_party_roles(user):
    body = requirements_of(user, BUSINESS_CHECKING, applicantType="business", country="US").json
    assert [n["name"] for n in body["fields"]] == [
        "organization.name", "organization.type", "organization.taxId", "applicants",
        "fundingAccount", "fundingAmount"]
    assert [n["name"] for n in body["relatedParties"]] == [
        "director", "beneficialOwner", "authorizedSigner"]
    assert [n["name"] for n in body["documents"]] == ["articlesOfIncorporation", "governmentId"]
    assert [n["name"] for n in body["consents"]] == [
        "productTermsAndConditions", "electronicConsent", "privacyPolicy"]
    amount = next(n for n in body["fields"] if n["name"] == "fundingAmount")
    assert amount == {"_id": "field:fundingAmount", "kind": "field", "name": "fundingAmount",
                      "field": "fundingAmount", "task": "funding",
                      "label": "Choose the funding account and amount",
                      "attributes": {"currency": "USD", "minimum": "500.00",
                                     "maximum": "1000000.00"}}
    assert body["workflow"] == {"_id": "business-checking", "version": 1}
    assert href(body, "apiture:product") == f"{PRODUCTS}/{BUSINESS_CHECKING}"


def test_requirements_differ_by_country(user):
    us = requirements_of(user, GLOBAL_SAVINGS, country="US").json
    ca = requirements_of(user, GLOBAL_SAVINGS, country="CA").json
    assert [n["name"] for n in us["documents"]] == ["governmentId"]
    assert [n["name"] for n in ca["documents"]] == ["governmentId", "w8ben"]
    assert requirement_ids(us) - requirement_ids(ca) == {"consent:electronicConsent"}
    assert requirement_ids(ca) - requirement_ids(us) == {"document:w8ben"}


def test_requirements_differ_by_applicant_type(user):
    person_ = requirements_of(user, BUSINESS_SAVINGS, applicantType="individual").json
    business = requirements_of(user, BUSINESS_SAVINGS, applicantType="business").json
    assert [n["name"] for n in person_["documents"]] == ["businessLicense"]
    assert person_["relatedParties"] == []
    assert [n["name"] for n in business["documents"]] == ["articlesOfIncorporation"]
    assert [n["name"] for n in business["relatedParties"]] == ["beneficialOwner",
                                                               "authorizedSigner"]


def test_a_product_offered_to_one_type_in_one_country_needs_no_parameters(user):
    body = requirements_of(user, PREMIERE).json
    assert (body["applicantType"], body["country"]) == ("individual", "US")
    assert href(body, "self") == (
        f"{PRODUCTS}/{PREMIERE}/requirements?applicantType=individual&country=US")


@pytest.mark.parametrize("product, query, name", [
    (GLOBAL_SAVINGS, {}, "country"),
    (BUSINESS_SAVINGS, {"country": "US"}, "applicantType"),
])
def test_a_choice_the_product_offers_must_be_made_400(user, product, query, name):
    response = requirements_of(user, product, **query)
    assert response.status_code == 400, response.json
    assert response.json["_error"]["type"] == "missingQueryParameter"
    assert response.json["_error"]["attributes"]["name"] == name


@pytest.mark.parametrize("query, name", [
    ({"applicantType": "robot"}, "applicantType"), ({"country": "usa"}, "country"),
    ({"country": "us"}, "country"), ({"country": "U1"}, "country"),
])
def test_a_malformed_applicant_type_or_country_is_400(user, query, name):
    response = requirements_of(user, PREMIERE, **query)
    assert response.status_code == 400, response.json
    assert response.json["_error"]["type"] == "invalidQueryParameter"
    assert response.json["_error"]["attributes"]["name"] == name


@pytest.mark.parametrize("query, name", [
    ({"applicantType": "business"}, "applicantType"), ({"country": "CA"}, "country")])
def test_an_applicant_the_product_is_not_offered_to_is_422(user, query, name):
    response = requirements_of(user, PREMIERE, **query)
    assert response.status_code == 422, response.json
    assert response.json["_error"]["type"] == "productNotOffered"
    assert response.json["_error"]["attributes"]["name"] == name


# --- the requirements are what the blockers of a new application show ----------------

@pytest.mark.parametrize("product_id", SHIPPED_IDS, ids=SHIPPED_NAMES)
def test_a_new_applications_blockers_name_exactly_the_requirements(client, product_id):
    """For every applicant type and country: the application made with nothing but who
    applies is blocked by exactly what the requirements list; where the product is not
    offered, both say so."""
    disagreements = {}
    for applicant_type in workflow.APPLICANT_TYPES:
        for country in COUNTRIES:
            api = caller(client, f"{product_id[:8]}-{applicant_type}-{country}")
            listed = requirements_of(api, product_id, applicantType=applicant_type,
                                     country=country)
            created = api.post("/applications", new_application(
                product_id, applicantType=applicant_type, country=country))
            if listed.status_code == 422:
                assert created.status_code == 422, (applicant_type, country, created.json)
                assert created.json["_error"]["_embedded"]["errors"][0]["type"] == (
                    "productNotOffered")
                continue
            assert (listed.status_code, created.status_code) == (200, 201), (
                applicant_type, country, created.json)
            blocked_by = {b.get("requirement") for b in created.json["blockers"]}
            if blocked_by != requirement_ids(listed.json):
                disagreements[applicant_type, country] = (
                    sorted(blocked_by), sorted(requirement_ids(listed.json)))
    assert disagreements == {}


ORGANIZATION = {"name": "Arendelle Ice Ltd", "type": "corporation", "taxId": "12-3456789"}


def fill(requirements: dict[str, Any]) -> dict[str, Any]:
    """The body a form built from ``requirements`` sends: each input in its field."""
    body: dict[str, Any] = {"applicants": [], "consents": [], "documents": []}
    for need in (*requirements["fields"], *requirements["consents"],
                 *requirements["documents"], *requirements["relatedParties"]):
        where, name = need["field"], need["name"]
        if need["kind"] == "relatedParty":
            body["applicants"].append(person(name.capitalize(), "Party", name))
        elif where == "applicants":
            body["applicants"].append(person("Elsa", "Snowqueen"))
        elif where in ("consents", "documents"):
            body[where].append({"type": name, "state": "given"} if where == "consents"
                               else document(name))
        elif where == "fundingAccount":
            body["fundingAccount"] = FUNDING_ACCOUNT
        elif where == "fundingAmount":
            limits = need["attributes"]
            body["fundingAmount"] = money(limits["minimum"], limits["currency"])
        else:
            body.setdefault("organization", {})[where.removeprefix("organization.")] = (
                ORGANIZATION[where.removeprefix("organization.")])
    return body


@pytest.mark.parametrize("product_id", SHIPPED_IDS, ids=SHIPPED_NAMES)
def test_giving_what_the_requirements_list_leaves_the_applicant_nothing_to_do(
        client, product_id):
    """The converse: an application with every listed input has no applicant's blocker,
    only the institution's work (identity verifications, document reviews) left."""
    left = {}
    for applicant_type in workflow.APPLICANT_TYPES:
        for country in COUNTRIES:
            api = caller(client, f"filled-{product_id[:8]}-{applicant_type}-{country}")
            listed = requirements_of(api, product_id, applicantType=applicant_type,
                                     country=country)
            if listed.status_code != 200:
                continue
            created = api.post("/applications", new_application(
                product_id, applicantType=applicant_type, country=country, **fill(listed.json)))
            assert created.status_code == 201, created.json
            mine = [b["code"] for b in created.json["blockers"] if b["actor"] == "applicant"]
            if mine or created.json["workflowState"] != "waitingForInstitution":
                left[applicant_type, country] = mine
    assert left == {}


# --- who applies, on the application ------------------------------------------------

def test_an_application_shows_who_applies_filled_in_from_the_product(user):
    created = user.post("/applications", new_application(PREMIERE))
    assert created.status_code == 201, created.json
    assert (created.json["applicantType"], created.json["country"]) == ("individual", "US")


def test_an_application_for_a_product_offered_in_several_countries_needs_the_country(user):
    response = user.post("/applications", new_application(GLOBAL_SAVINGS))
    assert response.status_code == 400, response.json
    (error,) = response.json["_error"]["_embedded"]["errors"]
    assert (error["type"], error["attributes"]["name"]) == ("countryRequired", "country")
    assert error["attributes"]["offered"] == ["US", "CA", "MX"]


def test_an_application_for_an_applicant_the_product_is_not_offered_to_is_422(user):
    response = user.post("/applications", new_application(PREMIERE, country="FR"))
    assert response.status_code == 422, response.json
    (error,) = response.json["_error"]["_embedded"]["errors"]
    assert (error["type"], error["attributes"]["name"]) == ("productNotOffered", "country")


def test_a_country_that_is_no_country_is_400(user):
    response = user.post("/applications", new_application(GLOBAL_SAVINGS, country="XX"))
    assert response.status_code == 400, response.json


def test_moving_the_applicant_to_another_country_changes_what_blocks_it(user):
    created = user.post("/applications", new_application(GLOBAL_SAVINGS, country="US"))
    assert "document:w8ben" not in applicant_requirements(created.json)
    moved = patch(user, created, {"country": "CA"})
    assert moved.status_code == 200, moved.json
    assert moved.json["country"] == "CA"
    assert applicant_requirements(moved.json) == requirement_ids(
        requirements_of(user, GLOBAL_SAVINGS, country="CA").json)


def test_an_update_that_leaves_out_who_applies_keeps_it(user):
    created = user.post("/applications", new_application(GLOBAL_SAVINGS, country="MX"))
    body = {k: v for k, v in created.json.items() if k not in ("applicantType", "country")}
    replaced = user.put(href(created.json, "self"), json=body,
                        headers={"If-Match": created.headers["ETag"]})
    assert replaced.status_code == 200, replaced.json
    assert (replaced.json["applicantType"], replaced.json["country"]) == ("individual", "MX")


def test_an_update_to_a_country_the_product_is_not_offered_in_is_422(user):
    created = user.post("/applications", new_application(GLOBAL_SAVINGS, country="US"))
    response = patch(user, created, {"country": "FR"})
    assert response.status_code == 422, response.json
    assert user.get(href(created.json, "self")).json["country"] == "US"


# --- links between applications and the catalog ---------------------------------------

def test_an_applications_product_link_leads_to_the_product(user):
    created = user.post("/applications", new_application(BUSINESS_CHECKING))
    product = user.get(href(created.json, "apiture:product"))
    assert product.status_code == 200
    assert product.json["_id"] == BUSINESS_CHECKING


def test_an_application_is_created_from_the_products_own_link(user):
    product_self = href(user.get(f"/products/{PERSONAL_CHECKING}").json, "self")
    created = user.post("/applications", {
        "_links": {"apiture:product": {"href": product_self}},
        "products": [{"_links": {"self": {"href": product_self}}}]})
    assert created.status_code == 201, created.json
    assert created.json["productName"] == "Personal Checking"
    assert created.json["products"][0]["name"] == "Personal Checking"
    assert href(created.json, "apiture:product") == product_self


def test_an_application_is_still_created_from_the_references_product_link(user):
    created = user.post("/applications", {"_links": {"apiture:product": {
        "href": f"https://www.example.com/products/products/{PERSONAL_CHECKING}"}}})
    assert created.status_code == 201, created.json
    assert href(created.json, "apiture:product") == f"{PRODUCTS}/{PERSONAL_CHECKING}"


# --- the catalog changes while the service runs ------------------------------------

@pytest.fixture
def catalog_file(tmp_path):
    path = tmp_path / "products.json"
    path.write_text(json.dumps(shipped()))
    return path


@pytest.fixture
def app_settings(app_settings, catalog_file):
    """Every test here reads the catalog from a file (a copy of the shipped one), so that
    the tests below can change it while the service runs."""
    return {**app_settings, "ACCOUNTAPPS_CATALOG_FILE": str(catalog_file)}


def publish(path, change) -> None:
    """The institution edits its catalog file (a later modification time)."""
    data = shipped()
    products = {item["_id"]: item for item in data["products"]}
    change(products)
    data["products"] = list(products.values())
    stat = os.stat(path)
    path.write_text(json.dumps(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def renamed_with_a_proof_of_address(products: dict[str, Any]) -> None:
    premiere = products[PREMIERE]
    premiere["name"] = "Premiere Savings Plus"
    premiere["countries"] = ["US", "CA"]
    premiere["workflow"]["version"] = 2
    premiere["workflow"]["tasks"][1:1] = [
        {"_id": "document-proofOfAddress", "type": "document", "document": "proofOfAddress",
         "when": {"countries": ["CA"]}, "label": "Provide a proof of address"}]


def test_the_catalog_resources_follow_a_changed_catalog_file(user, catalog_file):
    before = {path: user.get(path) for path in ("/products", f"/products/{PREMIERE}")}
    publish(catalog_file, renamed_with_a_proof_of_address)
    product = user.get(f"/products/{PREMIERE}",
                       headers={"If-None-Match": before[f"/products/{PREMIERE}"].headers["ETag"]})
    assert product.status_code == 200
    assert product.json["name"] == "Premiere Savings Plus"
    assert product.json["workflow"]["version"] == 2
    page = user.get("/products", headers={"If-None-Match": before["/products"].headers["ETag"]})
    assert page.status_code == 200
    assert page.json["_embedded"]["items"][0]["name"] == "Premiere Savings Plus"
    canada = requirements_of(user, PREMIERE, country="CA").json
    assert [n["name"] for n in canada["documents"]] == ["proofOfAddress"]
    assert requirements_of(user, PREMIERE).status_code == 400  # two countries now: say which


def test_an_unchanged_product_keeps_its_etag_when_another_changes(user, catalog_file):
    before = user.get(f"/products/{PERSONAL_CHECKING}").headers["ETag"]
    publish(catalog_file, renamed_with_a_proof_of_address)
    assert user.get(f"/products/{PERSONAL_CHECKING}",
                    headers={"If-None-Match": before}).status_code == 304


def test_an_application_keeps_the_product_and_workflow_it_was_created_with(
        user, other, catalog_file):
    before = user.post("/applications", new_application(PREMIERE))
    publish(catalog_file, renamed_with_a_proof_of_address)
    after = other.post("/applications", new_application(PREMIERE, country="CA"))

    kept = user.get(href(before.json, "self")).json
    assert kept["productName"] == "Premiere Savings"
    assert user.get(href(kept, "apiture:workflow")).json["definition"]["version"] == 1
    assert applicant_requirements(kept) == applicant_requirements(before.json)
    assert after.json["productName"] == "Premiere Savings Plus"
    assert other.get(href(after.json, "apiture:workflow")).json["definition"]["version"] == 2
    assert "document:proofOfAddress" in applicant_requirements(after.json)
    # The old application is judged by the offer it was made under: CA was not part of it.
    assert patch(user, before, {"country": "CA"}).status_code == 422


def test_a_product_gone_from_the_catalog_is_404_and_its_applications_stay(
        user, catalog_file):
    created = user.post("/applications", new_application(PREMIERE))
    publish(catalog_file, lambda products: products.pop(PREMIERE))
    assert user.get(href(created.json, "apiture:product")).status_code == 404
    kept = user.get(href(created.json, "self"))
    assert kept.status_code == 200
    assert kept.json["productName"] == "Premiere Savings"


def test_a_catalog_file_broken_mid_flight_leaves_the_last_catalog_in_force(
        user, catalog_file, caplog):
    before = user.get(f"/products/{PREMIERE}")
    stat = os.stat(catalog_file)
    catalog_file.write_text('{"products": [')  # half written
    os.utime(catalog_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    still = user.get(f"/products/{PREMIERE}")
    assert still.status_code == 200
    assert still.headers["ETag"] == before.headers["ETag"]
    assert user.post("/applications", new_application(PREMIERE)).status_code == 201
    assert "not a product catalog" in caplog.text
    publish(catalog_file, renamed_with_a_proof_of_address)
    assert user.get(f"/products/{PREMIERE}").json["name"] == "Premiere Savings Plus"


def test_a_catalog_that_is_not_one_stops_the_service_at_start_up(app_settings, catalog_file):
    catalog_file.write_text(premiere_with(_when("funding", {"countries": ["CA"]})))
    with pytest.raises(ValueError, match="not offered in"):
        create_app(app_settings)


# --- the catalog format ----------------------------------------------------------------

def premiere_with(change) -> str:
    data = shipped()
    change(next(p for p in data["products"] if p["_id"] == PREMIERE))
    return json.dumps(data)


def _task(product: dict, task_id: str) -> dict:
    return next(t for t in product["workflow"]["tasks"] if t["_id"] == task_id)


def _when(task_id: str, when: Any):
    def change(product: dict) -> None:
        _task(product, task_id)["when"] = when
    return change


BROKEN = {
    "unknown condition": _when("funding", {"income": ["high"]}),
    "empty condition": _when("funding", {}),
    "empty list": _when("funding", {"countries": []}),
    "not a list": _when("funding", {"countries": "US"}),
    "repeated country": _when("funding", {"countries": ["US", "US"]}),
    "lower-case country": _when("funding", {"countries": ["us"]}),
    "country not offered": _when("funding", {"countries": ["CA"]}),
    "applicant type not offered": _when("funding", {"applicantTypes": ["business"]}),
    "both countries and exceptCountries": _when(
        "funding", {"countries": ["US"], "exceptCountries": ["CA"]}),
    "a condition on the approval": _when("approval", {"countries": ["US"]}),
    "an input asked twice": lambda p: p["workflow"]["tasks"].insert(1, copy.deepcopy(
        _task(p, "consent-terms")) | {"_id": "again"}),
    "no countries": lambda p: p.update(countries=[]),
    "a country that is no code": lambda p: p.update(countries=["USA"]),
    "an unknown applicant type": lambda p: p.update(applicantTypes=["robot"]),
    "an unknown product type": lambda p: p.update(type="savings"),
    "an id that is no reference": lambda p: p.update(_id="has spaces"),
}


@pytest.mark.parametrize("broken", BROKEN.values(), ids=BROKEN.keys())
def test_a_catalog_in_a_format_it_does_not_follow_is_refused_when_it_loads(broken):
    with pytest.raises(ValueError):
        catalog._parse(premiere_with(broken), "test")


def test_a_review_applies_when_its_document_does():
    checking = next(p for p in SHIPPED if p["_id"] == PERSONAL_CHECKING)
    definition = copy.deepcopy(checking["workflow"])
    _task({"workflow": definition}, "document-governmentId")["when"] = {"countries": ["US"]}
    validated = workflow.validate_definition(definition, "test", countries=["US", "CA"])
    assert _task({"workflow": validated}, "review-governmentId")["when"] == {"countries": ["US"]}
    _task({"workflow": definition}, "review-governmentId")["when"] = {"countries": ["CA"]}
    with pytest.raises(ValueError, match="the governmentId document is asked for"):
        workflow.validate_definition(definition, "test", countries=["US", "CA"])


def test_a_catalog_without_an_offer_offers_by_product_type_in_the_us():
    data = shipped()
    data["products"] = [item for item in data["products"]  # those written before offers
                        if item["_id"] not in (GLOBAL_SAVINGS, BUSINESS_SAVINGS)]
    for item in data["products"]:
        item.pop("applicantTypes"), item.pop("countries")
    loaded = catalog._parse(json.dumps(data), "old format").products
    assert loaded[BUSINESS_CHECKING].applicant_types == ("business",)
    assert loaded[PREMIERE].applicant_types == ("individual",)
    assert {p.countries for p in loaded.values()} == {("US",)}
