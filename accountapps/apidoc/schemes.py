"""The OpenAPI document's security schemes: the credentials a client can use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The reference's OAuth2 scopes.
SCOPES = {
    "banking/read": "Read access to accounts and account-related resources such as transfers "
                    "and transactions.",
    "banking/write": "Write (update) access to accounts and account-related resources such as "
                     "transfers and transactions.",
    "banking/delete": "Delete access to editable accounts and account-related resources such "
                      "as transfers.",
    "banking/readBalance": "Read access to account balances. This must be granted in addition "
                           "to the banking/read scope in order to view balances, but is "
                           "included in the banking/full scope.",
    "banking/full": "Full access to accounts and account-related resources such as transfers "
                    "and transactions.",
    "profiles/read": "Read access to user and contact related resources.",
    "profiles/write": "Write (update) access to user and contact related resources.",
    "profiles/delete": "Delete access to user and contact related resources.",
    "profiles/readPii": "Read access to personally identifiable information such as tax ID "
                        "numbers, phone numbers, email and postal addresses. This must be "
                        "granted in addition to the profiles/read scope in order to read such "
                        "data, but is included in the profiles/full scope.",
    "profiles/full": "Full access to user and contact related resources.",
    "data/read": "Read access to non-account, non-profile data.",
    "data/write": "Write (update) access to non-account, non-profile data.",
    "data/delete": "Delete access to non-account, non-profile data.",
    "data/full": "Full access to non-account, non-profile data.",
    "admin/read": "Read access to system configuration.",
    "admin/write": "Write (update) access to system configuration.",
    "admin/delete": "Delete access to system configuration.",
    "admin/full": "Full access to system configuration.",
}

def security_schemes(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The credentials a client can use: the API key and a bearer token (a JWT).

    The OAuth2 authorization-code flow is offered only where the institution
    has configured its endpoints: a scheme whose URLs do not exist would send
    the docs page's Authorize dialog nowhere.
    """
    scopes = "\n".join(f"- `{scope}`: {text}" for scope, text in SCOPES.items())
    schemes: dict[str, dict[str, Any]] = {
        "apiKey": {
            "type": "apiKey", "in": "header", "name": "API-Key",
            "description": "API Key based authentication. Each client application must pass "
                           "its private, unique API key via the `API-Key: {api-key}` request "
                           "header.",
        },
        "bearerAuth": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "The user's access token (a JWT), sent as `Authorization: Bearer "
                           "{access-token}`. Its `scope` claim lists the scopes granted; each "
                           "operation names the one it requires:\n\n" + scopes,
        },
    }
    authorization_url = config.get("ACCOUNTAPPS_OAUTH2_AUTHORIZATION_URL")
    token_url = config.get("ACCOUNTAPPS_OAUTH2_TOKEN_URL")
    if authorization_url and token_url:
        schemes["accessToken"] = {
            "type": "oauth2",
            "description": "OAuth2 access token of the user, sent as "
                           "`Authorization: Bearer {access-token}`.",
            "flows": {"authorizationCode": {
                "authorizationUrl": authorization_url, "tokenUrl": token_url,
                "scopes": SCOPES,
            }},
        }
    return schemes
