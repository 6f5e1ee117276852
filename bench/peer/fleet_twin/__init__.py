"""The Python twin of the fleet's image automation, for the end-to-end benchmark: the same five
workers (orchestrator, ingestion, accuracy-dispatcher, accuracy-processor, geolocalization),
workflow types and JSON as the Rust fleet, written with the Python Temporal SDK, Pillow, NumPy,
boto3, tifffile and pyproj. Run one worker per process: `python -m fleet_twin --role ROLE`."""
