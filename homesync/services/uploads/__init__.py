"""Background uploads: init, chunk PUTs, the running whole-file digest, complete,
quotas and upload notifications."""
