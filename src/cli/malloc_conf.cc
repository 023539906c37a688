// jemalloc's options for the valk command, read at its first allocation.
//
// lg_extent_max_active_fit: jemalloc reuses a free extent for a large
// request only if the extent is at most 2^6 times the request (the
// default), to keep large extents whole. The collector frees many large
// objects at once (growing strings, big vectors' buffers), jemalloc merges
// them into extents of megabytes, and each later large allocation then
// faulted in fresh pages instead (bench/lisp/strings.lisp: 36 000 page
// faults and 0.70 s of CPU, against 4 600 and 0.24 s with 2^10).
#ifdef VALK_WITH_JEMALLOC
extern "C" {
// NOLINTNEXTLINE: the name jemalloc looks up.
const char* malloc_conf = "lg_extent_max_active_fit:10";
}
#endif
