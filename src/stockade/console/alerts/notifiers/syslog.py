"""Syslog: RFC 5424 messages over UDP (RFC 5426: one message per datagram), TCP (RFC 6587
octet counting: ``LENGTH SP MESSAGE``) or TLS (RFC 5425: the same framing inside TLS).

A new connection per message: alerts are rare enough that a pool would only add stale
connections to recover from. Messages are cut to 2,048 octets over UDP (what RFC 5426
says receivers should take) and 8,192 over TCP and TLS (RFC 5425's recommendation).
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl

from stockade.console.alerts.channels import SyslogConfig, parse_address
from stockade.console.alerts.interface import DeliveryError, Digest
from stockade.console.alerts.messages import SYSLOG_FACILITIES, syslog_message
from stockade.console.alerts.notifiers.tls import client_context
from stockade.console.clock import Clock

__all__ = [
    "STREAM_MAX_BYTES",
    "TLS_SETTLE_SECONDS",
    "UDP_MAX_BYTES",
    "SyslogNotifier",
    "octet_counted",
]

UDP_MAX_BYTES = 2048
STREAM_MAX_BYTES = 8192


def octet_counted(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


TLS_SETTLE_SECONDS = 0.25
"""How long to listen after sending over TLS for the server refusing us."""


def _refused_after_handshake(tls: ssl.SSLSocket) -> None:
    """Under TLS 1.3 a server checks the client's certificate after the client thinks
    the handshake is done, so a refusal arrives as an alert after our message was
    written. Syslog servers never answer otherwise: listen briefly for that alert."""
    tls.settimeout(TLS_SETTLE_SECONDS)
    quiet = (TimeoutError, ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError)
    with contextlib.suppress(*quiet):
        tls.recv(1)


class SyslogNotifier:
    def __init__(self, config: SyslogConfig, *, timeout: float, clock: Clock) -> None:
        self.config = config
        self.host, self.port = parse_address(config.address)
        self.timeout = timeout
        self.clock = clock

    def _message(self, digest: Digest, max_bytes: int) -> bytes:
        return syslog_message(
            digest,
            facility=SYSLOG_FACILITIES[self.config.facility],
            hostname=self.config.hostname or socket.gethostname(),
            app_name=self.config.appName,
            procid=str(os.getpid()),
            now=self.clock(),
            max_bytes=max_bytes,
        )

    def send(self, digest: Digest) -> None:
        where = f"{self.config.transport} {self.config.address}"
        try:
            if self.config.transport == "udp":
                self._send_udp(self._message(digest, UDP_MAX_BYTES))
            else:
                self._send_stream(octet_counted(self._message(digest, STREAM_MAX_BYTES)))
        except socket.gaierror as exc:
            raise DeliveryError(f"cannot resolve {self.host}: {exc.strerror}") from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(
                f"syslog over TLS to {where}: certificate not trusted: {exc.verify_message}"
            ) from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"syslog over TLS to {where}: {exc.reason or exc}") from None
        except TimeoutError:
            raise DeliveryError(f"syslog to {where}: no answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise DeliveryError(f"syslog to {where}: {exc.strerror or exc}") from None

    def _send_udp(self, message: bytes) -> None:
        family, kind, proto, _, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_DGRAM
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(self.timeout)
            sock.sendto(message, address)

    def _send_stream(self, frame: bytes) -> None:
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as raw:
            if self.config.transport == "tls":
                context = client_context(
                    self.config.caCertificate,
                    self.config.clientCertificate,
                    self.config.clientKey,
                )
                name = self.config.serverName or self.host
                with context.wrap_socket(raw, server_hostname=name) as tls:
                    tls.sendall(frame)
                    _refused_after_handshake(tls)
            else:
                raw.sendall(frame)
                raw.shutdown(socket.SHUT_WR)
