"""The printable record: each application and enrollment as a PDF (``GET .../{id}/record``).

The record's text is read back with pypdf, so each test says what a person
reading (or searching, or copying from) the PDF finds in it.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import datetime

import pytest
from conftest import AUDITOR_SCOPES, USER_SCOPES, Api, headers_for
from enrollment_support import VERIFIED_IDENTITY, create, enrollment_body
from pypdf import PdfReader
from workflow_support import (
    BUSINESS_CHECKING,
    complete_personal,
    document,
    href,
    money,
    person,
    review,
    verify,
    verify_all,
)

from accountapps.config import load_settings

INSTITUTION = "First Bank of Arendelle"
PARTIES = [person("Elsa", "Snowqueen", "authorizedSigner"),
           person("Anna", "Arendelle", "director"),
           person("Kristoff", "Bjorgman", "beneficialOwner")]


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "ACCOUNTAPPS_INSTITUTION_NAME": INSTITUTION}


def pdf_text(response) -> str:
    """The text of every page of a record response (asserting it is a PDF)."""
    assert response.status_code == 200, response.get_data()[:300]
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.data))
    return "\n".join(page.extract_text() for page in reader.pages)


def record_of(api: Api, resource) -> object:
    """GET the record through the resource's ``apiture:record`` link (as ``api`` sees it)."""
    seen = api.get(href(resource.json, "self"))
    return api.get(href(seen.json, "apiture:record"))


def approved_personal(user, admin):
    """A personal application, verified, then approved with a reason."""
    created = user.post("/applications", complete_personal())
    assert created.status_code == 201, created.json
    ready = verify_all(admin, created)
    approved = admin.post(href(admin.get(href(ready.json, "self")).json, "apiture:approve"),
                          json={"reason": "Everything checks out."})
    assert approved.status_code == 200, approved.json
    return approved


def business(user, admin):
    """A business application with three parties, one verified, one document rejected."""
    created = user.post("/applications", complete_personal(
        BUSINESS_CHECKING, fundingAmount=money("5000.00"), applicants=PARTIES,
        organization={"name": "Arendelle Ice Ltd", "type": "corporation", "taxId": "12-3456789"},
        documents=[document("articlesOfIncorporation"), document("governmentId")]))
    assert created.status_code == 201, created.json
    verified = verify(admin, created, created.json["applicants"][0]["_id"])
    return review(admin, verified, verified.json["documents"][0]["_id"], "rejected",
                  "The copy has expired.")


# --- what a record shows -------------------------------------------------------

def test_a_personal_application_record_shows_its_fields(user, admin):
    application = approved_personal(user, admin)
    text = pdf_text(record_of(admin, application))
    for expected in (
        INSTITUTION, "Account application record", "Generated ", application.json["_id"],
        "Premiere Savings", "premiere-savings version 1",
        "Elsa Snowqueen", "primary user", "verified,",
        "1500.00 USD", "Elsa Snowqueen, 3rd Party Bank", "021000021",
        "product terms and conditions — given", "privacy policy — given",
        "Approve the account", "Decided by", "admin-1", "Everything checks out.",
        "Audit trail", "(new) → running", "running → approved",
    ):
        assert expected in text, expected


def test_a_business_application_record_shows_the_organization_and_every_party(user, admin):
    text = pdf_text(record_of(admin, business(user, admin)))
    for expected in (
        "Business Checking", "Arendelle Ice Ltd", "corporation", "12-3456789",
        "Elsa Snowqueen", "authorized signer", "Anna Arendelle", "director",
        "Kristoff Bjorgman", "beneficial owner", "not verified yet", "5000.00 USD",
        "articlesOfIncorporation.pdf", "rejected", "The copy has expired.",
        "What still blocks approval", "The identity of Anna Arendelle is not verified yet.",
    ):
        assert expected in text, expected


def test_an_enrollment_record_shows_the_applicant_verifications_and_requirements(user, admin):
    enrollment = create(admin, enrollment_body())
    text = pdf_text(record_of(admin, enrollment))
    for expected in (
        INSTITUTION, "Digital banking enrollment record", enrollment.json["_id"],
        "John Daniel Smith MD", "Primary User", "111-11-1111",
        "Verifications", "fraud risk report", "product terms and conditions — given",
        "Required documents", "government id", "Requirements still open",
        "The applicant has not given the privacyPolicy consent.", "Audit trail",
        "(new) → running",
    ):
        assert expected in text, expected


def test_an_enrollment_record_shows_a_verified_identity(user, admin):
    enrollment = create(user)
    fetched = admin.get(href(enrollment.json, "self"))
    admin.patch(href(fetched.json, "self"), VERIFIED_IDENTITY,
                headers={"If-Match": fetched.headers["ETag"]})
    text = pdf_text(record_of(user, enrollment))
    assert "verified, score passed, IDology" in text


def test_the_record_is_named_for_its_resource(user, application):
    response = record_of(user, application)
    assert response.headers["Content-Disposition"] == (
        f'inline; filename="application-{application.json["_id"]}.pdf"')


def test_a_non_ascii_name_is_real_text(user, admin):
    created = user.post("/applications", complete_personal(
        applicants=[person("Zoë", "Ångström", "primaryUser")]))
    text = pdf_text(record_of(user, created))
    assert "Zoë Ångström" in text


def test_a_character_the_font_lacks_prints_as_a_replacement_mark(user):
    created = user.post("/applications", complete_personal(
        applicants=[person("Taro", "Yamada", "primaryUser")], accountName="山田 savings"))
    text = pdf_text(record_of(user, created))
    assert "\ufffd\ufffd savings" in text


def test_text_that_looks_like_a_page_count_alias_prints_as_written(user):
    created = user.post("/applications", complete_personal(accountName="Savings {nb}"))
    text = pdf_text(record_of(user, created))
    assert "Savings {nb}" in text and "Page 1 of 2" in text


def test_the_largest_application_the_service_accepts_has_a_record(user, admin):
    long_name = "Ж" * 60 + " " + "x" * 190  # a word wider than its column, in Cyrillic
    applicants = [{"username": f"party-{index}", "contact": {
        "firstName": long_name, "lastName": "L" * 255, "suffix": "S" * 32},
        "role": {"name": "director", "label": "D" * 255}} for index in range(10)]
    documents = [{"type": "governmentId", "name": "n" * 255,
                  "uri": "https://files.example.com/" + "a" * 2000} for _ in range(50)]
    created = user.post("/applications", complete_personal(
        BUSINESS_CHECKING, applicants=applicants, documents=documents,
        accountName="\u2028" + "A" * 254, organization={"name": "O" * 255}))
    assert created.status_code == 201, created.json
    response = record_of(admin, created)
    assert long_name[:20] in pdf_text(response)
    assert len(PdfReader(io.BytesIO(response.data)).pages) > 5


def test_the_first_page_renders_to_an_image(user, admin, tmp_path):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm is not installed (Debian package poppler-utils; .ci/poppler.sh)")
    path = tmp_path / "record.pdf"
    path.write_bytes(record_of(admin, business(user, admin)).data)
    done = subprocess.run([pdftoppm, "-png", "-r", "50", "-f", "1", "-l", "1", str(path),
                           str(tmp_path / "page")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    (image,) = tmp_path.glob("page*.png")
    assert image.read_bytes().startswith(b"\x89PNG") and image.stat().st_size > 5000


def _pages_as_images(pdftoppm: str, data: bytes, folder) -> list[bytes]:
    folder.mkdir()
    (folder / "record.pdf").write_bytes(data)
    done = subprocess.run([pdftoppm, "-png", "-r", "60", str(folder / "record.pdf"),
                           str(folder / "page")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [image.read_bytes() for image in sorted(folder.glob("page*.png"))]


def test_the_font_tables_a_record_leaves_out_change_no_pixel(user, admin, tmp_path,
                                                             monkeypatch):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm is not installed (Debian package poppler-utils; .ci/poppler.sh)")
    from accountapps.representations import record
    from accountapps.resources import records

    class Frozen(datetime):  # both records say they were generated at the same moment
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 12, 8, 9, 30, tzinfo=tz)

    monkeypatch.setattr(records, "datetime", Frozen)
    application = business(user, admin)
    lean = record_of(admin, application).data
    monkeypatch.setattr(record, "_UNREAD_TABLES", ())
    whole = record_of(admin, application).data
    assert len(whole) > len(lean)  # the tables were left out of the first
    assert (_pages_as_images(pdftoppm, lean, tmp_path / "lean")
            == _pages_as_images(pdftoppm, whole, tmp_path / "whole"))


def test_a_record_parses_no_font(user, monkeypatch):
    import fpdf.fonts

    created = user.post("/applications", complete_personal())
    assert record_of(user, created).status_code == 200  # the fonts are parsed by now
    parsed = []
    parse = fpdf.fonts.TTFFont.__init__

    def counting(self, *args, **kwargs):
        parsed.append(args[1])
        parse(self, *args, **kwargs)

    monkeypatch.setattr(fpdf.fonts.TTFFont, "__init__", counting)
    assert "Account application record" in pdf_text(record_of(user, created))
    assert parsed == []


def test_documents_share_no_part_of_a_font_that_writing_them_changes():
    from accountapps.representations import record

    context = record.Context(institution=INSTITUTION, generated_at=datetime(2026, 12, 8),
                             masked=True, trail=None)
    first, second = (record._Page("Record", "a1", context) for _ in range(2))
    for key, font in first.fonts.items():
        other = second.fonts[key]
        assert other is not font
        for part in ("desc", "subset", "missing_glyphs", "ttfont"):
            assert getattr(other, part) is not getattr(font, part), part


# --- masking: exactly as the JSON for the same caller ----------------------------

def test_without_read_pii_the_record_masks_the_tax_id_and_account_number(user, admin):
    application = business(user, admin)
    seen = user.get(href(application.json, "self")).json
    text = pdf_text(record_of(user, application))
    assert "12-3456789" not in text and "9876543210" not in text
    assert seen["organization"]["taxId"] in text
    assert seen["fundingAccount"]["accountNumbers"]["full"] in text
    assert "Personal data is masked for this reader" in text


def test_with_read_pii_the_record_shows_personal_data(client, user, admin):
    application = business(user, admin)
    reader = Api(client, headers_for("user-1", f"{USER_SCOPES} profiles/readPii"))
    text = pdf_text(record_of(reader, application))
    assert "12-3456789" in text and "9876543210" in text
    assert "Personal data is shown in full." in text


def test_without_read_pii_an_enrollment_record_masks_personal_data(client, admin):
    enrollment = create(admin)
    reader = Api(client, headers_for("admin-1", USER_SCOPES))  # the creator, without PII
    text = pdf_text(record_of(reader, enrollment))
    for hidden in ("111-11-1111", "112-22-3333", "api@apiture.com", "555-5555", "1974-10-27"):
        assert hidden not in text, hidden
    assert "*******1111" in text and "*****@apiture.com" in text


# --- who may read it ---------------------------------------------------------

def test_the_owner_and_the_institution_are_offered_the_record(user, admin, application):
    for api in (user, admin):
        links = api.get(href(application.json, "self")).json["_links"]
        assert links["apiture:record"]["href"] == href(application.json, "self") + "/record"


def test_the_record_link_needs_the_routes_scope(client, create_body):
    writer = Api(client, headers_for("writer-1", "banking/write"))
    created = writer.post("/applications", create_body())
    assert created.status_code == 201, created.json
    assert "apiture:record" not in created.json["_links"]


def test_another_users_record_is_as_missing(user, other, application):
    response = other.get(href(application.json, "self") + "/record")
    missing = other.get("/applications/00000000-0000-4000-8000-000000000000/record")
    assert response.status_code == missing.status_code == 404
    assert response.mimetype == "application/hal+json"


def test_another_users_enrollment_record_is_as_missing(user, other):
    enrollment = create(user)
    assert other.get(href(enrollment.json, "self") + "/record").status_code == 404


def test_an_auditor_reads_any_owners_record_with_its_audit_trail(client, user, application):
    auditor = Api(client, headers_for("auditor-1", AUDITOR_SCOPES))
    text = pdf_text(auditor.get(href(application.json, "self") + "/record"))
    assert "Elsa Snowqueen" in text and "(new) → running" in text
    assert "Personal data is masked for this reader" in text


def test_the_owners_record_leaves_the_audit_trail_to_the_institution(user, application):
    text = pdf_text(record_of(user, application))
    assert "The audit trail is shown to the institution and to auditors only." in text
    assert "Application created." not in text


# --- caching: the ETag rules of the JSON ------------------------------------

def test_a_matching_if_none_match_is_304(user, application):
    first = record_of(user, application)
    again = user.get(href(application.json, "self") + "/record",
                     headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]


def test_another_users_record_is_404_even_with_its_matching_tag(user, other, application):
    tag = record_of(user, application).headers["ETag"]
    response = other.get(href(application.json, "self") + "/record",
                         headers={"If-None-Match": tag})
    assert response.status_code == 404


def test_an_auditor_gets_304_for_any_owners_record(client, user, application):
    auditor = Api(client, headers_for("auditor-1", AUDITOR_SCOPES))
    url = href(application.json, "self") + "/record"
    first = auditor.get(url)
    again = auditor.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["ETag"] == first.headers["ETag"]


def test_the_record_has_tags_of_its_own(user, application):
    record = record_of(user, application)
    assert record.headers["ETag"] != application.headers["ETag"]
    json_tag = {"If-None-Match": application.headers["ETag"]}
    assert user.get(href(application.json, "self") + "/record",
                    headers=json_tag).status_code == 200


def test_a_change_makes_a_new_record(user, application):
    before = record_of(user, application)
    changed = user.patch(href(application.json, "self"), {"accountName": "Renamed"},
                         headers={"If-Match": application.headers["ETag"]})
    assert changed.status_code == 200, changed.json
    after = user.get(href(application.json, "self") + "/record",
                     headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and "Renamed" in pdf_text(after)


def test_masked_and_full_records_have_different_tags(client, user, application):
    reader = Api(client, headers_for("user-1", f"{USER_SCOPES} profiles/readPii"))
    assert record_of(user, application).headers["ETag"] != record_of(
        reader, application).headers["ETag"]


def test_the_records_tag_names_the_revision_for_a_write(user, application):
    tag = record_of(user, application).headers["ETag"]
    changed = user.patch(href(application.json, "self"), {"accountName": "Renamed"},
                         headers={"If-Match": tag})
    assert changed.status_code == 200, changed.json


# --- configuration -------------------------------------------------------------

@pytest.mark.parametrize("name", ["   ", "x" * 121])
def test_an_institution_name_that_cannot_head_a_record_is_refused_at_start(tmp_path, name):
    with pytest.raises(ValueError, match="ACCOUNTAPPS_INSTITUTION_NAME"):
        load_settings(str(tmp_path), environ={}, overrides={
            "ACCOUNTAPPS_INSTITUTION_NAME": name, "ACCOUNTAPPS_JWT_SECRET": "s"})


def test_the_institution_name_has_a_default(tmp_path):
    settings = load_settings(str(tmp_path), environ={}, overrides={"ACCOUNTAPPS_JWT_SECRET": "s"})
    assert settings["ACCOUNTAPPS_INSTITUTION_NAME"] == "Account Applications"
