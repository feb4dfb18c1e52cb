package io.github.zimage4j.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** cuBLASLt's GPU-free calls through the bindings: it loads, reports its version and names its status codes. */
class CublasLtTest {

    @Test
    void loadsAndNamesItsStatusCodes() {
        CudaToolchain.requireNvcc();
        CublasLt lt = CublasLt.get();
        assertTrue(lt.version() >= 120000, "cuBLASLt version " + lt.version() + " from " + lt.loadedFrom());
        assertEquals("CUBLAS_STATUS_SUCCESS", lt.statusName(CublasLt.CUBLAS_STATUS_SUCCESS));
        assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", lt.statusName(15));
    }
}
