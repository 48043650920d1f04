"""Event sources, one module each, turning what the system reports into "rescan X".

Import rule: rockd.core and rockd.config only. A watcher calls the callback it is given; it
knows nothing of who listens. Nothing here polls on a timer where an event exists.
"""
