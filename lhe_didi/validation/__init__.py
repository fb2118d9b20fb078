"""Validation of generated samples against truth: metrics (ratios, chi2, AUC), figures, the validate report."""
