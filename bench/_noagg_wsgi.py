"""Bench only: the service with scalar pre-aggregate maintenance switched off.

bench/queries.py ingests through this app once to show what keeping the pre-aggregates costs.
Never serve it: histograms read pre-aggregates that this app does not keep.
"""
from events_service import create_app
from events_service.db.queries import scalars

scalars.maintain_buckets = lambda *args, **kwargs: None
app = create_app()
