"""Notifications of pipelines' events: Slack, a JSON webhook, email (docs/notifications.md).

```python
notifier = Notifier(targets=project.config.notifications, project=project.config.name,
                    ui_url=project.config.scheduler.ui_url)
notifier.send(Notice(event="failure", targets=["ops"], pipeline="ingestion", run=result))
notifier.flush(timeout=10.0)
notifier.close()
```

Each target type is a module that registers its channel by `type:` (base.CHANNELS); importing
them here is what makes them known.
"""

from __future__ import annotations

from medallion.orchestrate.notify import email, slack, webhook  # noqa: F401 (they register)
from medallion.orchestrate.notify.base import CHANNELS, EVENTS, DeliveryError, Notice
from medallion.orchestrate.notify.notifier import Notifier

__all__ = ["CHANNELS", "EVENTS", "DeliveryError", "Notice", "Notifier"]
