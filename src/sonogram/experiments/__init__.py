"""Reproductions of reference experiments (``sonogram experiments NAME``)."""
