"""`uplift analyze`: the experiment decision report from a CSV/Parquet file."""
