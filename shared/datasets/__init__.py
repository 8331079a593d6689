"""Real experiment data shipped with the engine.

`hillstrom.csv.gz`: Kevin Hillstrom's MineThatData E-Mail Analytics and Data Mining Challenge
(2008). 64,000 customers who purchased within the last twelve months, randomized into three
arms: "Mens E-Mail", "Womens E-Mail" and "No E-Mail" (control). Outcomes over the following two
weeks: `visit` (0/1), `conversion` (0/1) and `spend` (dollars). Features: recency, history_segment,
history, mens, womens, zip_code, newbie, channel.
"""

from __future__ import annotations

from pathlib import Path

HILLSTROM_PATH = Path(__file__).with_name("hillstrom.csv.gz")
HILLSTROM_TREATMENT = "segment"
HILLSTROM_CONTROL = "No E-Mail"
HILLSTROM_OUTCOMES = ("visit", "conversion", "spend")

__all__ = ["HILLSTROM_CONTROL", "HILLSTROM_OUTCOMES", "HILLSTROM_PATH", "HILLSTROM_TREATMENT"]
