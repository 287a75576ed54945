"""Governance: identities' password maths, the read policy compiled to SQLGlot, the allow-list
a user's SQL must pass, and the access audit. Everything a user reads goes through here."""
