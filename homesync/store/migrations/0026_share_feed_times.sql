-- lastSync for what others share with a user (GET /sync/status): each share-feed entry
-- now says when it was written (`at`, ms), so a time maps to a feed position, the first
-- entry at or after it, as journal.at maps it to a journal position. The journal
-- positions the entries carry (`seq`) cannot tell it: a share starting or ending carries
-- the journal's end from before it. Without this a lastSync delta started the shared part
-- at position 0: every shared item came again as created, and none that went as deleted.
ALTER TABLE share_feed ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX share_feed_recipient_at ON share_feed(recipient_id, at);

-- The owner's changes reach the feed through the triggers of 0007 and 0016: their entries
-- get the time of the journal entry they come with (NEW.seq, written in the same
-- transaction; should it be missing, the journal's latest).
-- share_feed.add_subtree (a share starting or ending) writes its own time.
CREATE TRIGGER share_feed_stamp AFTER INSERT ON share_feed WHEN NEW.at = 0
BEGIN
    UPDATE share_feed SET at = coalesce((SELECT at FROM journal WHERE seq = NEW.seq),
                                        (SELECT at FROM journal ORDER BY seq DESC LIMIT 1), 0)
    WHERE pos = NEW.pos;
END;

-- Entries from before this keep 0: older than now, but not by how much. A lastSync before
-- now may need them: for a user who has any, share_feed_timed_at is a millisecond past
-- now, and a lastSync before it gets the full listing (reset), as one below the sync
-- horizon does (store/share_feed.pos_before). Users with no feed entries need no bound.
ALTER TABLE users ADD COLUMN share_feed_timed_at INTEGER NOT NULL DEFAULT 0;
UPDATE users SET share_feed_timed_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 1
WHERE id IN (SELECT recipient_id FROM share_feed);
