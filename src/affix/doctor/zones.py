"""The known DNSBL zones (src/affix/data/dnsbl_zones.tsv), and every zone a config queries."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from affix.doctor.context import Item, LintContext
from affix.policy.registry import Arg

DEAD_LISTS_ALL = "dead-lists-all"
DEAD = "dead"
WRONG_ZONE = "wrong-zone"
SPAMHAUS = "spamhaus"


@dataclass(frozen=True)
class ZoneInfo:
    zone: str  # "*.blackholes.us" matches the zone and every subdomain
    status: str
    since: str
    source: str
    advice: str

    def matches(self, zone: str) -> bool:
        zone = zone.lower().rstrip(".")
        if self.zone.startswith("*."):
            base = self.zone[2:]
            return zone == base or zone.endswith("." + base)
        return zone == self.zone


@functools.cache
def known_zones() -> tuple[ZoneInfo, ...]:
    text = resources.files("affix").joinpath("data/dnsbl_zones.tsv").read_text("utf-8")
    zones = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            fields = line.split("\t")
            zones.append(ZoneInfo(*fields[:5]))
    return tuple(zones)


def zone_info(zone: str) -> ZoneInfo | None:
    return next((z for z in known_zones() if z.matches(zone)), None)


@dataclass(frozen=True)
class ZoneUse:
    """One DNSBL/DNSWL argument in a list: `zen.spamhaus.org=127.0.0.[2..11]`."""
    item: Item
    restriction: str

    @property
    def zone(self) -> str:
        return self.item.text.partition("=")[0]

    @property
    def filtered(self) -> bool:
        return "=" in self.item.text

    @property
    def rejects(self) -> bool:
        return self.restriction.startswith("reject_")


def zone_uses(ctx: LintContext) -> Iterator[ZoneUse]:
    """Every zone argument of every list, plus maps_rbl_domains when reject_maps_rbl is used."""
    seen: set[tuple[str, object]] = set()
    maps_rbl = False
    for rl in ctx.restriction_lists():
        for step in rl.steps:
            if step.spec is not None and step.spec.name == "reject_maps_rbl":
                maps_rbl = True
            if step.spec is None or step.spec.arg is not Arg.ZONE or step.arg is None:
                continue
            key = (step.arg.text, step.arg.where)
            if key not in seen:
                seen.add(key)
                yield ZoneUse(step.arg, step.spec.current or step.spec.name)
    if maps_rbl:
        for item in ctx.items("maps_rbl_domains"):
            yield ZoneUse(item, "reject_rbl_client")
