"""The pull-request flow's domain: each changed prompt judged, the run forecast, shards."""
