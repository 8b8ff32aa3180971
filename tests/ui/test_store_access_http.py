"""The store access pages read well without seeing them (tests/ui/test_console_semantics.py's
outline), and Test connection is a CSRF-checked post that comes back to its report."""

from __future__ import annotations

from tests.helpers import create_connection
from tests.ui.console import sign_in
from tests.ui.test_console_semantics import problems


async def test_the_test_page_before_and_after_a_test(console, api, zoho, store, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    csrf = await sign_in(console)
    base = f"/ui/connections/{conn['id']}"
    empty = await console.get(f"{base}/test")
    assert empty.status_code == 200 and "No test in the last hour" in empty.text
    assert problems(empty.text) == []
    assert (await console.post(f"{base}/test/run", data={})).status_code == 403  # no CSRF token

    ran = await console.post(f"{base}/test/run", data={"csrf": csrf})
    assert ran.status_code == 303 and ran.headers["location"] == f"{base}/test"
    report = await console.get(f"{base}/test")
    assert "Every check passed" in report.text
    assert report.text.count('class="badge v-passed"') == 6
    assert problems(report.text) == []
    status = await console.get(base)
    assert problems(status.text) == []
    assert "Store access" in status.text and "Test connection" in status.text
