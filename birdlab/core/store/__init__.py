"""The project store: the database and its schema, the review queue over it, caches under cache/, and moving tables and species lists in and out."""
