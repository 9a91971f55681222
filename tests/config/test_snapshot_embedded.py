from affix.config.snapshot import load_config


def test_embedded_config_relay_restrictions_follow_compatibility_level():
    cfg = load_config(None)
    assert cfg.list("smtpd_relay_restrictions") == [
        "permit_mynetworks", "permit_sasl_authenticated", "defer_unauth_destination"]
    assert cfg.get("mynetworks_style") == "host"
