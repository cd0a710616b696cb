"""The central server: ingest, reports, card and certificate status, enrolment."""
