"""What ``make test-compat`` runs and what ``docs/compatibility.md`` claims, in one table (read by both).

A target is an Airflow minor on one Python, built from one committed constraints file. A feature is a row of the
compatibility page: the tests that must have passed on a target for its cell to say "yes", and the fallback
``airflow_provider_telnyx._compat`` picks on Airflow versions older than a feature.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

__all__ = ["FEATURES", "Feature", "Target", "targets"]


@dataclass(frozen=True)
class Target:
    """One venv of ``make test-compat``.

    :param airflow: the Airflow minor, e.g. ``3.1``.
    :param pythons: the Python minors to use, first found wins (one entry: that Python or skipped).
    :param constraints: the committed constraints file, relative to the repository root.
    :param browser: whether the connection form is checked in Chromium on this target (oldest and newest).
    :param wheel: whether the built wheel is installed into a fresh venv of this Airflow (the oldest).
    """

    airflow: str
    pythons: tuple[str, ...]
    constraints: str
    browser: bool = False
    wheel: bool = False

    @property
    def name(self) -> str:
        """``3.1``, or ``3.3-py3.13`` where one Airflow runs on several Pythons."""
        return f"{self.airflow}-py{self.pythons[0]}" if self.airflow == "3.3" else self.airflow


def targets() -> list[Target]:
    """Every target, oldest Airflow first (the Pythons are spread so that each of 3.10-3.13 is used)."""
    return [
        Target("3.0", ("3.10", "3.11", "3.12"), "constraints/airflow-3.0.txt", browser=True, wheel=True),
        Target("3.1", ("3.11", "3.12", "3.10", "3.13"), "constraints/airflow-3.1.txt"),
        Target("3.2", ("3.12", "3.13", "3.11", "3.10"), "constraints/airflow-3.2.txt"),
        Target("3.3", ("3.10",), "constraints.txt"),
        Target("3.3", ("3.13",), "constraints.txt", browser=True),
    ]


@dataclass(frozen=True)
class Feature:
    """One row of the compatibility page.

    :param name: the feature, as users know it.
    :param summary: what the tests show.
    :param tests: pytest node ids that must all pass on a target for its cell to say "yes".
    :param fallbacks: ``(first Airflow version with the full feature, what happens before it)``.
    """

    name: str
    summary: str
    tests: tuple[str, ...]
    fallbacks: tuple[tuple[str, str], ...] = ()

    def note_for(self, airflow: str) -> str:
        """The fallback note for ``airflow`` (empty when the full feature is there)."""
        notes = [note for since, note in self.fallbacks if Version(airflow) < Version(since)]
        return "; ".join(notes)


_OPS = "tests/unit/operators/test_scheduled_event.py"
_NOTIFY = "tests/integration/test_notifier.py"
_DELETE = "tests/integration/test_delete_many.py"
_EVT = "tests/unit/triggers/test_finished_events.py"
_EVT_DAG = "tests/integration/test_example_on_call_finished.py"
_OL = "tests/unit/operators/test_lineage.py"
_OL_RUN = "tests/integration/test_lineage.py"
FEATURES = (
    Feature(
        "Exactly once",
        "a retry after a crash or a lost answer reattaches to the event an earlier try created, never sends a second.",
        (
            f"{_OPS}::TestExactlyOnce::test_retry_after_a_crash_finds_the_event_by_metadata",
            f"{_OPS}::TestExactlyOnce::test_lost_response_then_retry_creates_one_event",
            "tests/unit/operators/test_batch.py::test_retry_after_a_partial_batch_creates_only_the_missing_events",
        ),
        (
            (
                "3.3",
                "no task state store: reattach by the tag lookup and the deterministic idempotency key "
                "(set the connection's `idempotency_namespace` per deployment)",
            ),
        ),
    ),
    Feature(
        "Deferrable waits",
        "the operator defers to the trigger and resumes with the same outcome as a blocking wait.",
        (
            f"{_OPS}::TestWaiting::test_deferrable_wait_and_resume",
            "tests/unit/triggers/test_scheduled_event.py::test_restart_from_serialize_resumes_with_only_gets",
            "tests/integration/test_example_dags.py::test_call_example_runs_end_to_end",
        ),
    ),
    Feature(
        "Cancel on kill",
        "killing a task cancels its event while it is still pending, and leaves a dispatched one alone.",
        (
            f"{_OPS}::TestOnKill::test_cancels_a_pending_event",
            f"{_OPS}::TestOnKill::test_trigger_on_kill_cancels_only_pending",
            f"{_OPS}::TestDeleteOperator::test_only_if_pending_cancels_a_pending_event_and_keeps_a_dispatched_one",
        ),
        (
            (
                "3.3",
                "only the blocking wait cancels (the operator's `on_kill`); the triggerer does not call a "
                "trigger's `on_kill`, so a killed *deferred* task leaves its event: delete it with "
                "`TelnyxDeleteScheduledEventOperator(only_if_pending=True)` as a teardown",
            ),
        ),
    ),
    Feature(
        "Connection form",
        "the `telnyx` type shows API key, Base URL and the extras, hides Login, and tests the connection.",
        (
            "tests/unit/test_provider_info.py::test_connection_form_seen_by_the_api_server",
            "tests/unit/hooks/test_telnyx.py::test_test_connection_is_read_only",
            "tests/unit/hooks/test_telnyx.py::test_test_connection_reports_a_bad_key",
            "tests/unit/test_provider_info.py::test_hook_form_methods_match_the_declarative_form",
        ),
        (
            (
                "3.2",
                "the form comes from the hook's `get_connection_form_widgets` / `get_ui_field_behaviour` "
                "(needs `wtforms`, a dependency of ours) instead of the declarative `conn-fields`",
            ),
        ),
    ),
    Feature(
        "Batch",
        "a batch validates every row first, creates each once at the learned rate, and reattaches on retry.",
        (
            "tests/unit/operators/test_batch.py::test_every_bad_item_is_reported_before_anything_is_sent",
            "tests/unit/operators/test_batch.py::test_creates_each_item_once_with_merged_defaults",
            "tests/integration/test_example_dags.py::test_batch_example_calls_every_contact_once",
        ),
    ),
    Feature(
        "Export with transcripts",
        "yesterday's calls with their transcripts and insights go to an object-storage file (JSON Lines or "
        "Parquet) in one task, announced as an Asset.",
        (
            "tests/integration/test_example_export.py::"
            "test_export_example_writes_yesterdays_calls_and_the_load_example_reads_them",
            "tests/integration/test_export.py::test_parquet_holds_the_same_records_with_the_documented_schema",
            "tests/integration/test_export.py::test_a_retry_rewrites_the_file_and_a_failed_try_leaves_the_last_one_whole",
        ),
        (
            (
                "3.1",
                "Airflow 3.0.6 needs `universal-pathlib<0.3` (it does not cap it, and its `ObjectStoragePath` refuses "
                "every URL with 0.3); `constraints/airflow-3.0.txt` pins 0.2.6",
            ),
        ),
    ),
    Feature(
        "Event-driven DAGs (AssetWatcher)",
        "an `AssetWatcher` with `TelnyxScheduledEventFinishedTrigger` fires once per finished call, at least once "
        "across a triggerer restart, and the consuming DAG processes each call once.",
        (
            f"{_EVT}::test_fires_once_per_event_that_finishes_and_never_for_pending_or_in_progress",
            f"{_EVT}::test_a_restart_redelivers_only_inside_the_look_back_and_loses_nothing",
            f"{_EVT}::test_an_asset_watcher_accepts_it",
            f"{_EVT_DAG}::test_the_dag_parses_and_its_watcher_holds_the_trigger",
            f"{_EVT_DAG}::test_the_consuming_dag_processes_each_finished_call_once",
        ),
    ),
    Feature(
        "Page the on-call (TelnyxNotifier)",
        "a failing task's callback texts or calls the on-call once per try and callback kind; a notification that "
        "cannot be sent never changes the task's outcome.",
        (
            f"{_NOTIFY}::test_example_dag_pages_the_oncall_with_one_sms",
            f"{_NOTIFY}::test_a_callback_run_twice_creates_one_event",
            f"{_NOTIFY}::test_notifications_that_cannot_be_sent_are_logged_and_change_no_outcome",
            f"{_NOTIFY}::test_dag_failure_callback_names_the_failed_task",
        ),
        (
            ("3.1", "no deadline alerts (Airflow 3.0 has none): task and DAG callbacks only"),
            ("3.2", "deadline alerts are experimental and take the notifier through `AsyncCallback` only"),
        ),
    ),
    Feature(
        "Stopping a campaign (TelnyxDeleteScheduledEventsOperator)",
        "the events a batch created, or the pending ones a tag selects, are cancelled with one DELETE each; a "
        "second run changes nothing.",
        (
            f"{_DELETE}::test_a_batch_of_ten_is_cancelled_with_one_delete_each_and_a_second_run_changes_nothing",
            f"{_DELETE}::test_a_selection_cancels_only_the_pending_events_carrying_the_tag",
            f"{_DELETE}::test_the_example_dag_stops_the_campaign",
        ),
        (
            (
                "3.3",
                "no task state store: on a task retry an event an earlier try cancelled is reported `not_found` "
                "(it is still cancelled once)",
            ),
        ),
    ),
    Feature(
        "OpenLineage",
        "with the `openlineage` extra, the export reports the assistant's events as its input and its destination "
        "(named as the OpenLineage spec names files, S3, GCS and ADLS objects) with the record's columns as its "
        "output, the create operators the same events as their output; importing the operators imports no "
        "OpenLineage.",
        (
            f"{_OL}::test_the_export_names_its_destination_as_the_naming_spec_does",
            f"{_OL}::test_the_create_operators_write_the_events_the_export_reads",
            f"{_OL}::test_importing_the_operators_imports_no_openlineage",
            f"{_OL_RUN}::test_an_s3_export_names_the_object_it_wrote_with_the_parquet_columns",
            f"{_OL_RUN}::test_the_openlineage_listener_emits_the_linked_datasets_under_dag_test",
        ),
    ),
    Feature(
        "Coalesced waiting",
        "one sensor or trigger waits for many events with list pages instead of one GET per event.",
        (
            "tests/unit/operators/test_batch.py::test_coalesced_sensor_outcomes_agree_across_modes",
            "tests/unit/operators/test_batch.py::test_trigger_serializes_and_falls_back_to_gets_for_few_events",
        ),
    ),
)
