"""OpenLineage for the export and create operators: what each reads and writes, named as the OpenLineage naming
spec says, so that a catalog (Marquez, DataHub, ...) links the warehouse built from an export to its source.

Only Airflow's OpenLineage provider (the ``openlineage`` extra) calls the operators'
``get_openlineage_facets_on_complete``, after the task ran; the OpenLineage classes are imported here, inside the
functions, so that importing an operator (parsing a DAG) costs nothing when lineage is not collected.

The datasets:

- The assistant's scheduled events on the Telnyx API (the create operators' output, the export's input): namespace
  the connection's base URL as ``scheme://host[:port]`` (no path, no credentials; the default port left out), name
  ``ai/assistants/{assistant_id}/scheduled_events``, the API's own path for them below its version root (the
  version is how they are read, not which data they are).
- The export's destination (its output): ``s3://{bucket}`` / ``{key}``, ``gs://{bucket}`` / ``{key}`` (``gcs://``
  too), ``abfss://{container}@{account}.dfs.core.windows.net`` / ``{path}`` (``abfs``, ``abfss`` and ``az``; the
  account is read from the URL, else from the connection's filesystem), a local file ``file`` / its absolute path
  (what Airflow's own translation of a ``file://`` asset gives); any other scheme ``{scheme}://{bucket}`` /
  ``{key}`` as ``ObjectStoragePath.namespace`` and ``.key`` say. The Airflow connection id a URL may carry
  (``s3://aws_default@bucket/key``) is never part of a name. The output carries a schema facet: the columns of
  :class:`~airflow_provider_telnyx.models.export.ExportRecord`, with the Parquet schema's types for a Parquet file
  and the JSON Schema's for JSON Lines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from typing import TypeAlias

    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import ObjectStoragePath
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import RunFacet
    from openlineage.client.generated.schema_dataset import SchemaDatasetFacetFields

    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

    #: What the operators' ``get_openlineage_facets_on_complete`` return.
    Lineage: TypeAlias = OperatorLineage[Dataset, RunFacet]

__all__ = [
    "EVENTS_NAME",
    "api_namespace",
    "create_lineage",
    "destination_dataset_name",
    "events_dataset_name",
    "export_lineage",
    "record_schema_fields",
]

log = logging.getLogger(__name__)

#: The name of an assistant's scheduled events in the API's namespace (the API's path below its version root).
EVENTS_NAME = "ai/assistants/{assistant_id}/scheduled_events"
#: The ports a scheme implies, left out of a namespace (``https://api.telnyx.com:443`` is ``https://api.telnyx.com``).
_DEFAULT_PORTS = {"https": 443, "http": 80}
_AZURE_SCHEMES = ("abfs", "abfss", "az")
_AZURE_HOSTS = (".dfs.core.windows.net", ".blob.core.windows.net")
_INSTALL = (
    "OpenLineage lineage needs Airflow's OpenLineage provider: pip install 'airflow-provider-telnyx[openlineage]'"
)


def api_namespace(base_url: str) -> str:
    """The Telnyx API's dataset namespace: ``scheme://host[:port]`` of the connection's base URL, lower case, without
    its path, any user information or query (a key never reaches a facet), and without the scheme's default port.

    :param base_url: the connection's base URL, e.g. ``https://api.telnyx.com/v2``.
    """
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    port = parts.port
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{scheme}://{host}:{port}"


def events_dataset_name(assistant_id: str) -> str:
    """The name of ``assistant_id``'s scheduled events in :func:`api_namespace`.

    :param assistant_id: the rendered ``assistant_id`` of the operator.
    """
    return EVENTS_NAME.format(assistant_id=assistant_id)


def _azure_account(destination: str | ObjectStoragePath) -> str | None:
    """The storage account of an ``abfs://[conn_id@]container/path`` destination, as the connection's filesystem
    (the Azure provider's ``adlfs``) knows it; ``None`` when it cannot be had."""
    try:
        from airflow.sdk import ObjectStoragePath

        path = destination if isinstance(destination, ObjectStoragePath) else ObjectStoragePath(destination)
        account = getattr(path.fs, "account_name", None)
    except Exception:  # no Azure provider or adlfs, an unusable connection: the fallback name is the answer
        log.debug("No storage account for the lineage of %s", destination, exc_info=True)
        return None
    return account if isinstance(account, str) and account else None


def destination_dataset_name(
    destination: str | ObjectStoragePath,
    azure_account: Callable[[str | ObjectStoragePath], str | None] = _azure_account,
) -> tuple[str, str]:
    """The export destination's ``(namespace, name)`` as the OpenLineage naming spec has them (see the module's
    docstring), without the Airflow connection id a URL may carry.

    :param destination: the rendered ``destination``: a URL, an absolute path or an ``ObjectStoragePath``.
    :param azure_account: finds the storage account of an ``abfs://container/path`` URL, which does not name it.
    """
    text = str(destination).strip()
    # ``#`` is part of an object key or file name here (the export writes ``calls#1.jsonl``), not a fragment; ``?``
    # is refused by the export before anything is written.
    parts = urlsplit(text, allow_fragments=False)
    scheme = parts.scheme.lower()
    if scheme in ("", "file", "local"):
        return "file", parts.path if scheme else text
    user, _, host = parts.netloc.rpartition("@")  # the user part is Airflow's connection id
    key = parts.path.lstrip("/")
    if scheme in ("s3", "s3a", "s3n"):
        return f"s3://{host}", key
    if scheme in ("gs", "gcs"):
        return f"gs://{host}", key
    if scheme in _AZURE_SCHEMES:
        if host.lower().endswith(_AZURE_HOSTS):  # container@account.dfs.core.windows.net: the user is the container
            return f"abfss://{user}@{host.split('.', 1)[0]}.dfs.core.windows.net", key
        account = azure_account(destination)
        if account is not None:
            return f"abfss://{host}@{account}.dfs.core.windows.net", key
    return f"{scheme}://{host}" if host else scheme, key


def _json_fields(schema: dict[str, Any], definitions: dict[str, Any]) -> list[SchemaDatasetFacetFields]:
    """The fields of a JSON Schema object (pydantic's), nested objects and arrays of objects with their fields."""
    from openlineage.client.generated.schema_dataset import SchemaDatasetFacetFields

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        options = [option for option in node.get("anyOf", [node]) if option.get("type") != "null"]
        node = options[0] if len(options) == 1 else node
        reference = node.get("$ref")
        return definitions[reference.rsplit("/", 1)[-1]] if isinstance(reference, str) else node

    def field(name: str, node: dict[str, Any]) -> SchemaDatasetFacetFields:
        node = resolve(node)
        kind = node.get("format") or node.get("type") or "any"
        if kind == "array":
            items = resolve(node.get("items", {}))
            if "properties" in items:
                return SchemaDatasetFacetFields(name=name, type="array", fields=_json_fields(items, definitions))
            return SchemaDatasetFacetFields(name=name, type=f"array<{items.get('format') or items.get('type')}>")
        return SchemaDatasetFacetFields(name=name, type=str(kind), fields=_json_fields(node, definitions))

    return [field(name, node) for name, node in schema.get("properties", {}).items()]


def _arrow_fields(fields: Any) -> list[SchemaDatasetFacetFields]:
    """The fields of an Arrow schema or struct, lists of structs with their fields."""
    import pyarrow
    from openlineage.client.generated.schema_dataset import SchemaDatasetFacetFields

    def field(item: Any) -> SchemaDatasetFacetFields:
        kind = item.type
        if pyarrow.types.is_list(kind) and pyarrow.types.is_struct(kind.value_type):
            return SchemaDatasetFacetFields(name=item.name, type="list", fields=_arrow_fields(kind.value_type))
        if pyarrow.types.is_list(kind):
            return SchemaDatasetFacetFields(name=item.name, type=f"list<{kind.value_type}>")
        if pyarrow.types.is_struct(kind):
            return SchemaDatasetFacetFields(name=item.name, type="struct", fields=_arrow_fields(kind))
        return SchemaDatasetFacetFields(name=item.name, type=str(kind))

    return [field(item) for item in fields]


def record_schema_fields(file_format: str) -> list[SchemaDatasetFacetFields]:
    """The schema facet's fields of an export file: :class:`~airflow_provider_telnyx.models.export.ExportRecord`'s
    columns as the file holds them, from the Parquet schema the writer uses (``parquet``) or the record's JSON
    Schema (``jsonl``); nested records (attempts, messages, insights) with their own fields.

    :param file_format: ``"jsonl"`` or ``"parquet"`` (``pyarrow`` is needed for Parquet).
    """
    if file_format == "parquet":
        from airflow_provider_telnyx.utils.export_files import parquet_schema

        return _arrow_fields(parquet_schema())
    from airflow_provider_telnyx.models.export import export_json_schema

    schema = export_json_schema()
    return _json_fields(schema, schema.get("$defs", {}))


def _operator_lineage() -> type[Lineage]:
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError as error:  # what DefaultExtractor expects of a method it cannot run
        raise ImportError(_INSTALL) from error
    return OperatorLineage


def _events(hook: TelnyxHook, assistant_id: str) -> Dataset:
    from openlineage.client.event_v2 import Dataset

    return Dataset(namespace=api_namespace(hook.get_config().base_url), name=events_dataset_name(assistant_id))


def create_lineage(hook: TelnyxHook, assistant_id: str) -> Lineage:
    """A create operator's lineage: it writes the assistant's scheduled events.

    :param hook: the operator's hook (its connection gives the API's namespace).
    :param assistant_id: the rendered ``assistant_id``.
    :raises ImportError: when Airflow's OpenLineage provider is not installed (it alone calls this).
    """
    lineage = _operator_lineage()
    return lineage(outputs=[_events(hook, assistant_id)])


def export_lineage(
    hook: TelnyxHook, assistant_id: str, destination: str | ObjectStoragePath, file_format: str | None
) -> Lineage:
    """The export's lineage: it reads the assistant's scheduled events and writes ``destination``, whose schema
    facet lists the export record's columns (left out, with a debug line, when it cannot be built, e.g. Parquet
    without ``pyarrow``: the names are what links the datasets).

    :param hook: the operator's hook (its connection gives the API's namespace).
    :param assistant_id: the rendered ``assistant_id``.
    :param destination: the rendered ``destination``.
    :param file_format: the ``file_format`` argument (``None``: from the destination's suffix).
    :raises ImportError: when Airflow's OpenLineage provider is not installed (it alone calls this).
    """
    lineage = _operator_lineage()
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import DatasetFacet
    from openlineage.client.generated.schema_dataset import SchemaDatasetFacet

    from airflow_provider_telnyx.utils.export_files import file_format_for

    namespace, name = destination_dataset_name(destination)
    facets: dict[str, DatasetFacet] = {}
    try:
        facets["schema"] = SchemaDatasetFacet(
            fields=record_schema_fields(file_format_for(str(destination), file_format))
        )
    except Exception:
        log.debug("No schema facet for the lineage of %s", destination, exc_info=True)
    output = Dataset(namespace=namespace, name=name, facets=facets)
    return lineage(inputs=[_events(hook, assistant_id)], outputs=[output])
