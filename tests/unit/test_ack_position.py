"""The gateway's reading of a delivered message's place in its stream from
the message's acknowledgement subject (``streams.ack_position``), against
what the NATS client's own parser says of the same subjects."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg

from orchest_gateway.streams import ack_position

V1 = "$JS.ACK.ORCHEST_EVENTS.c0ffee.1.4711.42.1733540000000000000.7"
V2 = "$JS.ACK.hub.ACCHASH.ORCHEST_EVENTS.c0ffee.2.4711.42.1733540000000000000.7.tok"
V2_NO_TOKEN = "$JS.ACK._.ACCHASH.ORCHEST_EVENTS.c0ffee.1.4711.42.1733540000000000000.7"


@pytest.mark.parametrize("reply", [V1, V2, V2_NO_TOKEN])
def test_reads_what_the_client_reads(reply: str) -> None:
    metadata = Msg.Metadata._from_reply(reply)
    expected = (metadata.consumer, metadata.sequence.consumer, metadata.sequence.stream)
    assert ack_position(reply) == expected == ("c0ffee", 42, 4711)


@pytest.mark.parametrize(
    "reply",
    [
        None,
        "",
        "_INBOX.abc.1",  # a pull request's status comes on the reader's inbox
        "$JS.ACK.S.c.1.2.3",  # too short for either form
        "$JS.ACK.S.c.1.x.3.4.5",  # not a number
        "$JS.API.CONSUMER.MSG.NEXT.S.c.1.2",
    ],
)
def test_another_subject_has_no_position(reply: str | None) -> None:
    assert ack_position(reply) is None
