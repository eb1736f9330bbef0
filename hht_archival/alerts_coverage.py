"""Who the alerts do not fully cover on a Prefect server, said by ``alerts install`` and ``doctor``.

How coverage works, and why: the relay automation is sponsor-agnostic and a
pair's ledger is made at its first reported run (hht_archival/incidents.py),
so once alerts are installed every sponsor that runs pages on failure, named
in a manifest or not. What only an install can give is an *expectation*: the
server cannot know that a sponsor it never heard of should have run. So the
gap that remains is listed, not guessed at: pairs that ran here (they have a
ledger) but that no install names, whose stopped nightly would page nobody.
And a server without PREFECT_UI_URL renders its own messages' run links as
nothing (Prefect's ``ui_url`` filter has no address to build them from).
"""

from __future__ import annotations

from hht_archival import alerts

NO_UI_URL = (
    "the Prefect server has no PREFECT_UI_URL; set it where the server starts (docs/prefect-server.md)"
)


def ui_url_of(client) -> str | None:
    """The UI address the server puts in its messages' links (its PREFECT_UI_URL), or None without one.

    A server that does not say (an older or locked-down one) is given the benefit of the doubt.
    """
    try:
        reply = client.request("GET", "/admin/settings")
        reply.raise_for_status()
        return reply.json().get("ui_url")
    except Exception:
        return "unknown"


def uncovered(client, named: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs that ran on this server (a ledger exists: their failures page) but that no install names,
    so nothing expects their archives: what ``alerts install`` warns about beside the pairs it set up."""
    automations = {a.name for a in client.read_automations() if a.name.startswith(alerts.PREFIX)}
    found = []
    for variable in client.read_variables():
        family, pair = _ledger_pair(variable.name)
        if family != "archive" or pair is None or pair in named:
            continue
        if alerts.expectation_name("archive", *pair) not in automations:
            found.append(pair)
    return sorted(found)


def _ledger_pair(name: str) -> tuple[str | None, tuple[str, str] | None]:
    from hht_archival.naming import ENVIRONMENT_KEYS

    rest = name.removeprefix(alerts.PREFIX)
    family, _, pair = rest.partition("-")
    sponsor, _, environment = pair.rpartition("-")
    if name == rest or not sponsor or environment not in ENVIRONMENT_KEYS:
        return None, None
    return family, (sponsor, environment)
