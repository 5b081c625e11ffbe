"""TLS on the stand-in's query port, in front of mysql-mimic.

StarRocks' FE offers TLS on its MySQL-protocol port as a MySQL server does (docs administration/
user_privs/authentication: SSL connections; FE config `ssl_force_secure_transport`): the client reads
the greeting, sends an SSLRequest packet (the handshake response's first 32 bytes with CLIENT_SSL set,
dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_ssl_request.html),
then the TLS handshake runs on the same socket and the real handshake response follows encrypted.

mysql-mimic's own TLS (asyncio `start_tls`) hangs when the client's TLS ClientHello arrives in the same
read as the SSLRequest (the stream reader has already buffered it), which is how pymysql sends them. So
this front does that part with blocking sockets and exact reads: it relays the backend's greeting with
CLIENT_SSL added, takes the SSLRequest, wraps the socket, forwards the decrypted handshake response
(without CLIENT_SSL, sequence ids shifted by the one packet the backend never saw) until the backend
answers OK or ERR, then relays bytes both ways.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading

CLIENT_SSL = 0x0800
_OK, _ERR = 0x00, 0xFF


def _read_exact(sock: socket.socket | ssl.SSLSocket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def read_packet(sock: socket.socket | ssl.SSLSocket) -> tuple[int, bytes]:
    """One MySQL packet: (sequence id, payload)."""
    header = _read_exact(sock, 4)
    return header[3], _read_exact(sock, int.from_bytes(header[:3], "little"))


def write_packet(sock: socket.socket | ssl.SSLSocket, seq: int, payload: bytes) -> None:
    sock.sendall(len(payload).to_bytes(3, "little") + bytes([seq & 0xFF]) + payload)


def with_ssl_capability(greeting: bytes) -> bytes:
    """The HandshakeV10 greeting with CLIENT_SSL in its lower capability flags."""
    at = greeting.index(b"\x00", 1) + 1 + 4 + 8 + 1  # version text, thread id, scramble part 1, filler
    flags = int.from_bytes(greeting[at:at + 2], "little") | CLIENT_SSL
    return greeting[:at] + flags.to_bytes(2, "little") + greeting[at + 2:]


def without_ssl_capability(response: bytes) -> bytes:
    flags = int.from_bytes(response[:4], "little") & ~CLIENT_SSL
    return flags.to_bytes(4, "little") + response[4:]


class TlsFront:
    """Listens on (host, free port) with TLS offered; each client is relayed to the backend port on loopback."""

    def __init__(self, host: str, backend_port: int, context: ssl.SSLContext) -> None:
        self.context, self.backend_port = context, backend_port
        self.server = socket.create_server((host, 0))
        self.port: int = self.server.getsockname()[1]
        self._open: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="standin-tls-front", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() before the descriptor is freed
        with contextlib.suppress(OSError):
            self.server.close()
        for sock in list(self._open):
            # Shut down, not close: the connection's relay thread wakes up and closes its own sockets, so no
            # descriptor is freed while a call on it is under way in that thread (see `_relay`).
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        backend = socket.create_connection(("127.0.0.1", self.backend_port))
        self._open += [client, backend]
        try:
            peer = self._handshake(client, backend)
        except (OSError, ssl.SSLError, ConnectionError):
            for sock in (client, backend):
                with contextlib.suppress(OSError):
                    sock.close()
            return
        _relay(peer, backend)

    def _handshake(self, client: socket.socket, backend: socket.socket) -> socket.socket | ssl.SSLSocket:
        seq, greeting = read_packet(backend)
        write_packet(client, seq, with_ssl_capability(greeting))
        seq, request = read_packet(client)
        if not int.from_bytes(request[:4], "little") & CLIENT_SSL:  # a plain client: nothing to translate
            write_packet(backend, seq, request)
            return client
        tls = self.context.wrap_socket(client, server_side=True)
        self._open.append(tls)
        seq, response = read_packet(tls)
        write_packet(backend, seq - 1, without_ssl_capability(response))
        while True:  # the auth exchange, one sequence id apart, until the backend's OK or ERR
            seq, packet = read_packet(backend)
            write_packet(tls, seq + 1, packet)
            if packet[:1] in (bytes([_OK]), bytes([_ERR])):
                return tls
            seq, packet = read_packet(tls)
            write_packet(backend, seq - 1, packet)


def _relay(peer: socket.socket | ssl.SSLSocket, backend: socket.socket) -> None:
    """Relay both directions in this one thread until either side closes, then close both.

    One thread, not one per direction: an SSL object must not be read in one thread while another writes
    it, and a socket closed by one direction's thread while the other is inside a call on it lets that
    call land on whatever connection reuses the descriptor (seen as a stray TLS alert on the fake FE).
    Request/response traffic (the MySQL protocol) never has both sides blocked on a full send buffer.
    """
    pair = {peer: backend, backend: peer}
    try:
        while True:
            # Bytes OpenSSL already decrypted are invisible to select(): serve them first.
            ready = [s for s in pair if isinstance(s, ssl.SSLSocket) and s.pending()]
            if not ready:
                ready, _, _ = select.select(list(pair), [], [])
            for src in ready:
                data = src.recv(65536)
                if not data:
                    return
                pair[src].sendall(data)
    except OSError:
        pass
    finally:
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.close()
