"""Operations: backups and restores, gc, fsck, the status report, and how long
work reports progress."""
