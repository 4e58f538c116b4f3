-- Annotation queues. The same SQL runs on PostgreSQL (pg) and PGlite.

CREATE TABLE IF NOT EXISTS queues (
  id text PRIMARY KEY,
  title text NOT NULL,
  task_type text NOT NULL CHECK (task_type IN ('classification', 'free-text-finding', 'image-region')),
  definition jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS users (
  id text PRIMARY KEY,
  role text NOT NULL CHECK (role IN ('admin', 'reviewer', 'annotator')),
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS user_queues (
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  queue_id text NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, queue_id)
);

-- One row per verified work item; content is the de-identified item as verified, digest its sha256.
CREATE TABLE IF NOT EXISTS items (
  id text PRIMARY KEY,
  institution text NOT NULL,
  source_kind text NOT NULL,
  resource_type text NOT NULL,
  content jsonb NOT NULL,
  digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  verification jsonb NOT NULL CHECK (verification->>'gate' = 'passed' AND verification->>'digest' = digest),
  enqueued_at timestamptz NOT NULL DEFAULT now()
);

-- An item's place in one queue. Every change to an item's assignments first locks this row, so a claim that holds
-- the lock (FOR UPDATE SKIP LOCKED) and then counts live assignments in a fresh statement sees them current.
CREATE TABLE IF NOT EXISTS queue_items (
  queue_id text NOT NULL REFERENCES queues (id),
  item_id text NOT NULL REFERENCES items (id),
  priority integer NOT NULL,
  required integer NOT NULL CHECK (required >= 1),
  gold boolean NOT NULL DEFAULT false,
  gold_labels jsonb,
  gold_category text,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'review', 'accepted', 'rejected')),
  round integer NOT NULL DEFAULT 1,
  seq bigserial,
  rule text NOT NULL,
  review_decision text,
  review_note text,
  reviewed_by text,
  reviewed_at timestamptz,
  PRIMARY KEY (queue_id, item_id)
);
CREATE INDEX IF NOT EXISTS queue_items_claimable ON queue_items (queue_id, priority DESC, seq) WHERE status = 'open';

CREATE TABLE IF NOT EXISTS assignments (
  id bigserial PRIMARY KEY,
  queue_id text NOT NULL,
  item_id text NOT NULL,
  user_id text NOT NULL REFERENCES users (id),
  round integer NOT NULL,
  state text NOT NULL CHECK (state IN ('leased', 'submitted', 'skipped', 'released', 'expired', 'superseded')),
  claimed_at timestamptz NOT NULL DEFAULT now(),
  lease_expires_at timestamptz NOT NULL,
  finished_at timestamptz,
  labels jsonb,
  category text,
  skip_reason text,
  FOREIGN KEY (queue_id, item_id) REFERENCES queue_items (queue_id, item_id)
);
-- A user holds at most one live assignment per item and round (a skip counts: skipped items are not offered again).
CREATE UNIQUE INDEX IF NOT EXISTS assignments_one_live ON assignments (queue_id, item_id, user_id, round)
  WHERE state IN ('leased', 'submitted', 'skipped');
CREATE INDEX IF NOT EXISTS assignments_leases ON assignments (lease_expires_at) WHERE state = 'leased';
CREATE INDEX IF NOT EXISTS assignments_by_user ON assignments (user_id, state);
CREATE INDEX IF NOT EXISTS assignments_by_item ON assignments (queue_id, item_id, round);
