"""``If-Match`` (RFC 9110 §13.1.1), read one way by every versioned write: the Identity Kernel's
PUT, a product state's POST (and the MCP tool's ``expected_version``).

A versioned resource's ETag is its version, quoted: ``"3"``. The header is ``*`` or a list of
entity tags; a bare number (``3``) is taken for ``"3"``, since clients often send back the version
they read without its quotes. An entity tag that names no current version — another number, one
longer than any version, one spelt with a leading zero (``"01"``), a weak tag (``W/"3"``: If-Match
compares strongly, so a weak tag never matches), any other opaque tag (``"abc"``) — is
PRECONDITION_FAILED, as SPEC §1 asks of an If-Match that does not match. A value that is no entity
tag at all (``yesterday``, ``"3`` without its closing quote, ``*`` among tags) is VALIDATION_ERROR:
the client has a bug, and a 412 would send it to read the resource again and retry with the same
header.

``If-None-Match`` (RFC 9110 §13.1.2) is read by the same parser, by the same two writes: ``*``
makes a write that only creates, a list of tags refuses a write over a version it names (compared
weakly there, so ``W/"3"`` names 3). A resource not written yet (a missing product, a kernel at
version 0) matches nothing. Reads do not evaluate it: no ETag here is a cache validator (README
"Conventions").

A condition is about the resource the client read, and an ETag names a version, not a space: a
conditional write whose stored scope fell back to the personal space is refused
(``refuse_after_fallback``), and a write to a resource without a version refuses an ``If-Match``
and any ``If-None-Match`` (``refuse_without_version``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Self

from synchronex.api import errors

# One element of the list and the separator after it, from a position: a strong or weak entity tag
# (etagc: visible ASCII but '"', and obs-text, which a WSGI header holds as Latin-1 characters), a
# bare number, or nothing (RFC 9110 §5.6.1: recipients skip empty elements). Read by a scan, not
# split on commas, since an opaque tag may hold one.
_ELEMENT = re.compile(r'[ \t]*(?:(?P<weak>W/)?"(?P<opaque>[\x21\x23-\x7e\x80-\xff]*)"|(?P<bare>[0-9]+))?[ \t]*(?:,|\Z)')
# A version as its ETag spells it: no leading zero, since strong comparison is character for
# character ("01" is another tag than "1"). Versions are PositiveIntegerFields (at most
# 2,147,483,647): a tag of more digits names none, and is never handed to int(), which refuses
# strings of more than 4,300 digits.
_VERSION = re.compile(r"0|[1-9][0-9]{0,9}")
_MALFORMED = 'Send "*" or the ETag you received, e.g. "3".'
_NO_VERSION = (
    "This resource has no version, so no If-Match can match it: nothing was done. Send none (or *); only "
    "PUT /memory/identity and POST /memory/product/{name}/state compare it with a version."
)
_NONE_WITHOUT_VERSION = (
    "This resource has no version, so If-None-Match cannot be evaluated: nothing was done. Send none; only "
    "PUT /memory/identity and POST /memory/product/{name}/state compare it with a version."
)


def etag_for(version: int) -> str:
    """The ``ETag`` of a resource at ``version``."""
    return f'"{version}"'


@dataclass(frozen=True)
class _EntityTags:
    """A parsed ``*`` or list of entity tags, read as the versions it names."""

    any: bool
    versions: frozenset[int]

    HEADER: ClassVar[str]
    WEAK: ClassVar[bool]  # whether a weak tag (W/"3") names its version: the weak comparison

    @classmethod
    def parse(cls, header: str | None) -> Self | None:
        """None when the header is absent; VALIDATION_ERROR on the header when it is not its
        syntax (or holds no element)."""
        if header is None:
            return None
        header = header.strip()
        if header == "*":
            return cls(any=True, versions=frozenset())
        elements, position = 0, 0
        versions = set()
        while position < len(header):
            element = _ELEMENT.match(header, position)
            if element is None:
                raise errors.ValidationFailed.for_fields({cls.HEADER: _MALFORMED})
            position = element.end()
            tag = element["bare"] or element["opaque"]
            if tag is None:
                continue
            elements += 1
            if (cls.WEAK or not element["weak"]) and _VERSION.fullmatch(tag):
                versions.add(int(tag))
        if not elements:
            raise errors.ValidationFailed.for_fields({cls.HEADER: _MALFORMED})
        return cls(any=False, versions=frozenset(versions))

    def matches(self, version: int) -> bool:
        return self.any or version in self.versions


@dataclass(frozen=True)
class IfMatch(_EntityTags):
    """A parsed ``If-Match``: ``*`` (any current version) or the versions its strong tags name."""

    HEADER = "If-Match"
    WEAK = False
    # What the caller sent, for refusals: an MCP caller gave an argument, not this header.
    sent_as: str = "If-Match"

    @classmethod
    def version(cls, version: int) -> IfMatch:
        """The precondition "still at ``version``" (the MCP tools' ``expected_version``)."""
        return cls(any=False, versions=frozenset({version}), sent_as="expected_version")


@dataclass(frozen=True)
class IfNoneMatch(_EntityTags):
    """A parsed ``If-None-Match`` of a write (RFC 9110 §13.1.2): the write fails when it
    ``matches`` the current version: ``*`` matches any (so the write may only create), a list the
    versions its tags name. It compares weakly, so ``W/"3"`` names version 3 as ``"3"`` does.
    A resource that does not exist matches nothing."""

    HEADER = "If-None-Match"
    WEAK = True
    sent_as: str = "If-None-Match"


def refuse_after_fallback(active, *conditions: _EntityTags | None) -> None:
    """PRECONDITION_FAILED when a condition was sent (``If-Match``, ``If-None-Match``,
    ``expected_version``) and the stored workspace fell back to the personal space on this request
    (``ActiveSpace.fell_back``): the client read its versions in the workspace, and the personal
    resource of that name may be at the same one. Nothing is written; the notice header says why."""
    sent = next((condition.sent_as for condition in conditions if condition is not None), None)
    if sent is not None and active.fell_back:
        raise errors.PreconditionFailed(
            f"{sent} was sent, but your stored workspace is no longer available to you and this request "
            "would act on your personal scope, which your version was not read from. Nothing was written: "
            "read the resource again (or name the scope in X-Synchronex-Scope) and retry."
        )


def refuse_without_version(request) -> None:
    """VALIDATION_ERROR naming ``If-Match`` when a write to a resource without a version (every
    write but the kernel's PUT and a product state's POST; ``ApiView.versioned``) carries one other
    than ``*``. No entity tag can match such a resource (RFC 9110 §13.1.1), so the method must not
    run; and a 412 would send the client to read an ETag that does not exist and retry, so the
    header is refused as a query parameter the operation does not take is. ``*`` asks only that
    the resource exist, which the operation checks anyway (NOT_FOUND).

    Any ``If-None-Match`` is refused the same way, ``*`` too: it asks that the write not go over
    the resource as it stands (RFC 9110 §13.1.2: the server MUST evaluate it), and nothing here
    can say what it stands at; ignored, a create-only write would overwrite."""
    header = request.headers.get("If-Match")
    if header is not None and header.strip() != "*":
        raise errors.ValidationFailed.for_fields({"If-Match": _NO_VERSION})
    if request.headers.get("If-None-Match") is not None:
        raise errors.ValidationFailed.for_fields({"If-None-Match": _NONE_WITHOUT_VERSION})
