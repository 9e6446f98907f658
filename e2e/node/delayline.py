"""A link delay without ``tc netem``: packets queued to userspace by iptables ``NFQUEUE`` and
released (verdict ACCEPT) after a fixed delay.

This machine's kernel has no ``sch_netem`` but has ``nfnetlink_queue``. The queue protocol is
spoken here directly over a netlink socket (a few structs), so nothing needs compiling: the
NetfilterQueue binding has no wheels and would need libnetfilter-queue headers.

Run inside the node's network namespace (the queue belongs to the namespace whose iptables rule
queues to it)::

    nsenter --net=/run/netns/sedna-edge -- python -m e2e.node.delayline --queue 7 --delay-ms 200

The iptables rules use ``--queue-bypass``: should this process die, packets pass undelayed
rather than being dropped. Each packet is released ``delay`` after it was queued, in order.
"""

from __future__ import annotations

import argparse
import collections
import logging
import select
import signal
import socket
import struct
import sys
import time

__all__ = ["NfQueue", "serve", "main"]

log = logging.getLogger("sedna.e2e.delayline")

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND, NFQNL_CFG_CMD_UNBIND = 1, 2
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
_NLMSGHDR = struct.Struct("=IHHII")
_NFGENMSG = struct.Struct("=BBH")  # family, version, res_id (big-endian, packed by hand)


def _attr(kind: int, payload: bytes) -> bytes:
    body = struct.pack("=HH", 4 + len(payload), kind) + payload
    return body + b"\0" * (-len(body) % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x7FFF] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return out


class NfQueue:
    """One bound NFQUEUE: packet ids in, verdicts out."""

    def __init__(self, queue: int, maxlen: int = 20000) -> None:
        self.queue = queue
        self.seq = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        # A burst of queued packets must not overflow the socket (ENOBUFS loses their ids).
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, 0))
        self._config(_attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, socket.AF_INET)))
        self._config(_attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)))
        self._config(_attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen)))

    def _send(self, msg_type: int, payload: bytes, flags: int = NLM_F_REQUEST) -> None:
        self.seq += 1
        nfgen = _NFGENMSG.pack(socket.AF_UNSPEC, 0, socket.htons(self.queue))
        body = nfgen + payload
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, self.seq, 0)
        self.sock.send(header + body)

    def _config(self, payload: bytes) -> None:
        self._send(NFQNL_MSG_CONFIG, payload, NLM_F_REQUEST | NLM_F_ACK)
        data = self.sock.recv(65536)
        _, msg_type, _, _, _ = _NLMSGHDR.unpack_from(data)
        if msg_type == NLMSG_ERROR:
            (errno,) = struct.unpack_from("=i", data, _NLMSGHDR.size)
            if errno:
                raise OSError(-errno, f"configuring NFQUEUE {self.queue}: {errno}")

    def packet_ids(self) -> list[int]:
        """The ids of the packets in one read (non-blocking callers select first)."""
        data = self.sock.recv(1 << 20)
        ids = []
        offset = 0
        while offset + _NLMSGHDR.size <= len(data):
            length, msg_type, _, _, _ = _NLMSGHDR.unpack_from(data, offset)
            if length < _NLMSGHDR.size:
                break
            if msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                attrs = _attrs(data[offset + _NLMSGHDR.size + _NFGENMSG.size : offset + length])
                header = attrs.get(NFQA_PACKET_HDR)
                if header is not None:
                    ids.append(struct.unpack_from("!I", header)[0])
            offset += (length + 3) & ~3
        return ids

    def accept(self, packet_id: int) -> None:
        self._send(NFQNL_MSG_VERDICT, _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id)))

    def close(self) -> None:
        try:
            self._send(NFQNL_MSG_CONFIG, _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_UNBIND, socket.AF_INET)))
        finally:
            self.sock.close()


def serve(queue: int, delay_s: float, stop: list[bool]) -> None:
    """Release every queued packet ``delay_s`` after it arrived, until ``stop[0]``."""
    nfq = NfQueue(queue)
    pending: collections.deque[tuple[float, int]] = collections.deque()
    log.info("delaying NFQUEUE %d by %.0f ms", queue, delay_s * 1000)
    released = 0
    try:
        while not stop[0]:
            now = time.monotonic()
            while pending and pending[0][0] <= now:
                nfq.accept(pending.popleft()[1])
                released += 1
            timeout = max(0.0, pending[0][0] - now) if pending else 0.5
            ready, _, _ = select.select([nfq.sock], [], [], timeout)
            if ready:
                arrived = time.monotonic()
                # One fixed delay keeps the queue in arrival order: releasing from the front suffices.
                pending.extend((arrived + delay_s, pid) for pid in nfq.packet_ids())
    finally:
        for _, pid in pending:  # let what waits go rather than stall it until the kernel drops it
            nfq.accept(pid)
        nfq.close()
        log.info("released %d packets", released + len(pending))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue", type=int, required=True, help="NFQUEUE number the iptables rules use")
    parser.add_argument("--delay-ms", type=float, required=True, help="delay added to every packet")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    stop = [False]

    def _stop(*_: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serve(args.queue, args.delay_ms / 1000, stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
