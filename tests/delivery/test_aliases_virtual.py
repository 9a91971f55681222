import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from affix.delivery.aliases import (
    build_alias_table,
    parse_alias_source,
    split_alias_values,
)
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


@pytest.fixture
def shared_dir():
    """A directory every user can write: alias commands and files run as default_privs
    (nobody) when affix is root and the alias file is root's."""
    d = Path(tempfile.mkdtemp(prefix="affix-alias-"))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _alias_config(tmp_path, aliases, extra="", build=True):
    """alias_maps = hash:ALIASES, built as `affix newaliases` builds it."""
    path = tmp_path / "aliases"
    path.write_text(aliases)
    if build:
        build_alias_table(f"hash:{path}")
    return make_config(tmp_path, f"alias_maps = hash:{path}\nalias_database = hash:{path}\n"
                                 + extra)


def _postmap(path):
    compile_source(str(path), Options(), [])


def test_alias_to_a_local_user_is_delivered_in_place(tmp_path):
    """As Postfix's local(8): one queue id; the log names the user with orig_to=<alias>, and
    the Delivered-To header the alias (the queue's recipient, which the loop check uses)."""
    cfg = _alias_config(tmp_path, f"# comment\npostmaster: {USER}\n")
    use_log(tmp_path)
    qid = deliver(cfg, envelope("a@example.org", "postmaster@example.test"), message("pm"))
    text = read_log(tmp_path)
    assert re.search(rf"{qid}: to=<{USER}@mx\.example\.test>, "
                     r"orig_to=<postmaster@example\.test>, relay=local, .*status=sent "
                     r"\(delivered to maildir\)", text)
    assert "forwarded as" not in text
    [f] = maildir_files(tmp_path)
    data = f.read_text()
    assert data.startswith("Return-Path: <a@example.org>\nX-Original-To: "
                           "postmaster@example.test\nDelivered-To: postmaster@example.test\n"
                           "Received:")


def test_aliases_forward_what_is_not_delivered_here(tmp_path):
    """Remote addresses, and every address of an alias that has an owner- alias, go out as a
    new message (forwarded as NEWQID) with a Received header of its own; a list naming a
    user twice delivers once."""
    cfg = _alias_config(tmp_path, f"team: {USER}, {USER}, friend@far.example\n"
                                  f"club: {USER}\nowner-club: {USER}\n")
    use_log(tmp_path)
    qid = deliver(cfg, envelope("a@example.org", "team@example.test"), message("team"),
                  until_empty=False)
    text = read_log(tmp_path)
    assert text.count(f"{qid}: to=<{USER}@mx.example.test>, orig_to=<team@example.test>") == 1
    assert re.search(rf"{qid}: to=<team@example\.test>, relay=local, .*status=sent "
                     r"\(forwarded as \w+\)", text)
    qid = deliver(cfg, envelope("a@example.org", "club@example.test"), message("club"))
    text = read_log(tmp_path)
    new_id = re.search(rf"{qid}: to=<club@example\.test>, relay=local, .*status=sent "
                       r"\(forwarded as (\w+)\)", text).group(1)
    assert f"{new_id}: from=<owner-club@mx.example.test>" in text
    club = [f.read_text() for f in maildir_files(tmp_path) if "Subject: club" in f.read_text()]
    assert len(club) == 1
    assert f"Received: by mx.example.test (affix)\n\tid {new_id}; " in club[0]


def test_an_alias_loop_bounces_as_a_forwarding_loop(tmp_path):
    cfg = _alias_config(tmp_path, "ping: pong\npong: ping\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", "ping@example.test"), message("loop"),
            until_empty=False)
    text = read_log(tmp_path)
    assert re.search(r"dsn=5\.4\.6, status=bounced \(mail forwarding loop for p[io]ng@", text)
    assert "forwarded as" not in text


def test_alias_naming_itself_is_delivered_to_the_mailbox(tmp_path):
    cfg = _alias_config(tmp_path, f"{USER}: {USER}\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", f"{USER}@example.test"), message("self"))
    assert len(maildir_files(tmp_path)) == 1
    assert "forwarded as" not in read_log(tmp_path)


def test_alias_list_file_and_command(tmp_path, shared_dir):
    out = shared_dir / "cmd.out"
    box = shared_dir / "file.mbox"
    folder = shared_dir / "folder"
    cfg = _alias_config(tmp_path, f'team: {USER},\n  {box},\n  "|cat > {out}", {folder}/\n')
    use_log(tmp_path)
    qid = deliver(cfg, envelope("a@example.org", "team@example.test"), message("team"))
    text = read_log(tmp_path)
    assert f"{qid}: to=<team@example.test>, relay=local" in text
    assert f"status=sent (delivered to file: {box})" in text
    assert text.count("status=sent (delivered to maildir)") == 2  # the user's, and /folder/
    assert len(list((folder / "new").iterdir())) == 1
    assert f'status=sent (delivered to command: cat > {out})' in text
    assert "Subject: team" in out.read_text()
    assert out.read_text().startswith("From a@example.org  ")
    mbox = box.read_text()
    assert mbox.startswith("From a@example.org  ") and "Delivered-To: team@example.test" in mbox
    assert len(maildir_files(tmp_path)) == 1
    if os.geteuid() == 0:  # root-owned aliases run as default_privs
        assert box.stat().st_uid == out.stat().st_uid != 0


def test_an_alias_to_dev_null_discards_and_a_fifo_is_refused_without_waiting(tmp_path,
                                                                             shared_dir):
    """aliases(5): delivery to a file is not limited to regular files (`devnull: /dev/null`
    throws mail away); a FIFO nobody reads is refused at once instead of holding local."""
    os.mkfifo(shared_dir / "fifo", 0o666)
    (shared_dir / "fifo").chmod(0o666)  # whoever the delivery runs as may open it
    cfg = _alias_config(tmp_path, f"devnull: /dev/null\nfifo: {shared_dir}/fifo\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", "devnull@example.test", "fifo@example.test"),
            message("gone"))
    text = read_log(tmp_path)
    assert "to=<devnull@example.test>, relay=local" in text
    assert "status=sent (delivered to file: /dev/null)" in text
    assert re.search(r"to=<fifo@example\.test>, relay=local, .*dsn=5\.2\.0, "
                     rf"status=bounced \(cannot append message to file {shared_dir}/fifo: "
                     r"cannot open file: No such device or address\)", text)


def test_a_command_learns_the_addresses_and_the_client_from_its_environment(tmp_path,
                                                                           shared_dir):
    out = shared_dir / "env.out"
    cfg = _alias_config(tmp_path, f'envdump: "|env > {out}"\n')
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", "envdump@example.test"), message("env"))
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert {k: env.get(k) for k in ("SENDER", "RECIPIENT", "LOCAL", "DOMAIN",
                                    "CLIENT_ADDRESS", "CLIENT_HOSTNAME", "CLIENT_HELO",
                                    "CLIENT_PROTOCOL")} == {
        "SENDER": "a@example.org", "RECIPIENT": "envdump@example.test", "LOCAL": "envdump",
        "DOMAIN": "example.test", "CLIENT_ADDRESS": "192.0.2.7",
        "CLIENT_HOSTNAME": "client.example.org", "CLIENT_HELO": "client.example.org",
        "CLIENT_PROTOCOL": "ESMTP"}


def test_include_file_expands_addresses(tmp_path):
    inc = tmp_path / "staff.list"
    inc.write_text(f"# members\n{USER}\n")
    cfg = _alias_config(tmp_path, f"staff: :include:{inc}\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", "staff@example.test"), message("inc"))
    assert len(maildir_files(tmp_path)) == 1


def test_commands_in_include_files_are_not_allowed_by_default(tmp_path, shared_dir):
    inc = tmp_path / "bad.list"
    inc.write_text(f"|touch {shared_dir}/ran\n")
    cfg = _alias_config(tmp_path, f"bad: :include:{inc}\n")
    use_log(tmp_path)
    deliver(cfg, envelope("", "bad@example.test"), message("inc"))
    assert not (shared_dir / "ran").exists()
    assert "dsn=5.7.1, status=bounced (mail to command is restricted)" in read_log(tmp_path)


def test_failing_command_bounces_and_tempfail_defers(tmp_path):
    cfg = _alias_config(tmp_path, 'fail: "|exit 1"\nlater: "|exit 75"\n'
                                  'nouser: "|echo no such user; exit 67"\n'
                                  'oserr: "|exit 71"\nkilled: "|kill -9 $$"\n')
    use_log(tmp_path)
    deliver(cfg, envelope("", *(f"{a}@example.test" for a in
                                ("fail", "later", "nouser", "oserr", "killed"))),
            message("cmd"), until_empty=False)
    text = read_log(tmp_path)
    assert 'dsn=5.3.0, status=bounced (Command died with status 1: "exit 1")' in text
    # sysexits.h codes say what happened; their class decides between bounce and retry
    assert "dsn=4.3.0, status=deferred (temporary failure)" in text
    assert ("dsn=5.1.1, status=bounced (user unknown. Command output: no such user)"
            in text)
    assert "dsn=4.3.0, status=deferred (system resource problem)" in text
    assert 'dsn=4.3.0, status=deferred (Command died with signal 9: "kill -9 $$")' in text
    assert len(list(store_for(cfg).iterate("deferred"))) == 1


def test_owner_alias_becomes_the_sender_of_list_mail(tmp_path):
    cfg = _alias_config(tmp_path, f"list: {USER}\nowner-list: {USER}\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", "list@example.test"), message("owner"))
    [f] = maildir_files(tmp_path)
    assert f.read_text().startswith("Return-Path: <owner-list@mx.example.test>\n")


def test_unreadable_alias_database_defers(tmp_path):
    cfg = make_config(tmp_path, f"alias_maps = hash:{tmp_path}/missing-aliases\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", f"{USER}@example.test"), message(), until_empty=False)
    assert "dsn=4.3.0, status=deferred (alias database unavailable)" in read_log(tmp_path)


def test_alias_source_parser_handles_continuations_and_quotes():
    parsed, problems = parse_alias_source('# x\nA: b, "|cmd a, b",\n  c\nd: e\n')
    parsed = {k: split_alias_values(v) for k, v in parsed.items()}
    assert parsed == {"a": ["b", "|cmd a, b", "c"], "d": ["e"]}
    assert problems == []
    parsed, problems = parse_alias_source("broken line\n: x\nempty:\nok: y\n")
    assert parsed == {"ok": "y"}
    assert problems == ["aliases:1: missing colon in alias entry: line skipped",
                        "aliases:2: missing colon in alias entry: line skipped",
                        "aliases:3: missing value in alias entry: line skipped"]


def test_newaliases_warns_about_a_bad_line_and_builds_the_others(tmp_path, affix):
    """As postalias: a bad line is a warning and is left out; the good ones are built."""
    _alias_config(tmp_path, "good: x\nbad line\n", build=False)
    result = affix("-c", str(tmp_path / "etc"), "newaliases")
    assert result.returncode == 0, result.stderr
    assert (f"affix newaliases: warning: {tmp_path}/aliases:2: missing colon in alias entry"
            in result.stderr)
    assert affix("-c", str(tmp_path / "etc"), "map", "-q", "good",
                 f"hash:{tmp_path}/aliases").stdout.strip() == "x"
    checked = affix("-c", str(tmp_path / "etc"), "check")  # says so too, as a warning
    assert (f"warning: alias_maps: {tmp_path}/aliases:2: missing colon in alias entry: "
            "line skipped") in checked.stdout


def test_virtual_mailbox_delivery(tmp_path, vmail):
    (tmp_path / "vmailbox").write_text("alice@virt.test  virt.test/alice/\n"
                                       "bob@virt.test    virt.test/bob\n"
                                       f"eve@virt.test    {vmail.base.parent}/escaped/\n"
                                       "mallory@virt.test virt.test/../../climbed/\n"
                                       "dan@virt.test    other.test/mbox/dan\n")
    _postmap(tmp_path / "vmailbox")
    # the usual catch-all: the client's local part becomes part of the path
    (tmp_path / "vcatch").write_text("/^(.+)@catch\\.test$/ catch.test/$1/\n")
    cfg = make_config(tmp_path, f"virtual_mailbox_domains = virt.test, catch.test\n"
                                f"virtual_mailbox_maps = hash:{tmp_path}/vmailbox, "
                                f"regexp:{tmp_path}/vcatch\n" + vmail.main_cf)
    use_log(tmp_path)
    qid = deliver(cfg, envelope("", "alice@virt.test", "bob@virt.test", "carol@virt.test",
                                "eve@virt.test", "mallory@virt.test", "dan@virt.test",
                                "../../up@catch.test", "ok@catch.test"), message("virtual"),
                  until_empty=False)
    [f] = (vmail.base / "virt.test" / "alice" / "new").iterdir()
    assert f.read_text().startswith("Return-Path: <>\nX-Original-To: "
                                    "alice@virt.test\nDelivered-To: alice@virt.test\n")
    assert "Subject: virtual" in (vmail.base / "virt.test" / "bob").read_text()
    # an mbox whose directories do not exist yet: made (by the owner), not a failure
    assert "Subject: virtual" in (vmail.base / "other.test" / "mbox" / "dan").read_text()
    # a map value is below the base, even one that starts with a slash
    inside = vmail.base / vmail.base.parent.relative_to("/") / "escaped"
    assert len(list((inside / "new").iterdir())) == 1
    assert not (vmail.base.parent / "escaped").exists()
    text = read_log(tmp_path)
    assert re.search(rf"postfix/virtual\[\d+\]: {qid}: to=<alice@virt\.test>, relay=virtual, "
                     r".*status=sent \(delivered to maildir\)", text)
    assert "to=<bob@virt.test>, relay=virtual" in text and "(delivered to mailbox)" in text
    assert 'dsn=5.1.1, status=bounced (unknown user: "carol@virt.test")' in text
    # a `..` in the path, from the map or from the client's text: the mail waits
    assert len(list((vmail.base / "catch.test" / "ok" / "new").iterdir())) == 1
    for who in ("mallory@virt.test", "../../up@catch.test"):
        assert re.search(rf"to=<{re.escape(who)}>, relay=virtual, .*dsn=4\.3\.5, "
                         r"status=deferred \(mail system configuration error\)", text)
        assert f"warning: recipient {who}: virtual_mailbox_maps result" in text
    assert sorted(p.name for p in vmail.base.parent.iterdir()) == ["vmail"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root delivers with other users' ids")
def test_virtual_mail_is_written_by_its_owner_and_never_by_root(tmp_path, vmail):
    """What root writes for virtual users is theirs, directories included (Dovecot, running
    as that user, must read them); with no owner, or root's group, the mail waits."""
    (tmp_path / "vmailbox").write_text("alice@virt.test  virt.test/alice/\n"
                                       "bob@virt.test    virt.test/bob\n")
    _postmap(tmp_path / "vmailbox")
    maps = f"virtual_mailbox_domains = virt.test\nvirtual_mailbox_maps = hash:{tmp_path}/vmailbox\n"
    cfg = make_config(tmp_path, maps + vmail.main_cf)
    use_log(tmp_path)
    deliver(cfg, envelope("", "alice@virt.test", "bob@virt.test"), message("owned"))
    maildir = vmail.base / "virt.test" / "alice"
    for path in (vmail.base / "virt.test", maildir, maildir / "new",
                 *(maildir / "new").iterdir(), vmail.base / "virt.test" / "bob"):
        assert (path.stat().st_uid, path.stat().st_gid) == (vmail.uid, vmail.uid), path

    for lines, problem in [
            (f"virtual_mailbox_base = {vmail.base}\n", "not found in virtual_uid_maps"),
            (vmail.main_cf + "virtual_gid_maps = static:0\n", "bad gid 0 in virtual_gid_maps"),
            (vmail.main_cf + "virtual_uid_maps = static:12\n", "bad uid 12 in virtual_uid_maps"),
            (vmail.main_cf + "virtual_mailbox_base = vmail\n", None)]:
        (tmp_path / "maillog").unlink()
        cfg = make_config(tmp_path, maps + lines)
        use_log(tmp_path)
        deliver(cfg, envelope("", "alice@virt.test"), message("waits"), until_empty=False)
        text = read_log(tmp_path)
        assert "dsn=4.3.5, status=deferred (mail system configuration error)" in text
        assert (f"warning: recipient alice@virt.test: {problem}" if problem else
                "warning: virtual_mailbox_base = vmail: specify an absolute directory") in text
        for qid in store_for(cfg).iterate("deferred"):
            store_for(cfg).delete("deferred", qid)
    assert len(list((maildir / "new").iterdir())) == 1


def test_newaliases_builds_an_index_the_tables_area_can_read(tmp_path, affix):
    from affix.tables import open_table
    _alias_config(tmp_path, 'Postmaster: root\nteam: a, "|cmd x, y"\n')
    result = affix("-c", str(tmp_path / "etc"), "newaliases")
    assert result.returncode == 0, result.stderr
    table = open_table(f"hash:{tmp_path}/aliases")
    assert table.lookup("postmaster") == "root"
    assert table.lookup("team") == 'a, "|cmd x, y"'  # split_alias_values reads it back


def test_a_members_forward_back_to_its_list_ends_as_a_loop(tmp_path):
    """loopy: USER, and USER's .forward keeps a copy and sends one back to loopy. The copy
    going back carries Delivered-To: loopy (the queue's recipient), so local's loop check
    stops it the next time round instead of mailing forever."""
    (tmp_path / "fwd").mkdir()
    (tmp_path / "fwd" / f"{USER}.forward").write_text(f"\\\\{USER}, loopy\n")
    cfg = _alias_config(tmp_path, f"loopy: {USER}\n",
                        f"forward_path = {tmp_path}/fwd/$user.forward\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", "loopy@example.test"), message("round"),
            until_empty=False)
    text = read_log(tmp_path)
    # round 1 to loopy@example.test, round 2 to loopy@$myorigin (the address the .forward
    # names, qualified), round 3 to the same address again: caught
    assert len(maildir_files(tmp_path)) == 2
    assert text.count("forwarded as") == 2
    assert "dsn=5.4.6, status=bounced (mail forwarding loop for loopy@mx.example.test)" in text


def test_a_member_that_defers_goes_on_alone_so_the_others_get_one_copy(tmp_path):
    """team: USER, flaky (whose command says try later). USER's copy is delivered in place;
    flaky goes on as a new message with its own retries, instead of the whole list being
    retried (and USER getting the message again each time)."""
    cfg = _alias_config(tmp_path, f'team: {USER}, flaky\nflaky: "|exit 75"\n')
    use_log(tmp_path)
    qid = deliver(cfg, envelope("a@example.org", "team@example.test"), message("team"),
                  until_empty=False)
    time.sleep(1.1)  # minimal_backoff_time
    run(run_qmgr(cfg, until_empty=False, timeout=3.0))  # the deferred copy is retried
    text = read_log(tmp_path)
    assert len(maildir_files(tmp_path)) == 1
    assert re.search(rf"{qid}: to=<team@example\.test>, relay=local, .*status=sent "
                     r"\(forwarded as \w+\)", text)
    assert text.count("status=deferred (temporary failure") >= 2  # flaky, retried alone
    assert re.search(rf"{qid}: removed", text)


def test_a_deferred_members_reason_is_kept_under_the_queues_recipient(tmp_path):
    """mailq, delay warnings and expiry notices look the last reason up by the recipient in
    the queue file (the alias), not by the member it was deferred for."""
    cfg = _alias_config(tmp_path, 'team: flaky\nflaky: "|exit 75"\n')
    use_log(tmp_path)
    qid = deliver(cfg, envelope("a@example.org", "team@example.test"), message("later"),
                  until_empty=False)
    [record] = store_for(cfg).read_log("defer", qid)
    assert record[0] == "team@example.test" and record[2].startswith("4.")
