"""Who is calling: users and passwords, API tokens, UI sessions, and the audit log."""
