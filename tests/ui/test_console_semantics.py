"""Every console page's markup, read as a screen reader would: landmarks, one h1 and no skipped
heading level, every field labelled, every table header scoped, every button named."""

from __future__ import annotations

from html.parser import HTMLParser

from tests.helpers import create_connection
from tests.ui.console import sign_in


class Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.labels: set[str] = set()
        self.buttons: list[str] = []
        self._button: list[str] | None = None
        self._labels_open = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if self._labels_open:
            found["wrapped-in-label"] = "yes"  # <label><input> ...</label> labels its field too
        self.tags.append((tag, found))
        self._labels_open += tag == "label"
        if tag == "label" and found.get("for"):
            self.labels.add(found["for"] or "")
        if tag == "button":
            self._button = [found.get("aria-label") or ""]

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._labels_open -= tag == "label" and self._labels_open > 0
        if tag == "button" and self._button is not None:
            self.buttons.append("".join(self._button).strip())
            self._button = None


def problems(html: str) -> list[str]:
    page = Outline()
    page.feed(html)
    names = [tag for tag, _ in page.tags]
    found = [f"no <{landmark}>" for landmark in ("header", "main") if landmark not in names]
    levels = [int(tag[1]) for tag in names if tag in ("h1", "h2", "h3", "h4")]
    if levels.count(1) != 1 or levels[0] != 1:
        found.append(f"headings {levels}: one h1, first")
    found += [f"h{b} after h{a}" for a, b in zip(levels, levels[1:], strict=False) if b > a + 1]
    for tag, attrs in page.tags:
        if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden":
            if attrs.get("id") not in page.labels and not attrs.get("aria-label") and "wrapped-in-label" not in attrs:
                found.append(f"unlabelled {tag} {attrs.get('name')}")
        if tag == "th" and attrs.get("scope") not in ("col", "row"):
            found.append("a <th> without scope")
    found += ["an unnamed button" for name in page.buttons if not name]
    return found


async def test_every_console_page_reads_well_without_seeing_it(console, api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    assert problems((await console.get("/ui/login")).text) == []
    csrf = await sign_in(console)
    base = f"/ui/connections/{conn['id']}"
    pages = [await console.get(path) for path in ("/ui/", base, f"{base}/log", f"{base}/log?level=nonsense",
                                                  f"{base}/preview", f"{base}/settings", f"{base}/webhooks",
                                                  f"{base}/budget")]
    pages.append(await console.post("/ui/connections", data={"csrf": csrf}))  # sent back with its errors
    for response in pages:
        assert response.status_code in (200, 400, 422), response.url
        assert problems(response.text) == [], response.url
        assert 'class="skip" href="#main"' in response.text and '<main id="main"' in response.text
