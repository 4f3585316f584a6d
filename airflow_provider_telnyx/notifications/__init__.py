"""Notifiers: Airflow callbacks that page a person through a Telnyx AI assistant (``telnyx.TelnyxNotifier``)."""
