"""Sphinx configuration for the airflow-provider-telnyx documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# autodoc imports the provider, which imports Airflow: give it a throwaway home so a docs build writes nothing.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="telnyx-docs-airflow-"))

from airflow_provider_telnyx import __version__  # noqa: E402

project = "airflow-provider-telnyx"
author = "airflow-provider-telnyx developers"
copyright = "2026, airflow-provider-telnyx developers"
version = release = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "reliability.json", "production-figures.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
html_theme = "furo"
html_title = f"airflow-provider-telnyx {__version__}"
html_static_path = ["_static"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
suppress_warnings = ["myst.xref_missing"]
# Every cross-reference to our own objects must resolve (a moved name or a stale docstring fails the build). Objects
# of other packages are not linked: the docs build has no network for their intersphinx inventories, so their
# names, autodoc's renderings of pydantic field metadata and our private names (documented nowhere, by design) are
# the only references let through.
nitpicky = True
_EXTERNAL = (
    r"(pytest|builtins|datetime|collections|typing|types|enum|contextlib|logging|asyncio|pathlib|pydantic|"
    r"pydantic_core|airflow|jinja2|httpx|tenacity|json|concurrent)(\..+)?"
)
_AUTODOC_BARE = (
    r"(Context|datetime|timedelta|TriggerEvent|JsonValue|BaseModel|FieldInfo|Le|Ge|MetadataValue|Any|"
    r"AirflowSkipException|ObjectStoragePath|Connection|DAG|TaskInstance|RuntimeTaskInstance|AwareDatetime|StrictStr|"
    r"StrictInt|StrictBool|NoneType|AnyUrl)"
)
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL),
    (r"py:.*", _AUTODOC_BARE),
    (r"py:class", r"(strict|required|metadata|annotation|func|default|default_factory|union_mode|ge|le|gt|lt)=.*"),
    # Type aliases and generic bases autodoc renders unqualified or parameterised.
    (r"py:class", r"(Steps|Page|Lineage|.*ListPage\[.*)"),
    # The sensors' generic base names its waiter as a forward reference (imported lazily to keep parsing cheap).
    (r"py:class", r"(EventWaiter|ManyEventsWaiter)"),
    (r"py:.*", r"(.+\.)?_[A-Za-z]\w*(\..+)?"),  # private names
]
