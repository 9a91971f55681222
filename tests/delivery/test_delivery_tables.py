"""Delivery through the tables area's compiled tables: aliases built by newaliases, domain
lists matched by MatchList, and deferral (never a bounce) when a table is missing."""

from affix.tables.compile import Options, compile_source
from fixtures.qhelp import (
    USER,
    deliver,
    envelope,
    maildir_files,
    make_config,
    message,
    read_log,
    run,
    run_qmgr,
    store_for,
    use_log,
)


def test_alias_source_without_newaliases_defers_then_delivers_once_built(tmp_path, affix):
    aliases = tmp_path / "aliases"
    aliases.write_text(f"postmaster: {USER}\n")
    cfg = make_config(tmp_path, f"alias_maps = hash:{aliases}\nalias_database = hash:{aliases}\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", "postmaster@example.test"), message("pm"),
             until_empty=False)
    text = read_log(tmp_path)
    assert "dsn=4.3.0, status=deferred (alias database unavailable)" in text
    assert "status=bounced" not in text
    assert len(list(store_for(cfg).iterate("deferred"))) == 1

    result = affix("-c", str(tmp_path / "etc"), "newaliases")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "aliases.lmdb").exists()
    run(run_qmgr(cfg))
    assert "orig_to=<postmaster@example.test>, relay=local" in read_log(tmp_path)
    assert len(maildir_files(tmp_path)) == 1


def test_nis_in_alias_maps_is_never_a_hit_and_never_defers(tmp_path):
    aliases = tmp_path / "aliases"
    aliases.write_text("postmaster: root\n")
    compile_source(str(aliases), Options(), [])  # a key/value file works as well
    cfg = make_config(tmp_path, f"alias_maps = hash:{aliases}, nis:mail.aliases\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", f"{USER}@example.test"), message())
    assert "status=sent (delivered to maildir)" in read_log(tmp_path)


def test_mydestination_can_name_a_table(tmp_path):
    domains = tmp_path / "domains"
    domains.write_text("example.test  local\n")
    compile_source(str(domains), Options(), [])
    cfg = make_config(tmp_path, f"mydestination = hash:{domains}\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", f"{USER}@example.test"), message())
    assert len(maildir_files(tmp_path)) == 1


def test_unreadable_mydestination_table_defers_the_recipient(tmp_path):
    cfg = make_config(tmp_path, f"mydestination = hash:{tmp_path}/missing\n")
    use_log(tmp_path)
    qid = deliver(cfg, envelope("a@example.org", f"{USER}@example.test"), message(),
                   until_empty=False)
    text = read_log(tmp_path)
    assert "postfix/error[" in text and f"{qid}: to=<{USER}@example.test>, relay=none, " in text
    assert "dsn=4.3.0, status=deferred (address resolver failure)" in text
    assert maildir_files(tmp_path) == []


def test_virtual_mailbox_domains_default_to_the_keys_of_virtual_mailbox_maps(tmp_path, vmail):
    vmailbox = tmp_path / "vmailbox"
    vmailbox.write_text("virt.test        domain\nalice@virt.test  virt.test/alice/\n")
    compile_source(str(vmailbox), Options(), [])
    cfg = make_config(tmp_path, f"virtual_mailbox_maps = hash:{vmailbox}\n" + vmail.main_cf)
    use_log(tmp_path)
    deliver(cfg, envelope("", "alice@virt.test"), message("virtual"))
    [f] = (vmail.base / "virt.test" / "alice" / "new").iterdir()
    assert "Subject: virtual" in f.read_text()
    assert "relay=virtual" in read_log(tmp_path)


def test_missing_virtual_mailbox_index_defers(tmp_path):
    (tmp_path / "vmailbox").write_text("alice@virt.test  virt.test/alice/\n")  # never compiled
    cfg = make_config(tmp_path, "virtual_mailbox_domains = virt.test\n"
                                f"virtual_mailbox_maps = hash:{tmp_path}/vmailbox\n"
                                f"virtual_mailbox_base = {tmp_path}/vmail\n")
    use_log(tmp_path)
    deliver(cfg, envelope("", "alice@virt.test"), message(), until_empty=False)
    assert "dsn=4.3.0, status=deferred (virtual mailbox map lookup problem)" in read_log(tmp_path)
