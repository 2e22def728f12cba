"""The collector's database: models and engine."""
