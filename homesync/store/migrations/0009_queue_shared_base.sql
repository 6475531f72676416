-- A queued operation on an entry someone shares with the user is judged against what the
-- device had seen of the shared entries: the journal position its ``syncToken``'s
-- share-feed position stands for (services/share_access.py). NULL: the app sent no token;
-- the owner's changes from the operation's ``createdAt`` on count as unseen.
ALTER TABLE queue_ops ADD COLUMN shared_seq INTEGER;
