"""The client's address, for the per-address throttles (django-ratelimit's ``RATELIMIT_IP_META_KEY``).

Behind ``TRUSTED_PROXY_HOPS`` proxies that each append the address they received from to
``X-Forwarded-For`` (load balancers, nginx's ``$proxy_add_x_forwarded_for``), the client is the
entry that many places from the right: entries further left were written by the client itself
and prove nothing, so a client cannot pick its own throttle bucket by sending the header. With 0
hops (the default) the header is ignored and the socket's peer address counts. A header shorter
than the hop count, or an entry that is not an address, means the request did not come through the
proxies as configured: the peer address counts then too, never an error.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    peer = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_HOPS
    if hops <= 0:
        return peer
    entries = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(entries) < hops:
        return peer
    candidate = entries[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
