"""The demo action that ``make run`` seeds, so a newcomer has something to sign."""

from __future__ import annotations

from datetime import date, timedelta

from petitions.models import Action
from petitions.services.actions import TargetInput, create_action, get_action

DEMO_SLUG = "camp-liberty-safety"

DEMO_BODY = """\
More than two thousand people live in Camp Liberty, a former military base near
Baghdad airport. They are refugees, registered as asylum seekers by the UN refugee
agency, and they have waited years for a country to take them in.

The camp is not safe. Armed units are stationed at its gates and inside its
fence; cameras and listening posts watch the residents day and night. Deliveries
of fuel, food and medicine are held back. Water tanks run dry and the power
fails for days in the summer heat. Residents who fall ill wait weeks for a
doctor, and lawyers are turned away at the checkpoint.

The United Nations promised these people protection when they moved to the
camp. **The Secretary-General can make that promise real.** We ask him to act
now, before more lives are lost.
"""

DEMO_DEMANDS = [
    "Remove the armed units and the surveillance equipment from the camp.",
    "Restore a reliable supply of water and electricity.",
    "Give residents direct access to doctors, to lawyers and to UN monitors.",
    "Speed up resettlement of the residents to safe third countries.",
]


def seed_demo_action() -> tuple[Action, bool]:
    """Create the demo action unless it exists. Returns it and whether it was created."""
    existing = get_action(DEMO_SLUG)
    if existing is not None:
        return existing, False
    action = create_action(
        slug=DEMO_SLUG,
        title="Guarantee the safety of the residents of Camp Liberty",
        summary="Refugees in Camp Liberty, Iraq, live under armed guard, without reliable "
                "water, power or medical care. Ask the UN Secretary-General to protect them.",
        body=DEMO_BODY,
        demands=DEMO_DEMANDS,
        targets=[TargetInput(name="UN Secretary-General",
                             title="Secretary-General of the United Nations",
                             organization="United Nations", email="sg@un.example")],
        goal=10_000,
        deadline=date.today() + timedelta(days=30),
        publish=True,
    )
    return action, True
