"""A user's tree: listing and downloads, versions, the trash, and putting known
content in place without an upload."""
