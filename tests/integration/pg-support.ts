import pg from 'pg';

/**
 * Drops a test's own schema from the stack's PostgreSQL. Each test runs in a schema of its own so runs do not see
 * each other's queues; dropping it afterwards keeps a long-lived developer stack from collecting them.
 */
export async function dropSchema(schema: string, databaseUrl = process.env.DATABASE_URL): Promise<void> {
  if (!databaseUrl) return; // no PostgreSQL configured: the queue store was embedded in the test's data folder
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`not a test schema name: ${schema}`);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
