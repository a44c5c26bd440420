"""Who is calling and what they may do.

``principal`` is the authenticated caller (user, client application, scopes);
``security`` reads API keys and bearer tokens into one, and checks each view's
declared scope; ``api_keys`` manages issued keys; ``policy`` holds every "who may
do what" decision that is not a scope check, so the domain asks it rather than
deciding for itself.

May import: ``domain.errors`` (its refusals) and ``storage``. ``policy`` and
``principal`` import nothing else of the package, so the domain may use them.
"""
