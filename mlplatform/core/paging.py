"""Paging and name search for the console's lists: `?q=` narrows by name, `?page=` picks a page.

The links keep every other query parameter (filters such as `state`), so a filter, a search and a
page combine; `fragment` (the htmx table refresh) is left out of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PER_PAGE = 25
MAX_QUERY = 100  # a name search longer than any name finds nothing: cut it


@dataclass(frozen=True)
class Listing:
    page: Page
    q: str  # the name search, "" for none
    query: str  # the other parameters, urlencoded, for the page links

    @property
    def items(self) -> list:
        return list(self.page.object_list)


def search_text(request: HttpRequest) -> str:
    return request.GET.get("q", "").strip()[:MAX_QUERY]


def paginate(request: HttpRequest, items: QuerySet, *, name_field: str, per_page: int = PER_PAGE) -> Listing:
    """The page of `items` that `?page=` asks for (the last one past the end, the first for junk),
    of those whose `name_field` contains `?q=` (any case)."""
    q = search_text(request)
    if q:
        items = items.filter(**{f"{name_field}__icontains": q})
    page = Paginator(items, per_page).get_page(request.GET.get("page"))
    params = request.GET.copy()
    for key in ("page", "fragment"):
        params.pop(key, None)
    return Listing(page=page, q=q, query=params.urlencode())
