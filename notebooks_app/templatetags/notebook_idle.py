"""`{% notebook_idle_state notebook as idle %}`: the idle-culling state for a notebook's page."""

from __future__ import annotations

from django import template

from notebooks_app.idle import Verdict
from notebooks_app.selectors import idle_state

register = template.Library()


@register.simple_tag
def notebook_idle_state(notebook) -> Verdict | None:
    return idle_state(notebook) if notebook is not None else None
