"""The services behind sharing (Samba, NFS, SFTP, Docker): their configuration, rendered from
templates, and their control, through systemd or by rockd itself."""
