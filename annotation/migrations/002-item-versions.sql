-- When an item's source was received: the page's fetch time, or a feed message's Kafka timestamp. A later version of
-- an item (a corrected result) replaces the queued one while no annotator has begun it. NULL for items from before:
-- older than any version that says when it was received.
ALTER TABLE items ADD COLUMN IF NOT EXISTS received_at timestamptz;
