"""MIF v2 (Memory Interchange Format) export and import (SPEC §8).

- ``export``: the streamed MIF JSON document of a space (maximum-compatibility profile);
- ``markdown``: the same rows as a Markdown document for people;
- ``importers``: format detection and the import workflow (MIF, mem0, MCP memory JSONL);
- ``mem0`` / ``mcp_jsonl``: converters from those formats to MIF memories;
- ``restore``: decisions, product states and the kernel back from ``vendor_extensions.synchronex``;
- ``writer``: generic memories written in batches, deduplicated by id then content.
"""
