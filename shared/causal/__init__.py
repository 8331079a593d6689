"""Effects from data whose treatment was not randomized: propensity and overlap, a doubly robust average
effect, refutations that must move the estimate as theory says, and sensitivity to unmeasured confounding.
"""
