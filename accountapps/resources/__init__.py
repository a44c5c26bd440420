"""Blueprints: thin views that parse, delegate and render."""
