"""Code sets for postal data: ISO 3166-1 countries and US state/region codes."""

from __future__ import annotations

import re

from marshmallow import validate

#: ISO 3166-1 alpha-2 country codes (officially assigned).
COUNTRY_CODES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
VN VU WF WS YE YT ZA ZM ZW
""".split())

#: USPS codes of the states, the District of Columbia, the territories and the
#: armed forces "states" (AA, AE, AP).
US_REGION_CODES = frozenset("""
AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ
NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR VI UM AA AE AP
""".split())

_US_POSTAL_CODE = re.compile(r"^\d{5}(-\d{4})?$")
_POSTAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{0,15}$")
_REGION_CODE = re.compile(r"^[A-Za-z0-9]{1,3}$")


#: An ISO 3166-1 alpha-2 country code, upper case (``US``): documented as an ``enum``.
country_code = validate.OneOf(
    sorted(COUNTRY_CODES), error="Must be an ISO 3166-1 alpha-2 country code, such as US.")


def region_problem(region: str, country: str | None) -> str | None:
    """Why ``region`` is not a region of ``country`` (US when absent), or ``None``."""
    if country in (None, "US"):
        if region not in US_REGION_CODES:
            return "Must be a US state or region code, such as NC."
    elif not _REGION_CODE.match(region):
        return "Must be an ISO 3166-2 subdivision code (1 to 3 letters or digits)."
    return None


def postal_code_problem(code: str, country: str | None) -> str | None:
    """Why ``code`` is not a postal code of ``country`` (US when absent), or ``None``."""
    if country in (None, "US"):
        if not _US_POSTAL_CODE.match(code):
            return "Must be a US ZIP code: 5 digits, optionally -4 more (28401-5405)."
    elif not _POSTAL_CODE.match(code):
        return "Must be a postal code of at most 16 letters, digits, spaces or dashes."
    return None
