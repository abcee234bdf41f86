-- Risk signals (issue 6): a successful sign-in's event names the session it opened, so the egress
-- gate and the diagnosis can read the signals of the sign-in behind any session.
ALTER TABLE login_events ADD COLUMN session_id UUID;
CREATE INDEX login_events_by_session ON login_events (session_id);
