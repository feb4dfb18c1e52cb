package io.github.zimage4j.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The error messages a user sees when a CUDA call fails: what was attempted, the call, the code's name. */
class CudaErrorsTest {

    @Test
    void aFailedCallSaysWhatWasAttemptedAndTheCodesName() {
        CudaCallException e = new CudaCallException("cuModuleLoadData", 218, "CUDA_ERROR_INVALID_PTX",
                "a PTX JIT compilation failed", "loading attention.cu (compute_120)");
        assertEquals("loading attention.cu (compute_120): cuModuleLoadData failed with CUDA_ERROR_INVALID_PTX (218): "
                + "a PTX JIT compilation failed", e.getMessage());
        assertEquals("CUDA_ERROR_INVALID_PTX", e.codeName());
        assertEquals(218, e.code());
    }

    @Test
    void outOfMemoryNamesTheRequestAndWhatWasFree() {
        CudaOutOfMemoryException e = new CudaOutOfMemoryException("cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY",
                "allocating DiT block 3 weights", 3L << 30, 1L << 30, 80L << 30);
        String m = e.getMessage();
        assertTrue(m.startsWith("allocating DiT block 3 weights: out of GPU memory: cuMemAlloc_v2 of 3072.0 MiB (3221225472 bytes)"), m);
        assertTrue(m.contains("1024.0 MiB (1073741824 bytes) free of 81920.0 MiB"), m);
        assertEquals(3L << 30, e.requestedBytes());
        assertEquals(1L << 30, e.freeBytes());
    }

    @Test
    void versionedSymbolsKeepTheirApiName() {
        assertEquals("cuMemAlloc", CudaDriver.MEM_ALLOC.apiName());
        assertEquals("cuInit", CudaDriver.INIT.apiName());
        assertEquals("cuEventElapsedTime", CudaDriver.EVENT_ELAPSED_TIME.apiName());
    }
}
