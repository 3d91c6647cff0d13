"""The one pipeline: the per-frame coach and the session loop every command runs."""
