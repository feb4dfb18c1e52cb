package io.github.zimage4j.cuda;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Opens the first GPU for the tests tagged "gpu"; where this machine has none (no driver, or the driver
 * sees no device) each such test is skipped by an assumption in its set-up, so every one shows as skipped. With {@code ZIMAGE_REQUIRE_GPU=1} (set by gpu-kit/run.sh on the device
 * machine) a missing GPU fails instead, so a broken driver setup cannot pass as skipped.
 */
final class GpuTestSupport {

    private GpuTestSupport() {
    }

    /** Why the last {@link #openFirstDevice} found no GPU. */
    static String missing = "";

    /** The first GPU, or null (and {@link #missing} says why) where there is none and none is required. */
    static CudaDevice openFirstDevice() {
        boolean required = "1".equals(System.getenv("ZIMAGE_REQUIRE_GPU"));
        String why;
        try {
            CudaDriver d = CudaDriver.get();
            if (d.deviceCount() > 0) {
                return CudaDevice.open(0);
            }
            why = "the CUDA driver at " + d.loadedFrom() + " sees no device";
        } catch (CudaLibraryNotFoundException e) {
            why = "no CUDA driver on this machine: " + (required ? e.getMessage()
                    : e.getMessage().lines().findFirst().orElse(""));
        } catch (CudaCallException e) {
            if (e.code() != CudaDriver.CUDA_ERROR_NO_DEVICE) {
                throw e;
            }
            why = "the CUDA driver finds no device: " + e.getMessage();
        }
        if (required) {
            fail("ZIMAGE_REQUIRE_GPU=1 but " + why);
        }
        missing = "GPU test skipped: " + why;
        return null;
    }
}
