"""The synthetic market shapes by name, one line each (no numpy here: the CLI's help quotes them)."""

from __future__ import annotations

SHAPES = ("hard", "smooth", "rare", "continuous", "null")
# One line per shape: the CLI help and the README quote these.
SHAPE_HELP = {
    "hard": "the default; effects in small non-linear pockets (Persuadables helped, Sleeping Dogs hurt), "
    "Sure Things buy anyway, noise features; 0/1 conversion",
    "smooth": "logistic baseline and effect, smooth in several numeric features; the effect is positive "
    "for ~78% of users and negative for ~22%; 0/1 conversion",
    "rare": "~2.8% rare persuadables with a large effect (logit +2.6), exactly zero for everyone else; "
    "~3% base rate; 0/1 conversion",
    "continuous": "outcome `spend` in currency (~85% zeros, lognormal heavy tail); the treatment moves the "
    "purchase probability and the basket; true_cate = the exact expected spend difference",
    "null": "the placebo market; no effect for anyone (true_cate = 0), smooth baseline; 0/1 conversion",
}
SPEND_COLUMN = "spend"


def outcome_column(shape: str) -> str:
    """The column a model learns in that shape's market."""
    return SPEND_COLUMN if shape == "continuous" else "conversion"


def shapes_help() -> str:
    return " ".join(f"{name}: {text}." for name, text in SHAPE_HELP.items())
