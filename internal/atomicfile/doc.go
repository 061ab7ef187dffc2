// Package atomicfile is the one way hybridembed writes a file: into a
// temporary file in the target's own folder (a dot name, which Spark, glob
// and Parquet readers skip), synced, then renamed into place, then the folder
// synced. After a crash or a kill -9 at any moment, the target is either the
// old file or the new one, never a torn one.
//
// Every output goes through it: JSON Lines and NPY outputs, dataset chunks
// and manifests, Hugging Face cache refs, gallery pages and routing state.
//
// On Unix the temporary file comes from github.com/google/renameio/v2; that
// package does not build for Windows, where the same steps are done with the
// standard library and MoveFileEx.
//
// Files are created with mode 0666 less the umask, as a plain create would:
// a result moved into a shared folder (an HF cache on NFS, a dataset on a
// cluster volume) must stay readable by the group that could read it before.
package atomicfile
