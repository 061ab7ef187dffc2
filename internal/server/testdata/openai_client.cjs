// Runs the official openai Node.js client against a server and prints what
// it returned as JSON. Usage:
//   node openai_client.cjs CLIENTS_DIR BASE_URL API_KEY OP [REQUEST_JSON]
// OP is "embeddings" (REQUEST_JSON holds embeddings.create's arguments),
// "models" (models.list) or "retrieve" (models.retrieve; REQUEST_JSON is
// the model id as a JSON string).
const [dir, baseURL, apiKey, op, request] = process.argv.slice(2);
// $OPENAI_PACKAGE picks the installed copy: "openai" (7.x, which declares
// Node.js 22) or "openai-v6" (what npm installs on Node.js 20).
const OpenAI = require(require.resolve(process.env.OPENAI_PACKAGE || "openai", { paths: [dir] })).default;

(async () => {
	const client = new OpenAI({ apiKey, baseURL, maxRetries: 0 });
	try {
		let out;
		if (op === "models") {
			out = [];
			for await (const m of client.models.list()) out.push(m);
		} else if (op === "retrieve") {
			out = await client.models.retrieve(JSON.parse(request));
		} else {
			out = await client.embeddings.create(JSON.parse(request));
		}
		process.stdout.write(JSON.stringify({ output: out }));
	} catch (e) {
		process.stdout.write(JSON.stringify({ error: String(e && e.message), status: e && e.status, code: e && e.code, type: e && e.type }));
	}
})();
