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
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    raw_peer = request.META.get("REMOTE_ADDR", "")
    peer = _address(raw_peer) or raw_peer  # not an address (a test client's): as it is, as before
    hops = settings.TRUSTED_PROXY_HOPS
    if hops <= 0:
        return peer
    entries = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(entries) < hops:
        return peer
    return _address(entries[-hops]) or peer


def _address(text: str) -> str | None:
    """``text`` as an address in its canonical form (IPv4 for an IPv4-mapped one), or None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped if mapped is not None else address)
