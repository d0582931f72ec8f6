"""`fsl demo`: sample data (data.py), the contacts' reactions (engagement.py),
the run and its summary (run.py), and a copy of the example playbooks
(sequences/, used when the repository's own sequences/ folder is not there,
as in a non-editable install)."""
