// Runs the official @huggingface/inference client against an endpoint and
// prints what it returned as JSON. Usage:
//   node hfjs_feature_extraction.cjs CLIENTS_DIR ENDPOINT_URL TOKEN REQUEST_JSON
// REQUEST_JSON holds featureExtraction's arguments (inputs and parameters).
const path = require("path");
const [dir, endpointUrl, token, request] = process.argv.slice(2);
const { InferenceClient } = require(require.resolve("@huggingface/inference", { paths: [dir] }));

(async () => {
	const client = new InferenceClient(token);
	try {
		const out = await client.featureExtraction({ endpointUrl, ...JSON.parse(request) });
		process.stdout.write(JSON.stringify({ output: out }));
	} catch (e) {
		process.stdout.write(JSON.stringify({ error: String(e && e.message), status: e && e.httpResponse && e.httpResponse.status }));
	}
})();
