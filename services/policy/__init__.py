"""`uplift log export` and `uplift evaluate-policy`: the assignment log offline."""
