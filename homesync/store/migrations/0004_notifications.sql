-- Push notifications: per-device preferences and the delivery outbox.
--
-- A device's push registration itself is devices.push_token (+ devices.platform): set at
-- sign-in (deviceInfo.pushToken) or by POST /notifications/register, cleared when the
-- device is removed or the push service says the token is gone.

-- One push token reaches one device. When an app reinstall or a different account on
-- the same phone registers a token another device row still holds, that older row lets
-- go of it, so one user's notifications can never reach a phone now signed in as another.
CREATE INDEX devices_push_token ON devices(push_token) WHERE push_token IS NOT NULL;

CREATE TRIGGER devices_push_token_moves_insert AFTER INSERT ON devices
WHEN NEW.push_token IS NOT NULL
BEGIN
    UPDATE devices SET push_token = NULL WHERE push_token = NEW.push_token AND id != NEW.id;
END;

CREATE TRIGGER devices_push_token_moves_update AFTER UPDATE OF push_token ON devices
WHEN NEW.push_token IS NOT NULL
BEGIN
    UPDATE devices SET push_token = NULL WHERE push_token = NEW.push_token AND id != NEW.id;
END;

-- What a device wants pushed, and when not. No row: every category, no quiet hours.
CREATE TABLE notification_preferences (
    device_id      TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    uploads        INTEGER NOT NULL DEFAULT 1,
    shares         INTEGER NOT NULL DEFAULT 1,
    storage        INTEGER NOT NULL DEFAULT 1,
    security       INTEGER NOT NULL DEFAULT 1,
    quiet_enabled  INTEGER NOT NULL DEFAULT 0,
    quiet_start    INTEGER NOT NULL DEFAULT 1320 CHECK (quiet_start BETWEEN 0 AND 1439),  -- minutes after local midnight
    quiet_end      INTEGER NOT NULL DEFAULT 420 CHECK (quiet_end BETWEEN 0 AND 1439),
    quiet_timezone TEXT NOT NULL DEFAULT 'UTC',        -- IANA name, checked against the zone list
    updated_at     INTEGER NOT NULL
);

-- The push outbox: one row per (notification, device) the worker must deliver to.
--   pending    waiting for next_attempt_at (new, retrying, or held by quiet hours)
--   delivered  the push service accepted it
--   failed     given up (permanent error, or retried past notifications.give_up_after)
--   dropped    the device's endpoint is gone (404/410/Unregistered)
--   cancelled  no longer wanted: read in the app, category switched off, device removed
--   merged     folded into another row's summary push ("37 photos backed up")
-- A worker claims a due row by setting lease_until; a crash mid-send leaves the lease to
-- run out and the row is sent again (apps dedupe on the notification id in the payload).
CREATE TABLE push_deliveries (
    id               INTEGER PRIMARY KEY,
    notification_id  TEXT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    device_id        TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    category         TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed', 'dropped', 'cancelled', 'merged')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    held_until       INTEGER,                          -- set while quiet hours hold it
    first_attempt_at INTEGER,                          -- give_up_after counts from here
    merged_into      INTEGER REFERENCES push_deliveries(id) ON DELETE SET NULL,
    provider         TEXT,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    UNIQUE (notification_id, device_id)
);
CREATE INDEX push_deliveries_due ON push_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX push_deliveries_device ON push_deliveries(device_id, status);
CREATE INDEX push_deliveries_merged ON push_deliveries(merged_into) WHERE merged_into IS NOT NULL;

-- The inbox is listed newest first, optionally unread only.
CREATE INDEX notifications_user_unread ON notifications(user_id, created_at) WHERE read_at IS NULL;
