"""Benchmarks: a data generator at clinic-network scale, the load run, and the settings and floors they use.

Not part of the application: nothing under `clinic/` or a domain app imports from here.
"""
