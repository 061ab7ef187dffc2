// Runs the official @huggingface/inference client's featureExtraction for
// a model through a provider ("auto" reads the Hub's mapping and takes its
// first entry, as the client does), with the router and the Hub at an
// emulator's URL, and prints what it returned (or its error) and the URLs
// it fetched as JSON. Usage:
//   node hfjs_provider.cjs CLIENTS_DIR BASE_URL TOKEN MODEL PROVIDER INPUTS_JSON
const [dir, base, token, model, provider, inputs] = process.argv.slice(2);
const { InferenceClient, setLogger } = require(require.resolve("@huggingface/inference", { paths: [dir] }));
// The client logs its choice of provider to the console; stdout is ours.
const quiet = () => {};
setLogger({ log: quiet, info: quiet, debug: quiet, warn: (...a) => console.error(...a), error: (...a) => console.error(...a) });

const fetched = [];
// The client's URLs are constants (https://router.huggingface.co,
// https://huggingface.co): its fetch option is the one way to point them
// elsewhere, unchanged otherwise.
const redirect = (input, init) => {
	const url = String(input).replace(/^https:\/\/router\.huggingface\.co/, base).replace(/^https:\/\/huggingface\.co/, base);
	fetched.push(url.slice(base.length));
	return fetch(url, init);
};

(async () => {
	const client = new InferenceClient(token, { fetch: redirect });
	try {
		const out = await client.featureExtraction({ model, provider, inputs: JSON.parse(inputs) });
		process.stdout.write(JSON.stringify({ output: out, fetched }));
	} catch (e) {
		process.stdout.write(JSON.stringify({ error: String(e && e.message), status: e && e.httpResponse && e.httpResponse.status, fetched }));
	}
})();
