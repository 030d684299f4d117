"""How the SFU's peer connections meet the network: ICE servers, host addresses, ports.

The one module that reaches into aiortc/aioice for networking (aiortc 1.14-1.16, aioice 0.9+):
- `rtc_configuration` always passes an explicit ICE server list (never None: aiortc would fall
  back to Google's STUN server) and bundles everything on one transport.
- `prepare` replaces, per ICE connection of a peer connection, aioice's candidate gathering with
  one that binds the configured addresses (aioice skips 127.0.0.1 on its own) within the
  configured port range, then lets aioice add its STUN/TURN candidates as usual.
- `announce` rewrites bound addresses in host candidates of an outgoing SDP to the announced
  public address (1:1 NAT, as mediasoup's `announcedIp`).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import random
import socket
import weakref
from dataclasses import dataclass
from typing import Any

from aioice import Candidate
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import Connection, StunProtocol, get_host_addresses, server_reflexive_candidate
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCPeerConnection

from mediaserver.config import MediaConfig

_SOCKET_BUFFER = 262_144  # as aioice: room for a keyframe burst
_GATHER_TIMEOUT = 5.0


def rtc_configuration(config: MediaConfig) -> RTCConfiguration:
    """An explicit ICE server list (possibly empty) and max-bundle: one transport per pc."""
    servers = [
        RTCIceServer(
            urls=server["urls"],
            username=server.get("username"),
            credential=server.get("credential"),
        )
        for server in config.ice_servers
    ]
    return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def is_local_address(address: str) -> bool:
    """Whether this machine can bind `address`."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class HostPlan:
    """Which addresses to bind, on which ports, and what to announce instead of them."""

    bind: tuple[str, ...]
    port_min: int
    port_max: int
    announce: dict[str, str]  # bound address -> announced address

    @classmethod
    def from_config(cls, config: MediaConfig) -> HostPlan:
        local = tuple(ip for ip in config.announce_ips if is_local_address(ip))
        public = [ip for ip in config.announce_ips if ip not in local]
        bind = config.bind_ips or local or tuple(get_host_addresses(True, True))
        announce: dict[str, str] = {}
        for address in bind:
            version = ipaddress.ip_address(address).version
            target = next((p for p in public if ipaddress.ip_address(p).version == version), None)
            if target is not None and address not in config.announce_ips:
                announce[address] = target
        return cls(
            bind=tuple(bind), port_min=config.port_min, port_max=config.port_max, announce=announce
        )


_prepared: weakref.WeakSet[Connection] = weakref.WeakSet()


def ice_connections(pc: RTCPeerConnection) -> list[Connection]:
    """The aioice connections under a peer connection's transceivers (one when bundled)."""
    found: list[Connection] = []
    for transceiver in pc.getTransceivers():
        connection = transceiver.sender.transport.transport.iceGatherer._connection
        if connection not in found:
            found.append(connection)
    return found


def prepare(pc: RTCPeerConnection, plan: HostPlan) -> None:
    """Make `pc`'s not yet gathered ICE connections gather by `plan`; call before
    `setLocalDescription`, after the transceivers exist."""
    for connection in ice_connections(pc):
        if connection in _prepared:
            continue
        _prepared.add(connection)
        # An instance attribute: only this connection gathers our way.
        connection.gather_candidates = functools.partial(_gather, connection, plan)


async def _gather(connection: Connection, plan: HostPlan) -> None:
    if connection._local_candidates_start:
        return
    connection._local_candidates_start = True
    candidates: list[Candidate] = []
    for component in sorted(connection._components):
        protocols: list[StunProtocol] = []
        for address in plan.bind:
            protocol = await _bind(connection, address, component, plan)
            if protocol is None:
                continue
            if connection._closing:  # closed while we were binding: nobody else will close it
                protocol.transport.close()
                return
            # Registered at once, so a close() from now on closes the socket too.
            connection._protocols.append(protocol)
            protocols.append(protocol)
        candidates += [p.local_candidate for p in protocols]
        candidates += await _server_candidates(connection, component, protocols)
    connection._local_candidates += candidates
    connection._local_candidates_end = True


async def _bind(
    connection: Connection, address: str, component: int, plan: HostPlan
) -> StunProtocol | None:
    loop = asyncio.get_running_loop()
    if plan.port_min:
        ports = list(range(plan.port_min, plan.port_max + 1))
        random.shuffle(ports)
    else:
        ports = [0]
    for port in ports:
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: StunProtocol(connection), local_addr=(address, port)
            )
        except OSError:
            continue
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
        host, bound_port = transport.get_extra_info("sockname")[:2]
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=host,
            port=bound_port,
            type="host",
        )
        return protocol
    return None


async def _server_candidates(
    connection: Connection, component: int, protocols: list[StunProtocol]
) -> list[Candidate]:
    """Server-reflexive candidates for our sockets, then aioice's own TURN allocation."""
    found: list[Candidate] = []
    if connection.stun_server:
        tasks = [
            asyncio.create_task(server_reflexive_candidate(p, connection.stun_server))
            for p in protocols
            if ipaddress.ip_address(p.local_candidate.host).version == 4
        ]
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=_GATHER_TIMEOUT)
            for task in pending:
                task.cancel()
            found += [t.result()[0] for t in done if t.exception() is None]
    if connection.turn_server:
        # With no addresses aioice binds nothing itself and only allocates the relay.
        found += await connection.get_component_candidates(component=component, addresses=[])
    return found


def announce(sdp: str, plan: HostPlan) -> str:
    """`sdp` with bound addresses in host candidates replaced by the announced ones."""
    if not plan.announce:
        return sdp
    lines = []
    for line in sdp.split("\r\n"):
        parts = line.split(" ")
        if line.startswith("a=candidate:") and " typ host" in line:
            if len(parts) > 5 and parts[4] in plan.announce:
                parts[4] = plan.announce[parts[4]]
        elif line.startswith("c=IN IP") and len(parts) == 3 and parts[2] in plan.announce:
            parts[2] = plan.announce[parts[2]]
        lines.append(" ".join(parts))
    return "\r\n".join(lines)


def candidate_summary(pc: RTCPeerConnection) -> list[dict[str, Any]]:
    """Local candidates of `pc`, for logs and tests."""
    return [
        {"host": c.host, "port": c.port, "type": c.type}
        for connection in ice_connections(pc)
        for c in connection.local_candidates
    ]
