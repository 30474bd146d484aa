"""The parts of bench/report.py (the benchmark report); run that script, not these."""
