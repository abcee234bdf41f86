-- SMS: a verified phone number and the SMS second factor on the account; texted codes bound to
-- their challenge, with the time of the last text (resend throttle) and the number it went to.

ALTER TABLE accounts ADD COLUMN phone_verified_at INTEGER;
ALTER TABLE accounts ADD COLUMN sms_enabled_at INTEGER;

ALTER TABLE auth_challenges ADD COLUMN code_sent_at INTEGER;
ALTER TABLE auth_challenges ADD COLUMN subject TEXT;
