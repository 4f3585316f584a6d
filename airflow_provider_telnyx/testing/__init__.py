"""Testing aids: an embedded simulator of the Telnyx scheduled-events API and a pytest fixture for it."""
