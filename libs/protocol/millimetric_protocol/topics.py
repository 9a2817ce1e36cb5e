"""Every Kafka topic, declared once: its name, the message it carries (type and version), its
partition key, its retention, whether it is compacted, and its dead-letter topic.

Producers, consumers, the topic set-up (`millimetric topics`, the compose `kafka-init` job, the
test and benchmark fixtures) and the settings' defaults read these declarations; nothing spells a
topic name again. A breaking change of a message is a new version and a new topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEAD_LETTER_SUFFIX: Final = ".dlq"
"""A topic's dead-letter topic is its name plus this (`analytics.events.v1.dlq`)."""
DEAD_LETTER_RETENTION_MS: Final = 30 * 86_400_000
"""Poison records wait 30 days in a dead-letter topic for someone to look at them."""


@dataclass(frozen=True)
class Topic:
    name: str
    message: str
    """The message type and version it carries (the struct in this package)."""
    key: str
    """What the record key is (it decides the partition, so what is ordered)."""
    retention_ms: int = -1
    """-1: kept forever (the topic is the source of truth that replay rebuilds from)."""
    compacted: bool = False
    dead_letter: bool = False
    """Whether consumers dead-letter poison records of this topic to `<name>.dlq`."""

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.name)


def dead_letter_topic(name: str) -> str:
    """The dead-letter topic of a topic named `name` (also for a topic renamed by settings)."""
    return name + DEAD_LETTER_SUFFIX


EVENTS: Final = Topic(
    name="analytics.events.v1",
    message="EventMessage v1 (events.py)",
    key="`<project_id>:<visitor>` (EventMessage.partition_key): one visitor's events stay in order",
    dead_letter=True,
)

TOPICS: Final[tuple[Topic, ...]] = (EVENTS,)
