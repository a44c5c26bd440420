"""The printable record of an application or enrollment: a PDF drawn from its representation.

A record is built from the very HAL representations the caller is given (the
resource, an application's workflow, and the audit trail for those who may
read it), never from stored rows: whatever the JSON masks for a caller, the
PDF masks too. Its text is real text, set in subsets of DejaVu Sans (shipped in
``fonts/`` with their licence) and so searchable and copyable; a character the
font lacks prints as U+FFFD. Right-to-left scripts print in logical order,
unshaped.
"""

from __future__ import annotations

import copy
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Response
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import SubsetMap, TTFFont

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.representations.common import guarded_href

MEDIA_TYPE = "application/pdf"

FONTS = Path(__file__).with_name("fonts")
_REGULAR, _BOLD = FONTS / "DejaVuSans.ttf", FONTS / "DejaVuSans-Bold.ttf"
_FAMILY = "DejaVuSans"

#: States after which nothing changes: the audit record that entered one is the decision.
_DECISIONS = ("approved", "rejected", "canceled", "expired")
_NONE = "—"
_PAGES = "{nb}"
_MISSING = "\ufffd"


@dataclass(frozen=True)
class Context:
    """What a record shows beside the representation: who prints it, when, for whom.

    ``trail`` is the audit trail's representation (``None``: the reader may not
    read it); ``masked`` says whether personal data is masked for the reader.
    """

    institution: str
    generated_at: datetime
    masked: bool
    trail: Mapping[str, Any] | None


def record_href(pattern: str, row: Any, principal: Principal) -> str | None:
    """The ``apiture:record`` link of a resource (``pattern``: its path with ``{id}``),
    for exactly those who may download the record and whose token its route admits."""
    return guarded_href(f"{pattern}/record", row.id, principal,
                        policy.may_read_record(principal, row))


def response(data: bytes, status: int, headers: dict[str, str], *, name: str) -> Response:
    """An ``application/pdf`` response, shown inline, saved as ``name``."""
    return Response(data, status=status, mimetype=MEDIA_TYPE, headers={
        **headers, "Content-Disposition": f'inline; filename="{name}"'})


def application_record(body: Mapping[str, Any], workflow: Mapping[str, Any],
                       context: Context) -> bytes:
    """The PDF record of an application from its representation and its workflow's."""
    page = _Page("Account application record", body["_id"], context)
    page.summary(body, [("Account name", body.get("accountName"))])
    definition = workflow.get("definition") or {}
    page.section("Product")
    page.fields([
        ("Product", body.get("productName")),
        ("Workflow", _join(" ", definition.get("_id"),
                           f"version {definition['version']}" if definition.get("version")
                           else None)),
        ("Also requested", ", ".join(_text(p.get("name")) for p in body.get("products") or []
                                     if p.get("name")) or None),
    ])
    _applicants(page, body)
    _organization(page, body.get("organization") or {})
    _funding(page, body)
    page.section("Consents")
    page.items([_consent(consent) for consent in body.get("consents") or []], "None given.")
    page.section("Documents")
    page.items([_document(item) for item in body.get("documents") or []], "None provided.")
    _checklist(page, body)
    approval = body.get("accountApproval") or {}
    _decision(page, body, context, [("Account approval", _join(", ", approval.get("state"),
                                                               _when(approval.get("updatedAt"))))])
    _trail(page, context)
    return page.finish()


def enrollment_record(body: Mapping[str, Any], context: Context) -> bytes:
    """The PDF record of an enrollment from its representation."""
    page = _Page("Digital banking enrollment record", body["_id"], context)
    page.summary(body, [("Applicant", body.get("applicantName")),
                        ("Flagged for review", "yes" if body.get("flaggedForReview") else "no")])
    applicant = body.get("applicant")
    # ``applicants`` may name the applicant again (the reference's own example does).
    others = [item for item in body.get("applicants") or []
              if not applicant or item.get("contact") != applicant.get("contact")]
    for number, item in enumerate(([applicant] if applicant else []) + others, 1):
        _enrollment_applicant(page, item, number)
    page.section("Required documents")
    page.items([_join(" — ", item.get("label"), _join(", ", _words(item.get("type")),
                                                       _words(item.get("category")),
                                                       item.get("productTarget")))
                for item in body.get("requiredDocuments") or []], "None required.")
    page.section("Documents")
    page.items([_join(" — ", item.get("name") or item.get("uri"), _join(
        ", ", _words(item.get("type")), _words(item.get("category")), item.get("contentType"),
        item.get("revisionId"), _when(item.get("revisedAt"))))
        for item in body.get("documents") or []], "None provided.")
    _approvals(page, body.get("approvals") or [], section=True)
    page.section("Requirements still open")
    page.items([_join(" ", item.get("message"), item.get("remediation"))
                for item in body.get("blockers") or []], "None: every requirement is met.")
    _decision(page, body, context, [])
    _trail(page, context)
    return page.finish()


# --- sections --------------------------------------------------------------------

def _applicants(page: _Page, body: Mapping[str, Any]) -> None:
    verifications = {item.get("applicant"): item for item in body.get("identityVerifications")
                     or []}
    page.section("Applicants")
    applicants = body.get("applicants") or []
    if not applicants:
        page.items([], "None named yet.")
    for applicant in applicants:
        contact = applicant.get("contact") or {}
        page.fields([
            ("Name", _person(contact)),
            ("Role", _role(applicant.get("role"))),
            ("Username", applicant.get("username")),
            ("Identity", _identity(verifications.get(applicant.get("_id")))),
        ], gap=True)


def _identity(result: Mapping[str, Any] | None) -> str:
    if not result:
        return "not verified yet"
    return _join(", ", result.get("result"), _when(result.get("verifiedAt")),
                 _by(result.get("userId")), result.get("reason"),
                 _labelled("reference", result.get("reference")))


def _organization(page: _Page, organization: Mapping[str, Any]) -> None:
    if not any(organization.get(key) for key in ("name", "type", "taxId")):
        return
    page.section("Organization")
    page.fields([("Name", organization.get("name")), ("Type", _words(organization.get("type"))),
                 ("Tax id", organization.get("taxId"))])


def _funding(page: _Page, body: Mapping[str, Any]) -> None:
    amount = body.get("fundingAmount") or {}
    account = body.get("fundingAccount") or {}
    page.section("Funding")
    page.fields([
        ("Amount", _join(" ", amount.get("value"), amount.get("currency")) or None),
        ("From account", _join(", ", account.get("title"), account.get("institutionName"))
         or None),
        ("Routing number", account.get("routingNumber")),
        ("Account number", (account.get("accountNumbers") or {}).get("full")),
    ])


def _consent(consent: Mapping[str, Any]) -> str:
    return _join(" — ", _words(consent.get("type")), _join(
        ", ", consent.get("state"), _when(consent.get("givenAt")), _by(consent.get("userId"))))


def _document(item: Mapping[str, Any]) -> str:
    reviewed = _join(" ", "reviewed", _when(item.get("reviewedAt"))) if item.get(
        "reviewedAt") else None
    return _join(" — ", _join(" ", item.get("name"), f"({_words(item.get('type'))})"), _join(
        ", ", item.get("state"), _join(" ", "added", _when(item.get("createdAt")))
        if item.get("createdAt") else None, reviewed, _labelled("reason:", item.get(
            "reviewReason"))))


def _checklist(page: _Page, body: Mapping[str, Any]) -> None:
    page.section("Checklist")
    page.items([_join(" — ", f"[{task.get('state')}] {_text(task.get('label'))}", _join(
        ", ", task.get("actor"), _labelled("waiting for", task.get("waitingFor"))))
        for task in body.get("tasks") or []], "No tasks.")
    page.subheading("What still blocks approval")
    page.items([_join(" ", item.get("message"), item.get("remediation"))
                for item in body.get("blockers") or []], "Nothing.")
    step = body.get("nextAction") or {}
    if step:
        page.fields([("Next action", _join(" — ", step.get("actor"), step.get("message")))])


def _decision(page: _Page, body: Mapping[str, Any], context: Context,
              more: list[tuple[str, Any]]) -> None:
    page.section("Decision")
    decided = None
    if context.trail is not None:
        decided = next((item for item in reversed(_trail_items(context.trail))
                        if item.get("to") in _DECISIONS), None)
    rows: list[tuple[str, Any]] = [("State", body.get("state")),
                                   ("Completed", _when(body.get("completedAt"))), *more]
    if decided is not None:
        rows += [("Decided by", _actor(decided)), ("Decided", _when(decided.get("occurredAt"))),
                 ("Reason", decided.get("reason"))]
    elif body.get("state") not in _DECISIONS:
        rows.append(("Decided", "not yet"))
    page.fields(rows)


def _trail(page: _Page, context: Context) -> None:
    page.section("Audit trail")
    if context.trail is None:
        page.note("The audit trail is shown to the institution and to auditors only.")
        return
    items = _trail_items(context.trail)
    if not items:
        page.note("No state changes recorded.")
        return
    page.grid(("When", "Change", "By", "Reason"), (25, 37, 36, None), [
        (_when(item.get("occurredAt")), _join(" → ", item.get("from") or "(new)", item.get("to")),
         _actor(item), item.get("reason")) for item in items])


def _enrollment_applicant(page: _Page, applicant: Mapping[str, Any], number: int) -> None:
    contact = applicant.get("contact") or {}
    user = applicant.get("user") or {}
    page.section("Applicant" if number == 1 else f"Applicant {number}")
    identity = contact.get("identityVerification") or {}
    page.fields([
        ("Name", _person(contact)),
        ("Role", _role(applicant.get("role"))),
        ("Username", applicant.get("username") or user.get("username")),
        ("Verified", "yes" if applicant.get("verified") else "no"),
        ("Identity", _join(", ", identity.get("state"), _labelled("score", identity.get("score")),
                           identity.get("provider"), _when(identity.get("scoredAt")))
         or "not verified yet"),
        ("Identification", _lines(_join(" ", _words(item.get("type")), item.get("value"),
                                        _labelled("expires", item.get("expiration")))
                                  for item in contact.get("identification") or [])),
        ("Birthdate", contact.get("birthdate")),
        ("Email", _lines(_join(" ", item.get("value"), f"({item.get('type')})"
                               if item.get("type") else None)
                         for item in contact.get("emailAddresses") or [])),
        ("Phone", _lines(_join(" ", item.get("number"), f"({item.get('type')})"
                               if item.get("type") else None)
                         for item in contact.get("phones") or [])),
        ("Address", _lines(_address(item) for item in contact.get("addresses") or [])),
        ("Citizenship", _lines(_join(" ", item.get("countryCode"), item.get("state"))
                               for item in contact.get("citizenship") or [])),
        ("Occupation", _words(contact.get("occupation"))),
    ])
    verification = applicant.get("verification") or {}
    page.subheading("Verifications")
    page.items([_join(" — ", _words(item.get("type")), _join(", ", item.get("state"),
                                                               _when(item.get("createdAt"))))
                for item in verification.get("verifications") or []], "None recorded.")
    report = applicant.get("fraudReport") or {}
    outputs = report.get("outputs") or {}
    if outputs:
        page.fields([("Fraud risk report", _join(", ", _words(outputs.get("state")), *(
            _words(item.get("type")) for item in outputs.get("fraudRiskCategories") or [])))])
    page.subheading("Consents")
    page.items([_consent(consent) for consent in applicant.get("consents") or []],
               "None given.")
    _approvals(page, applicant.get("approvals") or [], section=False)


def _approvals(page: _Page, approvals: list[Mapping[str, Any]], *, section: bool) -> None:
    """Approvals: a section of the enrollment's own, or a part of an applicant's (if any)."""
    if section:
        page.section("Approvals")
    elif approvals:
        page.subheading("Approvals")
    else:
        return
    page.items([_join(", ", item.get("state"), item.get("reason"), _when(item.get("createdAt")))
                for item in approvals], "None.")


# --- values ----------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\s]+")
_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


#: Tables of the fonts that no PDF viewer reads from an embedded font: OpenType
#: layout (fpdf places every glyph itself, by its width), glyph names (the PDF
#: maps characters to glyph ids) and font tools' stamps. Each document's copy of
#: a font leaves them out, so that its output neither parses nor subsets them;
#: tests/test_records.py renders a record with and without them to the same pixels.
_UNREAD_TABLES = ("GSUB", "GPOS", "GDEF", "MATH", "kern", "FFTM", "post")


@dataclass(frozen=True)
class _ParsedFont:
    """A font as fpdf's ``add_font`` parses it, without its font file (each
    document opens its own), and the file's glyph order."""

    font: TTFFont
    glyph_order: tuple[str, ...]


@functools.cache
def _parsed_font(style: str, path: Path) -> _ParsedFont:
    """The font of ``path`` as ``add_font`` parses it, once per process.

    Which of fpdf2's ``TTFFont`` attributes a document changes (see
    :meth:`_Page.add_parsed_font`) is read off fpdf2 2.8.6 to 2.8.9; setup.cfg
    requires 2.8.6 or later, and a later release should be checked again.
    """
    font = TTFFont(FPDF(), path, f"{_FAMILY.lower()}{style}", style)
    if font.color_font is not None or font.is_cff:  # state tied to the parsing document
        raise ValueError(f"{path.name}: only a plain TrueType font can be shared")
    glyph_order = tuple(font.ttfont.getGlyphOrder())
    font.ttfont.close()
    font.ttfont = None
    return _ParsedFont(font, glyph_order)


@functools.cache
def _covered() -> frozenset[int]:
    """The code points both fonts draw (read once per process)."""
    points = None
    for path in (_REGULAR, _BOLD):
        font = TTFont(path, lazy=True)
        try:
            cmap = set(font.getBestCmap())
        finally:
            font.close()
        points = cmap if points is None else points & cmap
    return frozenset(points or ())


def _text(value: Any) -> str:
    """``value`` as one line of printable text; characters the font lacks become U+FFFD."""
    if value is None:
        return ""
    text = _CONTROL.sub(" ", value if isinstance(value, str) else str(value)).strip()
    if text.isascii():
        return text
    text = unicodedata.normalize("NFC", text)
    covered = _covered()
    return "".join(char if ord(char) in covered else _MISSING for char in text)


def _join(separator: str, *parts: Any) -> str:
    return separator.join(text for text in (_text(part) for part in parts) if text)


def _lines(parts: Iterable[str]) -> str | None:
    return "; ".join(part for part in parts if part) or None


def _words(value: Any) -> str | None:
    """``productTermsAndConditions`` -> ``product terms and conditions``."""
    if not value:
        return None
    return _HUMP.sub(" ", _text(value)).lower()


def _when(value: Any) -> str | None:
    """An RFC 3339 timestamp as ``2024-03-01 10:00:00 UTC`` (anything else as it is)."""
    if not value:
        return None
    text = _text(value)
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?Z", text)
    return f"{match[1]} {match[2]} UTC" if match else text


def _by(user: Any) -> str | None:
    return f"by {_text(user)}" if user else None


def _labelled(label: str, value: Any) -> str | None:
    return f"{label} {_text(value)}" if value else None


def _actor(item: Mapping[str, Any]) -> str:
    user, client = item.get("userId"), item.get("clientId")
    who = _text(user) if user else "the service"
    return _join(" ", who, f"({_text(client)})" if client else None)


def _person(contact: Mapping[str, Any]) -> str | None:
    name = _join(" ", contact.get("prefix"), contact.get("firstName"), contact.get("middleName"),
                 contact.get("lastName"), contact.get("suffix"))
    preferred = contact.get("preferredName")
    if preferred and preferred != contact.get("firstName"):
        name = _join(" ", name, f"(“{_text(preferred)}”)")
    return name or None


def _role(role: Mapping[str, Any] | None) -> str | None:
    role = role or {}
    return _text(role.get("label")) or _words(role.get("name"))


def _address(item: Mapping[str, Any]) -> str:
    return _join(" ", _join(", ", item.get("addressLine1"), item.get("addressLine2"),
                            item.get("addressLine3"), item.get("city"),
                            _join(" ", item.get("regionCode"), item.get("postalCode")),
                            item.get("countryCode")),
                 f"({item.get('type')})" if item.get("type") else None)


def _trail_items(trail: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((trail.get("_embedded") or {}).get("items") or [])


# --- layout ----------------------------------------------------------------------

class _Page(FPDF):
    """A record's pages: a running head and foot, sections of labelled fields, lists, a table."""

    LABEL_WIDTH = 42.0
    LINE = 5.0

    def __init__(self, title: str, resource_id: str, context: Context) -> None:
        super().__init__(format="Letter")
        self.record_title = title
        self.context = context
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=18)
        self.add_parsed_font("", _REGULAR)
        self.add_parsed_font("B", _BOLD)
        self.set_title(f"{title} {resource_id}")
        self.set_author(context.institution)
        self.set_creator("accountapps")
        self.set_lang("en")
        self.set_creation_date(context.generated_at)
        self.add_page()
        self.set_font(_FAMILY, "B", 16)
        self.cell(0, 9, _text(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(_FAMILY, "", 9)
        self.set_text_color(90)
        generated = context.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        self.multi_cell(0, 4.5, _join(" ", f"Generated {generated}.", (
            "Personal data is masked for this reader (no profiles/readPii scope)."
            if context.masked else "Personal data is shown in full.")))
        self.set_text_color(0)
        self.ln(2)

    def add_parsed_font(self, style: str, path: Path) -> None:
        """``add_font(_FAMILY, style, path)``, from the font parsed once per process.

        fpdf's ``add_font`` reads the width and glyph of every character the font
        has (thousands) for each document, though they are the same for every
        document: here documents share them (read only). Each
        has its own of what a document changes: the characters it uses, the font
        descriptor, and the font file's tables, which ``output`` subsets in place
        (opened lazily, without :data:`_UNREAD_TABLES`: only what the subset needs
        is parsed).
        """
        parsed = _parsed_font(style, path)
        font = copy.copy(parsed.font)
        font.i = len(self.fonts) + 1
        font.ttfont = TTFont(path, recalcTimestamp=False, lazy=True)
        font.ttfont.setGlyphOrder(list(parsed.glyph_order))  # else read from 'post'
        for tag in _UNREAD_TABLES:
            if tag in font.ttfont:
                del font.ttfont[tag]
        # output numbers the descriptor as an object of this document and fills it in
        font.desc = copy.copy(parsed.font.desc)
        font.subset = SubsetMap(font)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        self.fonts[font.fontkey] = font

    def header(self) -> None:
        """The institution's name and the record's title, on every page."""
        self.alias_nb_pages(None)  # see footer()
        self.set_font(_FAMILY, "B", 10)
        self.cell(0, 6, _text(self.context.institution), new_x=XPos.LMARGIN)
        self.set_font(_FAMILY, "", 8)
        self.set_text_color(90)
        self.cell(0, 6, _text(self.record_title), align="R", new_x=XPos.LMARGIN,
                  new_y=YPos.NEXT)
        self.set_draw_color(160)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_text_color(0)
        self.ln(4)

    def footer(self) -> None:
        """The generation time and the page number, on every page."""
        self.set_y(-13)
        self.set_font(_FAMILY, "", 8)
        self.set_text_color(90)
        generated = self.context.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        self.cell(0, 5, f"Generated {generated}", new_x=XPos.LMARGIN)
        # The page count's alias is on from each footer to the next header
        # (and while the document is closed): "{nb}" in a name prints as written.
        self.alias_nb_pages(_PAGES)
        self.cell(0, 5, f"Page {self.page_no()} of {_PAGES}", align="R")
        self.set_text_color(0)

    def summary(self, body: Mapping[str, Any], more: list[tuple[str, Any]]) -> None:
        """The resource's identity and state, first on the record."""
        self.fields([("Id", body.get("_id")), *more, ("State", body.get("state")),
                     ("Workflow state", body.get("workflowState")),
                     ("Created", _when(body.get("createdAt"))),
                     ("Completed", _when(body.get("completedAt")))])

    def section(self, title: str) -> None:
        """A section heading (on a new page when too little room is left for it)."""
        if self.get_y() > self.page_break_trigger - 25:
            self.add_page()
        self.ln(3)
        self.set_font(_FAMILY, "B", 12)
        self.cell(0, 7, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(200)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1.5)

    def subheading(self, title: str) -> None:
        """A heading within a section (kept with at least a line of what follows)."""
        if self.get_y() > self.page_break_trigger - 12:
            self.add_page()
        self.ln(1)
        self.set_font(_FAMILY, "B", 9.5)
        self.cell(0, self.LINE + 0.5, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def fields(self, rows: list[tuple[str, Any]], *, gap: bool = False) -> None:
        """Labelled values, one per line (``—`` for a missing value)."""
        width = self.epw - self.LABEL_WIDTH
        for label, value in rows:
            self.set_font(_FAMILY, "B", 9)
            self.set_text_color(70)
            self.cell(self.LABEL_WIDTH, self.LINE, label)
            self.set_text_color(0)
            self.set_font(_FAMILY, "", 9)
            self.write_value(width, _text(value) or _NONE)
        if gap:
            self.ln(1.5)

    def items(self, lines: list[str], empty: str) -> None:
        """A bulleted list, or ``empty`` when there is nothing in it."""
        self.set_font(_FAMILY, "", 9)
        if not lines:
            self.note(empty)
            return
        for line in lines:
            self.cell(5, self.LINE, "•")
            self.write_value(self.epw - 5, line)

    def note(self, text: str) -> None:
        """A remark in grey."""
        self.set_font(_FAMILY, "", 9)
        self.set_text_color(90)
        self.write_value(self.epw, text)
        self.set_text_color(0)

    def write_value(self, width: float, text: str) -> None:
        """``text`` from the current position, wrapped within ``width``."""
        if self.get_string_width(text) < width - 2 * self.c_margin:
            self.cell(width, self.LINE, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        else:  # line breaking is the costly part: only for what needs it
            self.multi_cell(width, self.LINE, text, align="L", new_x=XPos.LMARGIN,
                            new_y=YPos.NEXT)

    def grid(self, headings: tuple[str, ...], widths: tuple[float | None, ...],
              rows: list[tuple[str, ...]]) -> None:
        """A table with a heading row (a width of ``None`` takes what the others leave)."""
        rest = self.epw - sum(width for width in widths if width is not None)
        self.set_font(_FAMILY, "", 8.5)
        with self.table(col_widths=tuple(width or rest for width in widths),
                        text_align="LEFT", v_align="TOP", line_height=4.5, padding=1,
                        first_row_as_headings=True) as table:
            heading = table.row()
            for text in headings:
                heading.cell(text)
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(_text(value) or _NONE)

    def finish(self) -> bytes:
        """The finished document."""
        return bytes(self.output())
