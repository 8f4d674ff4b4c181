"""Blueprints (组卷方案), assembling from the bank and frozen papers with their print views and PDFs."""
