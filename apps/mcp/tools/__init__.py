"""The MCP tools; importing this package registers them all in ``registry.TOOLS``."""

from . import confidence, memory, mif, sessions  # noqa: F401
