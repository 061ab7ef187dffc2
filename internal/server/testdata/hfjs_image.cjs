// Posts an image file to an endpoint as the official @huggingface/inference
// client sends binary inputs (its request primitive: the raw bytes, with no
// Content-Type), and prints the answer as JSON. Usage:
//   node hfjs_image.cjs CLIENTS_DIR ENDPOINT_URL TOKEN IMAGE_FILE
const fs = require("fs");
const [dir, endpointUrl, token, file] = process.argv.slice(2);
const { InferenceClient } = require(require.resolve("@huggingface/inference", { paths: [dir] }));

(async () => {
	const client = new InferenceClient(token);
	console.warn = () => {}; // request() says it is deprecated
	try {
		const out = await client.request({ endpointUrl, data: new Blob([fs.readFileSync(file)]) });
		process.stdout.write(JSON.stringify({ output: out }));
	} catch (e) {
		process.stdout.write(JSON.stringify({ error: String(e && e.message), status: e && e.httpResponse && e.httpResponse.status }));
	}
})();
