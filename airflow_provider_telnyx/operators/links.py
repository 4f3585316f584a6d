"""Extra links of our operators in the Airflow UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperator, BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["PORTAL_ASSISTANT_URL", "TelnyxScheduledEventLink"]

PORTAL_ASSISTANT_URL = "https://portal.telnyx.com/#/ai/assistants/edit/{assistant_id}"


class TelnyxScheduledEventLink(BaseOperatorLink):
    """Extra link: the event's assistant in the Telnyx portal.

    Built from the task's rendered ``assistant_id`` when Airflow finalizes a try (successful or not), so no XCom
    has to exist for it.
    """

    name = "Telnyx assistant"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The portal URL of the operator's assistant.

        :param operator: the task (rendered, when Airflow finalizes a try).
        :param ti_key: the task instance.
        :return: the URL, or an empty string when the assistant id is not known (not rendered).
        """
        assistant_id = getattr(operator, "assistant_id", None)
        if not isinstance(assistant_id, str) or not assistant_id or "{{" in assistant_id:
            return ""
        return PORTAL_ASSISTANT_URL.format(assistant_id=assistant_id)
