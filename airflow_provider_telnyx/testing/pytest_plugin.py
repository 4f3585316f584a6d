"""pytest plugin (entry point ``pytest11``): the ``telnyx_simulator`` fixture."""

from __future__ import annotations
