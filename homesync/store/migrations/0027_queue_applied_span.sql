-- The journal positions a queued move or rename wrote when it was applied:
-- (applied_after, applied_up_to]. A move or rename the app queued before it but that was
-- applied after it (a lower priority, or sent in a later request) is judged against where
-- the app's own earlier changes put the entry, and this one was not among them.
ALTER TABLE queue_ops ADD COLUMN applied_after INTEGER;
ALTER TABLE queue_ops ADD COLUMN applied_up_to INTEGER;
