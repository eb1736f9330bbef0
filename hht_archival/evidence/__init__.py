"""The evidence report an inspector asks for: one sponsor, one period, every backup and what befell it.

facts.py gathers from S3 (the record), server.py adds what only a Prefect
server knows, incidents.py groups failures and finds gaps, report.py builds
and stores the report, html.py and charts.py draw it. The command is
hht_archival/cli/evidence.py; the quarterly deployment flows/evidence.py.
"""
