"""Mail servers for tests: one that fails a given number of times, then delivers."""

from __future__ import annotations

import smtplib
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

FLAKY = f"{__name__}.FlakyBackend"


class FlakyBackend(BaseEmailBackend):
    """A mail server that fails `failures` times with `error`, then delivers (to the locmem outbox)."""

    failures = 0
    error: BaseException = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    attempts = 0

    def send_messages(self, email_messages: Any) -> int:
        type(self).attempts += 1
        if type(self).attempts <= type(self).failures:
            raise type(self).error
        return int(LocmemBackend().send_messages(email_messages))
