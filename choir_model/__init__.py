"""Choir reference model."""
