/* A stand-in libcuda.so.1 for tests without a GPU: device memory is host memory, copies are memcpy,
 * kernels are counted, not run. It exercises every Java wrapper of CudaDriver (the FFM call shapes) and the
 * error paths: an allocation above FAKE_LIMIT fails with CUDA_ERROR_OUT_OF_MEMORY. */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <stddef.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
#define FAKE_LIMIT (1ull << 30)
static unsigned long long in_use;
static int launches;
static unsigned last_grid[3], last_block[3], last_shared;
static int dummy;

int fake_launches(void) { return launches; }
unsigned fake_last(int i) { return i < 3 ? last_grid[i] : i < 6 ? last_block[i - 3] : last_shared; }

CUresult cuInit(unsigned flags) { return 0; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuGetErrorName(CUresult e, const char **s) {
    *s = e == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : e == 1 ? "CUDA_ERROR_INVALID_VALUE" : e == 0 ? "CUDA_SUCCESS" : 0;
    return *s ? 0 : 1;
}
CUresult cuGetErrorString(CUresult e, const char **s) { *s = e == 2 ? "out of memory" : "fake error"; return 0; }
CUresult cuDeviceGetCount(int *n) { *n = 1; return 0; }
CUresult cuDeviceGet(int *d, int ordinal) { if (ordinal != 0) return 101; *d = 0; return 0; }
CUresult cuDeviceGetName(char *name, int len, int dev) { strncpy(name, "Fake GPU", len); return 0; }
CUresult cuDeviceGetAttribute(int *v, int attr, int dev) {
    *v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 132 : attr == 97 ? 232448 : 0;
    return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *b, int dev) { *b = FAKE_LIMIT; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev) { *ctx = &dummy; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int dev) { return 0; }
CUresult cuCtxSetCurrent(void *ctx) { return ctx == &dummy ? 0 : 1; }
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuMemGetInfo_v2(size_t *free_b, size_t *total) { *free_b = FAKE_LIMIT - in_use; *total = FAKE_LIMIT; return 0; }
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
    if (bytes > FAKE_LIMIT - in_use) return 2;
    void *m = malloc(bytes + 16);
    if (!m) return 2;
    *(size_t *) m = bytes;
    in_use += bytes;
    *p = (CUdeviceptr) (uintptr_t) ((char *) m + 16);
    return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
    char *m = (char *) (uintptr_t) p - 16;
    in_use -= *(size_t *) m;
    free(m);
    return 0;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) { memcpy((void *) (uintptr_t) d, s, n); return 0; }
CUresult cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) { memcpy(d, (void *) (uintptr_t) s, n); return 0; }
CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) { memmove((void *) (uintptr_t) d, (void *) (uintptr_t) s, n); return 0; }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *st) { return cuMemcpyHtoD_v2(d, s, n); }
CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, void *st) { return cuMemcpyDtoH_v2(d, s, n); }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void *st) { return cuMemcpyDtoD_v2(d, s, n); }
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, void *st) { memset((void *) (uintptr_t) d, v, n); return 0; }
CUresult cuStreamCreate(void **s, unsigned flags) { *s = &dummy; return flags == 1 ? 0 : 1; }
CUresult cuStreamDestroy_v2(void *s) { return 0; }
CUresult cuStreamSynchronize(void *s) { return 0; }
CUresult cuEventCreate(void **e, unsigned f) { *e = malloc(8); return 0; }
CUresult cuEventRecord(void *e, void *s) { return 0; }
CUresult cuEventSynchronize(void *e) { return 0; }
CUresult cuEventElapsedTime_v2(float *ms, void *a, void *b) { *ms = 1.5f; return 0; }
CUresult cuEventDestroy_v2(void *e) { free(e); return 0; }
CUresult cuModuleLoadData(void **m, const void *image) { *m = &dummy; return image ? 0 : 1; }
CUresult cuModuleUnload(void *m) { return 0; }
CUresult cuModuleGetFunction(void **f, void *m, const char *name) { *f = &dummy; return name && *name ? 0 : 500; }
CUresult cuFuncSetAttribute(void *f, int attr, int v) { return attr == 8 && v > 0 ? 0 : 1; }
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void *stream, void **params, void **extra) {
    if (!params || !params[0] || extra) return 1;
    launches++;
    last_grid[0] = gx; last_grid[1] = gy; last_grid[2] = gz;
    last_block[0] = bx; last_block[1] = by; last_block[2] = bz;
    last_shared = shared;
    return 0;
}
