"""The box itself: its hostname, time zone and clock (chrony), reboot and shutdown, and the
disks' spin-down and APM (hdparm).

Imports core, config, watchers, storage and system.py only."""
