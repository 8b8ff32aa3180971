"""The sync log as CSV: one writer for the REST API (`format=csv`) and the console's Export CSV
link, so both hand an operator the same columns and the same defused cells."""

from __future__ import annotations

import csv
import io

from fastapi.responses import Response

from app.models import SyncLog

CSV_COLUMNS = ["created_at", "level", "action", "status", "sku", "zoho_item_id", "store_id", "message",
               "connection_id", "run_id"]


def csv_response(rows: list[SyncLog]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, column)) for column in CSV_COLUMNS])
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="skubridge-logs.csv"'})


def _cell(value: object) -> object:
    """Defuse spreadsheet formulas: SKUs and messages come from vendors and may start with '='."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
