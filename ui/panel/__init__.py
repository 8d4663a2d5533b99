"""Helpers shared by the control panel's pages: which fleet, who is logged in, formatting.

Only glue lives here; every query and action is a function of the `botfleet` library.
"""
