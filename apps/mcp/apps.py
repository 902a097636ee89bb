from django.apps import AppConfig


class McpConfig(AppConfig):
    """The MCP server at ``/mcp``: memory tools for AI clients over Streamable HTTP."""

    name = "apps.mcp"
    label = "mcp"

    def ready(self) -> None:
        from apps.oauth.resources import register_protected_resource

        from .auth import MCP_RESOURCE, required_scopes

        # RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp, so MCP clients can
        # discover the authorization server and run OAuth by themselves; it lists the scopes the
        # tools need, which is what those clients then ask the user for.
        register_protected_resource(MCP_RESOURCE, "Synchronex MCP server", scopes=required_scopes)
