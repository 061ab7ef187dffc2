// Package local runs embedding models on this machine through ONNX Runtime:
// it finds the graphs in the model directory layouts users have, feeds each
// graph the inputs it declares, and pipelines image decoding and
// preprocessing with inference.
//
// Layouts: transformers.js/Xenova (onnx/text_model.onnx and
// onnx/vision_model.onnx, with _quantized, _fp16 ... variants), joint Optimum
// exports of CLIPModel (one model.onnx taking input_ids, attention_mask and
// pixel_values), and single-tower repos (model.onnx at the top level or in
// onnx/, as fastembed and sentence-transformers ship them). config.json,
// preprocessor_config.json and tokenizer.json/tokenizer_config.json are
// honoured; an unknown layout is refused with what was looked for.
package local
