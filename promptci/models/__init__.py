"""The door to models, and what counts and limits their use (docs/architecture.md, "The doors")."""
