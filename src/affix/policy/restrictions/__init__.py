"""smtpd restrictions, one module per family; importing this package registers them all."""

from affix.policy.restrictions import (  # noqa: F401 - imported for their registrations
    access,
    client,
    dnsbl,
    generic,
    helo,
    mailaddr,
    policy_service,
    relay,
    unlisted,
)
