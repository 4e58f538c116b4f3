-- A later version of an item an annotator has already begun. It is kept beside the item, not put in its place: the
-- labels given so far belong to the stored content. Exports and statistics name the items so corrected, so that labels
-- on a version since corrected are not taken for labels on the record as it now stands. One row per item, the latest
-- version received; removed again should the stored content itself arrive later still (the correction was withdrawn).
CREATE TABLE IF NOT EXISTS item_corrections (
  item_id text PRIMARY KEY REFERENCES items (id),
  content jsonb NOT NULL,
  digest text NOT NULL,
  verification jsonb NOT NULL,
  received_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
