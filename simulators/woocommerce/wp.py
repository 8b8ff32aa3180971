"""Small ports of the PHP, WordPress and WooCommerce helpers whose quirks clients can observe.

Each function names the PHP function it imitates. They are deliberately literal: the point of the
simulator is that a client meets the same oddities (e.g. "0,35" → "035") it will meet in a store.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

_PHP_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_ENTITY_OK = re.compile(r"&(?!(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);)")
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)\b[^>]*>")
_OCTET = re.compile(r"%[a-fA-F0-9]{2}")

# Tags `wp_kses_post` keeps (a subset of $allowedposttags big enough for product copy).
_POST_TAGS = frozenset(
    "a abbr acronym address area article aside audio b bdo big blockquote br button caption cite "
    "code col colgroup dd del details dfn div dl dt em fieldset figcaption figure font footer h1 h2 "
    "h3 h4 h5 h6 header hgroup hr i img ins kbd label legend li main map mark menu nav object ol p "
    "pre q rb rp rt rtc ruby s samp section small span strike strong sub summary sup table tbody td "
    "textarea tfoot th thead time tr track tt u ul var video".split()
)
_BLOCK_START = re.compile(
    r"^\s*<(?:table|thead|tfoot|caption|col|colgroup|tbody|tr|td|th|div|dl|dd|dt|ul|ol|li|pre|"
    r"form|map|area|blockquote|address|math|style|p|h[1-6]|hr|fieldset|legend|section|article|"
    r"aside|hgroup|header|footer|nav|figure|figcaption|details|menu|summary)[\s/>]",
    re.IGNORECASE,
)


def is_numeric(value: Any) -> bool:
    """PHP `is_numeric`: ints, floats and numeric strings, never booleans."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return not (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))
    return isinstance(value, str) and bool(_PHP_NUMERIC.match(value))


def php_float_to_string(value: float) -> str:
    """PHP's `(string) $float` (precision 14): 7.5 → "7.5", 1.0 → "1"."""
    return f"{value:.14G}"


def php_string(value: Any) -> str:
    """PHP string conversion of a scalar, as a value reads back from a MySQL text column."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        return php_float_to_string(value)
    return str(value)


def intval(value: Any) -> int:
    """PHP `intval`: leading digits of a string, truncation of a float, 0 for junk."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str):
        match = re.match(r"^\s*([+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)", value)
        return int(float(match.group(1))) if match else 0
    return 0


def string_to_bool(value: Any) -> bool:
    """`wc_string_to_bool`: true, 1, "1", "yes", "true" (any case) are true."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    if isinstance(value, str):
        return value.lower() in ("yes", "true", "1")
    return False


def wc_clean(value: Any) -> str:
    """`wc_clean` = `sanitize_text_field`: strip tags, squeeze whitespace, drop %XX octets, trim."""
    text = php_string(value) if not isinstance(value, str) else value
    text = _TAG.sub("", text)
    text = re.sub(r"[\r\n\t ]+", " ", text)
    # sanitize_text_field removes percent-encoded octets, so "A%20B" is stored as "AB".
    while _OCTET.search(text):
        text = _OCTET.sub("", text)
    return text.strip()


def format_decimal(value: Any) -> str:
    """`wc_format_decimal`: keeps digits, "." and "-" only, and only the last dot.

    "1,234.50" → "1234.50", but "0,35" → "035": the store's decimal separator is ".".
    Floats go through PHP's string conversion (7.5 → "7.5").
    """
    if value is None:
        return ""
    if isinstance(value, float):
        return php_float_to_string(value)
    text = wc_clean(php_string(value))
    return re.sub(r"\.(?![^.]+$)|[^0-9.\-]", "", text)


def kses_post(text: Any) -> str:
    """`wp_filter_post_kses`, reduced: lone "&" becomes "&amp;", tags outside the post list go.

    WooCommerce runs names and descriptions through it, so "A & B" reads back as "A &amp; B".
    Attribute filtering is not simulated.
    """
    value = php_string(text) if not isinstance(text, str) else text
    value = _TAG.sub(lambda m: m.group(0) if m.group(1).lower() in _POST_TAGS else "", value)
    return _ENTITY_OK.sub("&amp;", value)


def _remove_accents(text: str) -> str:
    """`remove_accents`: é → e; other non-ASCII characters are kept for percent-encoding."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def sanitize_title(title: Any) -> str:
    """`sanitize_title` (save context) + `sanitize_title_with_dashes`: the WordPress slug rules."""
    text = _TAG.sub("", php_string(title) if not isinstance(title, str) else title)
    text = _remove_accents(text)
    text = re.sub(r"%([a-fA-F0-9]{2})", r"---\1---", text).replace("%", "")
    text = re.sub(r"---([a-fA-F0-9]{2})---", r"%\1", text)
    text = "".join(ch if ord(ch) < 128 else quote(ch, safe="").lower() for ch in text).lower()
    text = text.replace("%c2%a0", "-").replace("%e2%80%93", "-").replace("%e2%80%94", "-")
    for entity in ("&nbsp;", "&#160;", "&ndash;", "&#8211;", "&mdash;", "&#8212;"):
        text = text.replace(entity, "-")
    text = text.replace("/", "-").replace("%c3%97", "x")
    text = re.sub(r"&.+?;", "", text)
    text = text.replace(".", "-")
    text = re.sub(r"[^%a-z0-9 _-]", "", text)
    text = re.sub(r"\s+", "-", text)
    text = re.sub(r"-+", "-", text)
    return text.strip("-")


def wpautop(text: str) -> str:
    """A reduced `wpautop`: what GET responses (context=view) do to descriptions.

    Paragraphs (blank-line separated) that do not start with a block tag are wrapped in <p>, single
    newlines inside them become "<br />\\n", and the result ends with "\\n". Real wpautop also
    re-flows newlines around nested block tags; that is not simulated.
    """
    if not text.strip():
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        chunk = chunk.strip("\n")
        if _BLOCK_START.match(chunk):
            out.append(chunk)
        else:
            out.append("<p>" + chunk.replace("\n", "<br />\n") + "</p>")
    return "\n".join(out) + "\n"


def natural_list(items: list[Any]) -> str:
    """WordPress `%l` list format: "a, b, and c" (or "a and b")."""
    words = [str(item) for item in items]
    if len(words) <= 1:
        return "".join(words)
    if len(words) == 2:
        return f"{words[0]} and {words[1]}"
    return ", ".join(words[:-1]) + ", and " + words[-1]


def rawurlencode(value: str) -> str:
    """PHP `rawurlencode` (RFC 3986: only A-Z a-z 0-9 - _ . ~ stay)."""
    return quote(value, safe="-_.~")


def php_urlencode(value: str) -> str:
    """PHP `urlencode` (spaces as "+", "~" encoded): what `add_query_arg` links carry."""
    return quote_plus(value, safe="-_.")


def wp_date(moment: datetime | None) -> str | None:
    """A WordPress REST date ("2026-11-26T21:50:42", no zone); the simulated site runs in UTC."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_rest_date(value: Any) -> datetime | None:
    """`rest_parse_date`: ISO 8601 with optional zone; a date without zone is site time (UTC)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$", text):
        return None
    text = text.replace("z", "Z").replace("Z", "+00:00").replace(" ", "T").replace("t", "T")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def now_utc() -> datetime:
    """Current time at whole seconds, as WordPress stores post dates."""
    return datetime.now(UTC).replace(microsecond=0)


def parse_php_query(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """PHP's `$_GET` from decoded query pairs: the last plain key wins, `a[]=1&a[]=2` makes a
    list and `a[x]=1` a map (one level deep, enough for REST clients)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        match = re.match(r"^([^\[\]]+)\[([^\[\]]*)\]$", key)
        if not match:
            result[key] = value
            continue
        name, sub = match.groups()
        container = result.get(name)
        if sub == "":
            container = container if isinstance(container, list) else []
            container.append(value)
        else:
            container = container if isinstance(container, dict) else {}
            container[sub] = value
        result[name] = container
    return result


def php_empty(value: Any) -> bool:
    """PHP `empty()`: None, "", "0", 0, False and empty containers."""
    return value in (None, "", "0", 0, False) or (isinstance(value, (list, dict)) and not value)
