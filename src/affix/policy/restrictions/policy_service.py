"""check_policy_service: ask an external policy server (Postfix's delegation protocol)."""

from __future__ import annotations

from affix.policy.evaluation import Evaluation
from affix.policy.policy_client import PolicyEndpoint, PolicyError
from affix.policy.registry import Arg, Result, restriction
from affix.policy.request import Stage
from affix.policy.restrictions.access import apply_action
from affix.tables.access import parse_action

_COUNTED = (Stage.DATA, Stage.END_OF_DATA)


def request_attributes(ev: Evaluation, endpoint: PolicyEndpoint) -> dict[str, str]:
    """The attributes of one request, in Postfix's order (SMTPD_POLICY_README)."""
    st = ev.state
    return {
        "request": "smtpd_access_policy",
        "protocol_state": ev.stage.value,
        "protocol_name": st.protocol,
        "helo_name": st.helo or "",
        "queue_id": st.queue_id or "",
        "sender": st.sender or "",
        "recipient": ev.recipient or "",
        # counted only once the recipients are all known (Postfix sends 0 before DATA)
        "recipient_count": str(len(st.recipients)) if ev.stage in _COUNTED else "0",
        "client_address": st.client_addr,
        "client_name": st.client_name,
        "reverse_client_name": st.reverse_name,
        "instance": ev.engine.instance_id(st),
        "sasl_method": st.sasl_method or "",
        "sasl_username": st.sasl_username or "",
        "sasl_sender": "",
        "size": str(st.size or 0),
        "etrn_domain": st.etrn_domain or "",
        "ccert_subject": "",  # client certificates are not asked for
        "ccert_issuer": "",
        "ccert_fingerprint": "",
        "ccert_pubkey_fingerprint": "",
        "encryption_protocol": st.tls_protocol,
        "encryption_cipher": st.tls_cipher,
        "encryption_keysize": str(st.tls_bits if st.tls_active else 0),  # Postfix: 0
        "stress": "",
        "client_port": str(st.client_port),
        "policy_context": endpoint.policy_context,
        "server_address": st.server_addr,
        "server_port": str(st.server_port) if st.server_port else "",
    }


@restriction("check_policy_service", arg=Arg.SERVICE)
async def check_policy_service(ev: Evaluation, arg: str | None) -> Result:
    if not arg:
        ev.server_error("restriction check_policy_service requires a server argument")
    try:
        client = ev.engine.policy_client(arg)
    except ValueError as e:
        ev.server_error(f"check_policy_service {arg}: {e}")
    endpoint = client.endpoint
    try:
        action = await client.query(request_attributes(ev, endpoint), ev.warn)
        ev.note(f"policy service {endpoint.spec}: action={action}")
    except PolicyError as e:
        ev.warn(f"problem talking to server {endpoint.name}: {e}")
        action = endpoint.default_action
        ev.note(f"policy service {endpoint.spec} failed ({e}); default action {action}")
    if not action.strip():  # Postfix's words for it: the query has no key of its own
        ev.warn(f"access table {endpoint.spec} entry  has empty value")
        return Result.DUNNO
    return await apply_action(ev, parse_action(action), endpoint.spec, "policy query",
                              ev.reply_name, ev.lst.reply_class)
