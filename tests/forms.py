"""Reading a rendered form back the way a user sees it: which inputs are marked invalid, what each
input holds, and the messages shown at them."""

from __future__ import annotations

from html.parser import HTMLParser


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.invalid: set[str] = set()
        self.values: dict[str, str] = {}
        self.checked: set[str] = set()
        self.messages: list[str] = []
        self._textarea: str | None = None
        self._select: str | None = None
        self._message = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag in ("input", "select", "textarea") and name:
            if "is-invalid" in (a.get("class") or "").split():
                self.invalid.add(name)
            if tag == "input" and a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.checked.add(f"{name}={a.get('value', 'on')}")
            elif tag == "input":
                self.values[name] = a.get("value") or ""
        if tag == "textarea":
            self._textarea = name
            self.values[name] = ""
        if tag == "select":
            self._select = name
        if tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")
        if a.get("data-testid") == "field-error":
            self._message = True
            self.messages.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "div":
            self._message = False

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data
        if self._message:
            self.messages[-1] += data


def read_form(html: str) -> _Form:
    """The page's inputs: `.invalid` names, `.values` (text, textareas, selected options),
    `.checked` (`name=value` of checked boxes) and `.messages` (the field errors' texts)."""
    form = _Form()
    form.feed(html)
    return form
