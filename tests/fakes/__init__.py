"""Fakes built from the real libraries' API shapes, for things that cannot exist here."""
