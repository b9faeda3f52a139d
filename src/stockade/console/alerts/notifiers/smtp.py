"""E-mail over SMTP (smtplib): STARTTLS (default) or implicit TLS, an optional login
(never without TLS), one message to every recipient."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl

from stockade.console.alerts.channels import EmailConfig
from stockade.console.alerts.interface import DeliveryError, Digest
from stockade.console.alerts.messages import email_message
from stockade.console.alerts.notifiers.tls import client_context
from stockade.console.clock import Clock

__all__ = ["EmailNotifier"]

_log = logging.getLogger("stockade.console.alerts")


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())[:200]}"


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """One login with PLAIN or LOGIN (always inside TLS here). smtplib's ``login`` tries
    each mechanism in turn after a refusal, and servers tend to hang up on the second
    try, which hides the first, useful answer."""
    smtp.ehlo_or_helo_if_needed()
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
    if mechanism is None:
        raise DeliveryError(
            "the SMTP server offers no login (AUTH PLAIN or LOGIN) here", retryable=False
        )
    smtp.user, smtp.password = username, password
    authobject = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
    smtp.auth(mechanism, authobject, initial_response_ok=True)


class EmailNotifier:
    def __init__(self, config: EmailConfig, *, timeout: float, clock: Clock) -> None:
        self.config = config
        self.timeout = timeout
        self.clock = clock

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        helo = config.heloName or socket.gethostname()
        if config.security == "tls":
            return smtplib.SMTP_SSL(
                config.host,
                config.port,
                local_hostname=helo,
                timeout=self.timeout,
                context=client_context(config.caCertificate),
            )
        smtp = smtplib.SMTP(config.host, config.port, local_hostname=helo, timeout=self.timeout)
        if config.security == "starttls":
            try:
                smtp.starttls(context=client_context(config.caCertificate))
            except BaseException:
                smtp.close()
                raise
        return smtp

    def send(self, digest: Digest) -> None:
        config = self.config
        where = f"SMTP {config.host}:{config.port}"
        message = email_message(
            digest,
            sender=config.sender,
            recipients=tuple(config.recipients),
            subject_prefix=config.subjectPrefix,
            now=self.clock(),
        )
        try:
            with self._connect() as smtp:
                if config.username is not None and config.password is not None:
                    _login(smtp, config.username, config.password)
                refused = smtp.send_message(
                    message, from_addr=config.sender, to_addrs=list(config.recipients)
                )
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(
                f"{where} does not offer STARTTLS: use security tls, or the submission port",
                retryable=False,
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{where} refused the login: {_reply(exc.smtp_code, exc.smtp_error)}",
                retryable=False,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"{where} refused every recipient ({', '.join(map(str, codes))})",
                retryable=any(400 <= c < 500 for c in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"{where}: {_reply(exc.smtp_code, exc.smtp_error)}",
                retryable=not 500 <= exc.smtp_code < 600,
            ) from None
        except smtplib.SMTPServerDisconnected:
            raise DeliveryError(f"{where} closed the connection") from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"{where}: certificate not trusted: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"{where}: TLS failed: {exc.reason or exc}") from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}") from None
        except TimeoutError:
            raise DeliveryError(f"{where}: no answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise DeliveryError(f"{where}: {exc.strerror or exc}") from None
        if refused:
            # Some recipients took it: delivered. The refusals are for the log.
            _log.warning(
                "%s refused %d of %d recipients", where, len(refused), len(config.recipients)
            )
