"""Tables as Markdown, CSV, JSON-safe values and one self-contained HTML page with sortable columns."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from collections.abc import Sequence

DECIMALS = 2  # points are reported to two decimals, as in paper 1


def format_cell(value, decimals: int = DECIMALS) -> str:
    """A cell as text: floats to fixed decimals (tiny ones in e-notation), None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if 0 < abs(value) < 0.5 * 10**-decimals:  # would print as zero: keep its magnitude
            return f"{value:.2e}"
        return f"{value:.{decimals}f}"
    return str(value)


def json_safe(value):
    """Replace non-finite floats (not valid JSON) with None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def to_json(payload) -> str:
    return json.dumps(json_safe(payload), indent=2, allow_nan=False)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence], decimals: int = DECIMALS) -> str:
    def cell(value) -> str:
        return format_cell(value, decimals).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_table(columns: Sequence[str], rows: Sequence[Sequence]) -> str:
    """CSV with full-precision numbers; missing values as empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in row])
    return buffer.getvalue()


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; cursor: pointer; user-select: none; position: sticky; top: 0; }
th:hover { background: #e0e8f0; }
th.asc::after { content: " \\25B2"; } th.desc::after { content: " \\25BC"; }
td.text { text-align: left; }
tbody tr:nth-child(even) { background: #fafafa; }
.notes { margin-top: 1.5em; font-size: 13px; color: #555; }
"""

# Click a header to sort by that column; click again to reverse. Numbers sort numerically
# (from each cell's data-sort value), empty cells last.
PAGE_SCRIPT = """
function sortTable(th) {
  const table = th.closest('table'), body = table.tBodies[0];
  const column = Array.from(th.parentNode.children).indexOf(th);
  const ascending = !th.classList.contains('asc');
  table.querySelectorAll('th').forEach(h => h.classList.remove('asc', 'desc'));
  th.classList.add(ascending ? 'asc' : 'desc');
  const key = row => row.children[column].dataset.sort;
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === '' || y === '') return (x === '') - (y === '');
    const nx = Number(x), ny = Number(y);
    const order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return ascending ? order : -order;
  });
  rows.forEach(row => body.appendChild(row));
}
"""


def sort_key(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def html_page(title: str, columns: Sequence[str], rows: Sequence[Sequence], notes: Sequence[str] = (),
              decimals: int = DECIMALS, figures: Sequence[tuple[str, bytes]] = ()) -> str:
    """One HTML page, no external resources, whose table sorts by any column on header click; `figures`
    (caption, PNG bytes) are embedded as data URIs below the table."""
    head = "".join(f'<th onclick="sortTable(this)">{html.escape(str(c))}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for value in row:
            kind = ' class="text"' if isinstance(value, str) else ""
            cells.append(f'<td{kind} data-sort="{html.escape(sort_key(value), quote=True)}">'
                         f"{html.escape(format_cell(value, decimals))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note_items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    notes_html = f'<div class="notes"><b>Notes</b><ul>{note_items}</ul></div>' if notes else ""
    figures_html = "".join(
        f'<figure><img alt="{html.escape(caption, quote=True)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"><figcaption>{html.escape(caption)}'
        "</figcaption></figure>" for caption, png in figures)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<table id="leaderboard"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        f"{figures_html}{notes_html}<script>{PAGE_SCRIPT}</script></body></html>\n"
    )
