"""Path segments of Google-style resource names: anything but '/' and the ':verb' separator."""

from django.urls import register_converter


class ResourceIdConverter:
    regex = r"[^/:]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ResourceIdConverter, "rid")
