// Runs one SQL query with DuckDB's official Node.js client and prints the
// rows as JSON. Usage: node duckdb_query.cjs CLIENTS_DIR SQL
const [dir, sql] = process.argv.slice(2);
const { DuckDBInstance } = require(require.resolve("@duckdb/node-api", { paths: [dir] }));

(async () => {
	const db = await DuckDBInstance.create(":memory:");
	const conn = await db.connect();
	const reader = await conn.runAndReadAll(sql);
	process.stdout.write(JSON.stringify({ rows: reader.getRowObjectsJson() }));
})().catch((e) => process.stdout.write(JSON.stringify({ error: String(e && e.message) })));
