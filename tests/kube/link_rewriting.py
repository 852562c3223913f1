"""How the apiserver's service proxy rewrites links on the way back (its transport.go): URLs in
Location headers and in HTML attributes, through the encodings it can read."""

from __future__ import annotations

import functools
import gzip
import posixpath
import re
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

# transport.go's atomsToAttrs: the attributes of these tags that hold URLs the proxy rewrites.
_URL_ATTRIBUTES = {
    "a": {"href"},
    "applet": {"codebase"},
    "area": {"href"},
    "audio": {"src"},
    "base": {"href"},
    "blockquote": {"cite"},
    "body": {"background"},
    "button": {"formaction"},
    "command": {"icon"},
    "del": {"cite"},
    "embed": {"src"},
    "form": {"action"},
    "frame": {"longdesc", "src"},
    "head": {"profile"},
    "html": {"manifest"},
    "iframe": {"longdesc", "src"},
    "img": {"longdesc", "src", "usemap"},
    "input": {"src", "usemap", "formaction"},
    "ins": {"cite"},
    "link": {"href"},
    "object": {"classid", "codebase", "data", "usemap"},
    "q": {"cite"},
    "script": {"src"},
    "source": {"src"},
    "video": {"poster", "src"},
}
# Elements whose content Go's HTML tokenizer reads as text, not tags: nothing inside is rewritten.
_RAW_TEXT = frozenset(
    {"iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp"}
)
_QUOTED = r"\"[^\"]*\"|'[^']*'"
_TAG = re.compile(rf"<!--.*?-->|<(?P<tag>[a-zA-Z][^\s/>]*)(?P<attributes>(?:[^>\"']|{_QUOTED})*)>", re.S)
_ATTRIBUTE = re.compile(rf"(?P<before>[\s/](?P<name>[^\s/>=]+)\s*=\s*)(?P<value>{_QUOTED}|[^\s>\"']+)")


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


# Content-Encoding -> (decode, encode) of the HTML that transport.go rewrites; other encodings pass as
# they are. Its "deflate" is Go's compress/flate: raw DEFLATE without the zlib header.
HTML_CODINGS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "": (lambda data: data, lambda data: data),
    "gzip": (gzip.decompress, gzip.compress),
    "deflate": (functools.partial(zlib.decompress, wbits=-zlib.MAX_WBITS), _raw_deflate),
}


def under(prefix: str, path: str) -> str:
    """`path` below `prefix`, cleaned as Go's path.Join does, keeping a trailing slash (transport.go)."""
    joined = posixpath.normpath(f"{prefix}/{path}")
    return joined + "/" if path.endswith("/") and not joined.endswith("/") else joined


def proxied_url(url: str, *, prefix: str, backend_host: str, request_host: str) -> str:
    """transport.go's rewriteURL: an absolute path, or a URL on the backend's or the requested host,
    goes under the proxy `prefix`; relative URLs and other hosts stay as they are."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if (parts.netloc and parts.netloc not in (backend_host, request_host)) or not parts.path.startswith("/"):
        return url
    # The apiserver's rewriting transport has no scheme or host of its own (a Go server request's URL
    # carries neither), so a URL keeps them only when it names the host the client asked for.
    scheme, netloc = (parts.scheme, parts.netloc) if parts.netloc == request_host else ("", "")
    path = parts.path if parts.path.startswith(prefix) else under(prefix, parts.path)
    return urlunsplit((scheme, netloc, path, parts.query, parts.fragment))


def rewrite_html(text: str, rewrite: Callable[[str], str]) -> str:
    """The URL attributes of `_URL_ATTRIBUTES` rewritten, tag by tag, skipping comments and the
    content of raw-text elements as Go's tokenizer does; everything else byte for byte."""
    pieces, position = [], 0
    while tag := _TAG.search(text, position):
        pieces += [text[position : tag.start()], _rewrite_tag(tag, rewrite)]
        position = tag.end()
        name = (tag["tag"] or "").lower()
        if name in _RAW_TEXT and not tag["attributes"].endswith("/"):
            end = re.compile(rf"</{name}[\s/>]", re.I).search(text, position)
            stop = end.start() if end else len(text)
            pieces.append(text[position:stop])
            position = stop
    return "".join([*pieces, text[position:]])


def _rewrite_tag(tag: re.Match, rewrite: Callable[[str], str]) -> str:
    names = _URL_ATTRIBUTES.get((tag["tag"] or "").lower())
    if not names:
        return tag[0]

    def attribute(match: re.Match) -> str:
        if match["name"].lower() not in names:
            return match[0]
        value = match["value"]
        quote = value[0] if value[0] in "\"'" else ""
        return match["before"] + quote + rewrite(value[1:-1] if quote else value) + quote

    return f"<{tag['tag']}{_ATTRIBUTE.sub(attribute, tag['attributes'])}>"
