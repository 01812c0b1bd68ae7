// The DuckDB comparison of bench/run.sh: the query an engineer would write instead of billrun rate —
// read_ndjson over the usage objects, dedup by id (DISTINCT ON), GROUP BY account, type and product with
// sums — on 2 threads. @duckdb/node-api is installed outside the repository (bench/run.sh puts it in a
// temporary directory and sets NODE_PATH). Prints rows, groups and seconds.
//
//	node bench/duckdb.cjs DIR [THREADS]
'use strict';

const { DuckDBInstance } = require('@duckdb/node-api');

async function main() {
  const [dir, threads = '2'] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: node bench/duckdb.cjs DIR [THREADS]');
    process.exit(2);
  }
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  await con.run(`SET threads=${Number(threads)}`);
  const files = `${dir.replace(/'/g, "''")}/dt=*/*.jsonl.gz`;
  const columns = `{id: 'VARCHAR', ts: 'TIMESTAMPTZ', account: 'VARCHAR', type: 'VARCHAR', model: 'VARCHAR',
    base_model: 'VARCHAR', input_tokens: 'BIGINT', output_tokens: 'BIGINT', cached_input_tokens: 'BIGINT',
    batch: 'BOOLEAN', deployment: 'VARCHAR', gpu_type: 'VARCHAR', gpu_count: 'BIGINT', start: 'TIMESTAMPTZ',
    "end": 'TIMESTAMPTZ', job: 'VARCHAR', training_tokens: 'BIGINT', epochs: 'BIGINT', method: 'VARCHAR'}`;
  const sql = `
    WITH ev AS (
      SELECT DISTINCT ON (id) * FROM read_ndjson('${files}', columns = ${columns}, format = 'newline_delimited')
    )
    SELECT account, type, coalesce(model, gpu_type, job) AS product, deployment, count(*) AS events,
      sum(input_tokens - coalesce(cached_input_tokens, 0)) AS input_tokens,
      sum(cached_input_tokens) AS cached_input_tokens, sum(output_tokens) AS output_tokens,
      sum(gpu_count * (epoch("end") - epoch(start))) AS gpu_seconds,
      sum(training_tokens * coalesce(epochs, 1)) AS training_tokens
    FROM ev GROUP BY ALL`;
  const start = process.hrtime.bigint();
  const reader = await con.runAndReadAll(`SELECT count(*) AS groups, sum(events) AS events FROM (${sql})`);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const [groups, events] = reader.getRows()[0];
  console.log(`groups ${groups}\nevents ${events}\nseconds ${seconds.toFixed(3)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
