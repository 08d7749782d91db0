"""A notifier that writes each message to the log: development's stand-in for real delivery."""

from __future__ import annotations

import logging

from incidentcore.ports import Notifier, OutgoingMessage

logger = logging.getLogger("incidentcore.notify")


class LoggingNotifier(Notifier):
    async def send(self, message: OutgoingMessage) -> None:
        logger.info(
            "notification via %s to %s: %s\n%s",
            message.channel.value,
            message.address or "(no address)",
            message.subject,
            message.body,
        )
