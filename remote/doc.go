// Package remote is the HTTP client for the Hugging Face router's inference
// providers that embed (hf-inference's feature-extraction pipeline, and the
// OpenAI-shaped embeddings APIs of together, scaleway and deepinfra behind
// the router) and for the Hub API.
//
// Each provider is one small adapter (provider_*.go: route, body, answer,
// inputs per request) in one registry; nothing else names providers.
// Every answer is classified here, once: non-2xx responses become an
// *[HTTPError] (JSON bodies give their "error" field, anything else, such as
// the router's plain-text "Not Found", its first line, and is never fed to a
// JSON decoder), failures below HTTP become a *[TransportError], and
// [IsNotServed], [IsAuth] and [IsRetryable] say what they mean. The retry
// loop obeys that classification, the server's estimated_time and
// Retry-After, and the caller's deadline. The access token never appears in
// errors or logs.
package remote
