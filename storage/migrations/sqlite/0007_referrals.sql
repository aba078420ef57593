-- "You brought N signers": counted by referral code, so it needs an index at millions of rows.
CREATE INDEX signatures_by_referrer ON signatures (petition_id, referred_by);
