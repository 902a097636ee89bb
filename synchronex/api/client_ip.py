"""The client's address, for the per-address throttles (django-ratelimit's ``RATELIMIT_IP_META_KEY``).

Behind ``TRUSTED_PROXY_HOPS`` proxies that each append the address they received from to
``X-Forwarded-For`` (load balancers, nginx's ``$proxy_add_x_forwarded_for``), the client is the
entry that many places from the right: entries further left were written by the client itself
and prove nothing, so a client cannot pick its own throttle bucket by sending the header. With 0
hops (the default) the header is ignored and the socket's peer address counts. A header shorter
than the hop count, or an entry that is not an address, means the request did not come through the
proxies as configured: the peer address counts then too, never an error.

An IPv4 client written IPv4-mapped (``::ffff:a.b.c.d``: a proxy writing the header that way, or
gunicorn on a dual-stack ``[::]`` socket) counts as its IPv4 address, in the header and as the
peer alike. django-ratelimit buckets IPv6 addresses by /64, so every such client would otherwise
share the one bucket ``::``, and a few guessers would lock all of them out.

An entry written with the client's port (``a.b.c.d:port``, ``[v6]:port``, or ``[v6]``: Azure
Application Gateway and IIS ARR write it so) counts as its address: read as no address, every
client behind the proxy fell back to the proxy's one bucket. An entry still unreadable is logged,
once per process, as that fall-back makes a per-client throttle a global one.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from django.conf import settings

logger = logging.getLogger("synchronex.api")

# ``a.b.c.d:port``, ``[v6]`` and ``[v6]:port``: the address, without brackets or port.
_WITH_PORT = re.compile(r"(?P<v4>[0-9.]+):[0-9]{1,5}|\[(?P<v6>[^\]]*:[^\]]*)\](?::[0-9]{1,5})?")
_warned = False


def client_ip(request) -> str:
    raw_peer = request.META.get("REMOTE_ADDR", "")
    peer = _address(raw_peer) or raw_peer  # not an address (a test client's): as it is, as before
    hops = settings.TRUSTED_PROXY_HOPS
    if hops <= 0:
        return peer
    entries = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(entries) < hops:
        return peer
    address = _address(entries[-hops])
    if address is None:
        if entries[-hops]:  # an empty header is no header: a request that did not come through the proxy
            _warn_once(entries[-hops])
        return peer
    return address


def _warn_once(entry: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        logger.warning(
            "X-Forwarded-For entry %r is not an address: the peer counts instead (is TRUSTED_PROXY_HOPS right?)",
            entry[:60],
        )


def _address(text: str) -> str | None:
    """``text`` as an address in its canonical form (IPv4 for an IPv4-mapped one, without a port
    or brackets), or None."""
    with_port = _WITH_PORT.fullmatch(text)
    if with_port:
        text = with_port["v4"] or with_port["v6"]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped if mapped is not None else address)
