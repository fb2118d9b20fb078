"""The shipped models, installed as the data-only package ``lhe_didi.shipped_models`` (see lhe_didi/shipped.py)."""
