"""Names that end up in Kubernetes and in Google-style resource paths."""

import re

from django.core.exceptions import ValidationError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS_LABEL_MAX = 63
# Namespaces a project must never take over.
RESERVED_SLUGS = {"default", "mlplatform", "local-path-storage"}


def dns_label_problem(value: str) -> str | None:
    """Why `value` is not a usable DNS-1123 label, or None when it is."""
    if not value:
        return "must not be empty"
    if len(value) > DNS_LABEL_MAX:
        return f"must be at most {DNS_LABEL_MAX} characters (got {len(value)})"
    if not DNS_LABEL.match(value):
        return (
            "must be a DNS-1123 label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def validate_dns_label(value: str) -> None:
    if problem := dns_label_problem(value):
        raise ValidationError(f"'{value}' {problem}.", code="invalid")


def validate_project_slug(value: str) -> None:
    validate_dns_label(value)
    if value in RESERVED_SLUGS or value.startswith(("kube-", "openshift-")):
        raise ValidationError(f"'{value}' is reserved for the cluster.", code="reserved")
