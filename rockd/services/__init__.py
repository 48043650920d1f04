"""The services behind sharing (Samba, NFS, SFTP, Docker): their configuration, rendered from
templates, and their control, through systemd or by rockd itself.

May import rockd.core, rockd.config, rockd.storage, rockd.watchers and rockd.accounts only;
what they need of a higher part comes through a Protocol defined here and wired in app.py.
"""
