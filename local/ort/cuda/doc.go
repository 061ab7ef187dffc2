// Package cuda finds what ONNX Runtime's CUDA provider needs on this
// machine (the NVIDIA driver, the GPUs, and the CUDA and cuDNN libraries)
// and loads those libraries into the process before the provider is
// registered, from wherever users have them: the loader path
// (LD_LIBRARY_PATH, ld.so.conf, the system's folders), a toolkit under
// $CUDA_HOME, $CUDA_PATH or /usr/local/cuda, or the nvidia-* pip wheels in
// Python's site-packages (nvidia/*/lib, which is where PyTorch's CUDA
// builds bring them; CUDA 13's wheels share nvidia/cu13/lib), as
// onnxruntime.preload_dlls does for Python since ONNX Runtime 1.21.
//
// What is needed is read from the provider library itself (its ELF
// DT_NEEDED entries, as `readelf -d` shows them), plus cuDNN 9, which
// recent providers open at run time instead. Libraries load with
// RTLD_GLOBAL in dependency order (each after the libraries it needs, read
// from its own DT_NEEDED), so that when ONNX Runtime opens the provider the
// dynamic loader finds every soname already loaded.
//
// It is a model-free helper of local/ort: it imports nothing of ours. Linux
// only: elsewhere [Inspect] reports that CUDA discovery is not supported.
package cuda
