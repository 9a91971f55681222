"""`affix --help`, `affix --version` and `affix VERB --help`: usage on stdout, exit 0, and
nothing done (a verb that acts must never take --help for a go-ahead)."""

from affix import __version__
from affix.cli.main import VERBS


def test_help_lists_every_verb_with_its_job_and_version_prints_the_version(affix):
    done = affix("--help")
    assert done.returncode == 0
    for verb, (_, _, job) in VERBS.items():
        assert f"  {verb:<11} {job}\n" in done.stdout
    version = affix("--version")
    assert (version.returncode, version.stdout) == (0, f"affix {__version__}\n")


def test_every_verb_answers_help_with_its_usage_and_does_nothing(tmp_path, affix):
    (tmp_path / "main.cf").write_text(f"queue_directory = {tmp_path}/q\n"
                                      f"data_directory = {tmp_path}/d\n")
    for verb in VERBS:
        done = affix("-c", str(tmp_path), verb, "--help")
        assert done.returncode == 0, (verb, done.stderr)
        assert done.stdout.startswith(f"usage: affix [-c DIR] {verb}"), verb
    assert not (tmp_path / "q").exists() and not (tmp_path / "d").exists()
