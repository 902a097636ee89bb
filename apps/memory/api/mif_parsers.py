"""Body parsers of ``POST /memory/import-mif``: the body is read as text and the importer decides
what it is, because MCP memory JSONL (one JSON object per line) is not one JSON document."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from synchronex.api import errors
from synchronex.api.middleware import body_limit_for


@dataclass(frozen=True)
class MifBody:
    """The request body as text (UTF-8), with the media type it was sent as."""

    text: str
    media_type: str

    def format_for(self, asked: str) -> str:
        """The import format: ``asked``, except that ``auto`` takes the format a JSONL media type
        declares (MCP memory JSONL), so a first line that is broken costs that line only, as with
        ``format=mcp-jsonl``, instead of the body being read as one broken JSON document."""
        declared = self.media_type.split(";", 1)[0].strip().lower()
        return "mcp-jsonl" if asked == "auto" and declared in JSONL_MEDIA_TYPES else asked


class MifTextParser(BaseParser):
    """Reads at most the path's body limit (25 MiB here) and decodes strict UTF-8."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> MifBody:
        request = (parser_context or {}).get("request")
        limit = body_limit_for(request.path if request is not None else "")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise errors.PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
        try:
            return MifBody(raw.decode("utf-8"), media_type or self.media_type)
        except UnicodeDecodeError as exc:
            raise ParseError(f"body is not valid UTF-8 (byte {exc.start})") from None


class NdjsonParser(MifTextParser):
    media_type = "application/x-ndjson"


class JsonlParser(MifTextParser):
    media_type = "application/jsonl"


class JsonLinesParser(MifTextParser):
    media_type = "application/x-jsonlines"


class PlainTextParser(MifTextParser):
    media_type = "text/plain"


MIF_PARSERS = [MifTextParser, NdjsonParser, JsonlParser, JsonLinesParser, PlainTextParser]
JSONL_MEDIA_TYPES = (NdjsonParser.media_type, JsonlParser.media_type, JsonLinesParser.media_type)
MIF_MEDIA_TYPES = [parser.media_type for parser in MIF_PARSERS]
