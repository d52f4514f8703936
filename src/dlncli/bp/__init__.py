"""Basis pursuit: HiGHS plumbing (lp), the homotopy, certificates, the verdict chain."""
