"""What crosses the loopback interface, captured with a packet socket (root only): the TCP
payload of every packet, by port, for tests that check what a peer could read off the wire."""

from __future__ import annotations

import socket
import struct
import threading
from collections import defaultdict

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ETHERNET = 14
SO_RCVBUFFORCE = 33  # (Linux; the socket module does not name it)


class Capture:
    """`with Capture() as wire:` ... `wire.payload(port)`: every TCP byte to or from `port`,
    each packet counted once (the loopback shows each twice: going out and coming in)."""

    def __init__(self, interface: str = "lo"):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 256 << 20)
        self.sock.bind((interface, 0))
        self.sock.settimeout(0.2)
        self.flows: dict[tuple[int, int], bytearray] = defaultdict(bytearray)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> Capture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                packet, address = self.sock.recvfrom(1 << 17)
            except TimeoutError:
                continue
            if address[2] == PACKET_OUTGOING or len(packet) < ETHERNET + 20:
                continue
            ip = packet[ETHERNET:]
            if ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_TCP:
                continue
            tcp = ip[(ip[0] & 0x0F) * 4:]
            source, dest = struct.unpack("!HH", tcp[:4])
            self.flows[(source, dest)] += tcp[(tcp[12] >> 4) * 4:]

    def payload(self, port: int) -> bytes:
        return b"".join(bytes(data) for (source, dest), data in sorted(self.flows.items())
                        if port in (source, dest))

    def everything(self) -> bytes:
        return b"".join(bytes(data) for data in self.flows.values())
