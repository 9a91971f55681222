"""The restriction lists and the reply context of each (restrictions.md §1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from affix.policy.request import SessionState, Stage

CLIENT = "smtpd_client_restrictions"
HELO = "smtpd_helo_restrictions"
SENDER = "smtpd_sender_restrictions"
RELAY = "smtpd_relay_restrictions"
RECIPIENT = "smtpd_recipient_restrictions"
DATA = "smtpd_data_restrictions"
END_OF_DATA = "smtpd_end_of_data_restrictions"
ETRN = "smtpd_etrn_restrictions"

ALL_LISTS = (CLIENT, HELO, SENDER, RELAY, RECIPIENT, DATA, END_OF_DATA, ETRN)

class ListContext(NamedTuple):
    """The list being evaluated: generic restrictions reply with its class (and the name
    Evaluation.reply_name gives)."""
    param: str
    reply_class: str
    bare_table: str | None  # the check_*_access a bare `type:table` means; None = error


CONTEXTS = {
    CLIENT: ListContext(CLIENT, "Client host", "check_client_access"),
    HELO: ListContext(HELO, "Helo command", "check_helo_access"),
    SENDER: ListContext(SENDER, "Sender address", "check_sender_access"),
    RELAY: ListContext(RELAY, "Recipient address", "check_recipient_access"),
    RECIPIENT: ListContext(RECIPIENT, "Recipient address", "check_recipient_access"),
    DATA: ListContext(DATA, "Data command", None),
    END_OF_DATA: ListContext(END_OF_DATA, "End-of-data", None),
    ETRN: ListContext(ETRN, "Etrn command", "check_etrn_access"),
}


# list -> what its replies name: the client, the HELO name, the address being checked...
_REPLY_NAME: dict[str, Callable[[SessionState, str | None], str]] = {
    CLIENT: lambda state, _: state.client,
    HELO: lambda state, _: state.helo or "",
    SENDER: lambda state, _: state.sender or "",
    RELAY: lambda _, recipient: recipient or "",
    RECIPIENT: lambda _, recipient: recipient or "",
    DATA: lambda _, __: "DATA",
    END_OF_DATA: lambda _, __: "END-OF-MESSAGE",
    ETRN: lambda state, _: state.etrn_domain or "",
}


def reply_name(param: str, state: SessionState, recipient: str | None) -> str:
    return _REPLY_NAME[param](state, recipient)


def log_stage(stage: Stage) -> str:
    """The command named in a log line (HELO/EHLO as given, END-OF-MESSAGE, ...)."""
    return stage.value
