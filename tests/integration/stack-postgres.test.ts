import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

describe('PostgreSQL (real server from the stack)', () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 10_000 });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
  });

  it('answers queries on the tributary database, with the address exposed to tests', async () => {
    expect(process.env.DATABASE_URL).toBe(inject('stack').DATABASE_URL);
    const { rows } = await client.query<{ db: string; who: string; version: string }>(
      'SELECT current_database() AS db, current_user AS who, current_setting($1) AS version',
      ['server_version_num'],
    );
    expect(rows[0].db).toBe(process.env.DATABASE_URL!.split('/').pop());
    expect(Number(rows[0].version)).toBeGreaterThanOrEqual(130000);
  });

  it('keeps what is written in a transaction, and discards what is rolled back', async () => {
    await client.query('CREATE TEMP TABLE stack_probe (id int PRIMARY KEY, note text NOT NULL)');
    await client.query('BEGIN');
    await client.query('INSERT INTO stack_probe VALUES (1, $1)', ['kept']);
    await client.query('COMMIT');
    await client.query('BEGIN');
    await client.query('INSERT INTO stack_probe VALUES (2, $1)', ['discarded']);
    await client.query('ROLLBACK');
    const { rows } = await client.query('SELECT id, note FROM stack_probe ORDER BY id');
    expect(rows).toEqual([{ id: 1, note: 'kept' }]);
    await expect(client.query('INSERT INTO stack_probe VALUES (1, $1)', ['dup'])).rejects.toThrow(
      /duplicate key/,
    );
  });
});
