"""Delta sync: the change journal read as deltas, sync tokens, long polls, the
offline queue, conflicts and their resolution, and the sync horizon."""
