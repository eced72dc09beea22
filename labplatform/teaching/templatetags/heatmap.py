"""A heatmap row's cells as one string: 20,000 cells through the template engine took
half a second at 500 students x 40 tasks (bench/dashboard), and so did Django's escape()
called per cell. The values are few and repeat (states, marks, counts, task keys), so each
distinct one is escaped once."""

import html
from functools import lru_cache

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@lru_cache(maxsize=4096)
def _escaped(value: str) -> str:
    return html.escape(value, quote=True)


@register.simple_tag
def heatmap_cells(row) -> SafeString:
    # Safe: every value in it went through _escaped.
    return mark_safe(  # noqa: S308
        "".join(
            f'<td class="cell {_escaped(cell.state)}" data-task="{_escaped(cell.key)}" '
            f'title="{_escaped(cell.words)}">{_escaped(cell.mark)}</td>'
            for cell in row.cells
        )
    )
