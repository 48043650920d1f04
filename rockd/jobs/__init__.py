"""The job kinds (scrub, balance, device commands, prune), schedules, cron and retention.

May import rockd.core, rockd.config and rockd.storage. The supervisor the kinds run under is
rockd.core.jobs; a kind reaches pools and shares only through what its caller hands it.
"""
