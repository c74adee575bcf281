-- Rate boosts (`POST /v1/shifts/{id}/boost`): when an open shift's rate was last raised
-- by a boost. A boosted shift counts as urgent for texts to nurses whose app is closed.
ALTER TABLE shifts ADD COLUMN boosted_at timestamptz;
