"""Event sources, one module each, turning what the system reports into "rescan X".

May import rockd.core and rockd.storage. Nothing here polls on a timer where an event exists.
"""
