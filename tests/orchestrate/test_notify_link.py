"""A notification's link opens the run's page in the web UI of a running `medallion serve
--http-port` (its address is `scheduler.ui_url`, as the README configures it)."""

from __future__ import annotations

import base64
import urllib.request

from tests.orchestrate.sinks import WebhookSink
from tests.orchestrate.test_notify import targets
from tests.serve.test_live_policy import PASSWORD, Served, served  # noqa: F401 (the fixture)

from medallion.orchestrate.notify import Notice, Notifier
from medallion.project import Project


def test_the_link_in_a_webhook_body_opens_the_run_page(tmp_path, served: Served) -> None:  # noqa: F811
    result = Project.load(served.root).run()
    ui_url = f"http://127.0.0.1:{served.http_port}"  # what `serve` prints, as a user copies it
    with WebhookSink() as sink:
        config = targets(tmp_path, f"  hook: {{type: webhook, url: '{sink.url}/h', on: success}}\n")
        n = Notifier(config.notifications, "shop", ui_url=ui_url, retry_delays=(0.05,))
        assert n.send(Notice(event="success", targets=["hook"], run=result)) == 1
        [request] = sink.wait_for(1)
        n.close()
    url = request.body["url"]
    assert url == f"{ui_url}/ui/runs/{result.run_id}"
    token = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    page = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(page, timeout=30) as answer:
        assert answer.status == 200
        assert result.run_id in answer.read().decode()
