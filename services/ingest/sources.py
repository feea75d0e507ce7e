"""Which media sources a tenant's interviews may be read from, and an HTTP client that cannot be steered elsewhere.

Ingest reads media with Sightline's own network position and object-store credentials, so a source is read only
when the tenant's configuration allows it:

* ``s3://bucket/key``: the bucket, or a prefix of it, is on the tenant's list; Sightline's own buckets never are.
* ``http(s)://host/...``: the host (or ``*.domain``, optionally with ``:port``) is on the tenant's list, and every
  address it resolves to is a public one, unless it falls in a network the tenant lists (an on-premises media
  server, the tests' loopback server). Private, loopback, link-local (cloud metadata), shared and reserved
  addresses are refused by default. The connection goes to the very address that was checked (no second DNS
  lookup between the check and the connect), and redirects are followed by hand, each target checked again.
* ``file:///path``: never in production; elsewhere only under the configured roots, after resolving symbolic
  links, so a link cannot lead out of them.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Redirects followed before a source counts as unreadable.
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ALL_TENANTS = "*"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SourceRefused(Exception):
    """The tenant's configuration does not allow reading this source; retrying will not help."""


@dataclass(frozen=True)
class S3Grant:
    """A bucket, or one prefix of it, a tenant's media may be read from."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, entry: str) -> S3Grant:
        bucket, _, prefix = entry.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"not a bucket or bucket/prefix: {entry!r}")
        return cls(bucket, prefix)

    def covers(self, bucket: str, key: str) -> bool:
        return bucket == self.bucket and key.startswith(self.prefix)


@dataclass(frozen=True)
class HostGrant:
    """A host (or every subdomain of a domain, ``*.example.com``), on any port or on one."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> HostGrant:
        host, sep, port = entry.strip().lower().rpartition(":")
        if not sep or not port.isdigit():
            host, port = entry.strip().lower(), ""
        if not host or "/" in host:
            raise ValueError(f"not a host or host:port: {entry!r}")
        return cls(host, int(port) if port else None)

    def covers(self, host: str, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        host = host.lower().rstrip(".")
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host


@dataclass(frozen=True)
class SourceRules:
    """What one tenant's media may be read from (see the module docstring)."""

    s3: tuple[S3Grant, ...] = ()
    http_hosts: tuple[HostGrant, ...] = ()
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, s3: Iterable[str] = (), http_hosts: Iterable[str] = (), networks: Iterable[str] = ()) -> SourceRules:
        return cls(
            tuple(S3Grant.parse(e) for e in s3),
            tuple(HostGrant.parse(e) for e in http_hosts),
            tuple(ipaddress.ip_network(n, strict=False) for n in networks),
        )

    def __or__(self, other: SourceRules) -> SourceRules:
        return SourceRules(
            self.s3 + other.s3,
            self.http_hosts + other.http_hosts,
            self.allowed_networks + other.allowed_networks,
        )


@dataclass(frozen=True)
class SourcePolicy:
    """Every tenant's source rules, the file roots, and the buckets no tenant may read (Sightline's own)."""

    tenants: Mapping[str, SourceRules] = field(default_factory=dict)
    #: Directories ``file://`` sources may be under; empty: ``file://`` is refused.
    file_roots: tuple[Path, ...] = ()
    reserved_buckets: frozenset[str] = frozenset()

    def rules_for(self, tenant_id: str) -> SourceRules:
        """The tenant's own rules plus those for every tenant (``"*"``); nothing when neither is configured."""
        return self.tenants.get(ALL_TENANTS, SourceRules()) | self.tenants.get(tenant_id, SourceRules())

    def check_s3(self, tenant_id: str, bucket: str, key: str) -> None:
        uri = f"s3://{bucket}/{key}"
        if bucket in self.reserved_buckets:
            raise SourceRefused(f"{uri} is in one of Sightline's own buckets, which are never a media source")
        if any(part in ("", ".", "..") for part in key.split("/")):
            raise SourceRefused(f"{uri}: the key has an empty, '.' or '..' segment")
        if not any(grant.covers(bucket, key) for grant in self.rules_for(tenant_id).s3):
            raise SourceRefused(f"{uri} is not under a bucket or prefix tenant {tenant_id} allows")

    def check_file(self, path: Path) -> Path:
        """The resolved path, when it lies under a configured root."""
        if not self.file_roots:
            raise SourceRefused("file:// sources are not accepted here")
        resolved = path.resolve()
        if not any(resolved.is_relative_to(root.resolve()) for root in self.file_roots):
            raise SourceRefused(f"{path} is not under a directory file:// sources may be read from")
        return resolved


def address_allowed(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    """Public addresses, and any address in one of the tenant's networks."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    if any(address in net for net in networks):
        return True
    return address.is_global and not address.is_multicast


def resolve_checked(host: str, port: int, rules: SourceRules) -> str:
    """One address of `host` to connect to, after checking every address it resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectionError(f"cannot resolve {host}: {exc.strerror}") from exc  # DNS hiccups are retried
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    refused = [a for a in addresses if not address_allowed(ipaddress.ip_address(a), rules.allowed_networks)]
    if refused:
        raise SourceRefused(
            f"{host} resolves to {', '.join(refused)}: private, loopback, link-local and reserved addresses "
            "are refused unless the tenant allows their network"
        )
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address already checked, whatever DNS says now; Host stays the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As `_PinnedHTTPConnection`, with TLS verified against the URL's host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def open_http(
    url: str, rules: SourceRules, timeout: float, *, tls: ssl.SSLContext | None = None
) -> http.client.HTTPResponse:
    """A successful response for `url` (status 2xx, body unread), checking the URL and every redirect's target
    against `rules`. Non-2xx final statuses raise `HTTPStatusError`."""
    tls = tls or ssl.create_default_context()
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceRefused(f"not an http(s) URL: {redacted(url)}")
        if parts.username or parts.password:
            raise SourceRefused(f"{redacted(url)}: credentials in the URL are not accepted")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not any(grant.covers(parts.hostname, port) for grant in rules.http_hosts):
            raise SourceRefused(f"{parts.hostname}:{port} is not a host this tenant allows media from")
        address = resolve_checked(parts.hostname, port, rules)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = _PinnedHTTPSConnection(parts.hostname, port, address, timeout, tls)
        else:
            conn = _PinnedHTTPConnection(parts.hostname, port, address, timeout)
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        conn.request("GET", target, headers={"User-Agent": "sightline-ingest"})
        response = conn.getresponse()
        if response.status in REDIRECT_STATUSES:
            location = response.getheader("Location")
            response.close()
            conn.close()
            if not location:
                raise HTTPStatusError(response.status, f"redirect without a Location from {redacted(url)}")
            url = urllib.parse.urljoin(url, location)
            continue
        if not 200 <= response.status < 300:
            response.close()
            conn.close()
            raise HTTPStatusError(response.status, f"HTTP {response.status} from {redacted(url)}")
        return response
    raise SourceRefused(f"more than {MAX_REDIRECTS} redirects from {redacted(url)}")


class HTTPStatusError(Exception):
    """The server answered with a status other than success."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def redacted(url: str) -> str:
    """The URL without its query and credentials: presigned URLs carry credentials in the query."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


__all__ = [
    "HTTPStatusError",
    "HostGrant",
    "S3Grant",
    "SourcePolicy",
    "SourceRefused",
    "SourceRules",
    "address_allowed",
    "open_http",
    "redacted",
    "resolve_checked",
]
