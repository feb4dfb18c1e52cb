package io.github.zimage4j.testing;

import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Backends;

/**
 * The backend the parity tests run on: {@code -Dzimage.backend=NAME} (default "java"). Backend modules
 * rerun the core test suite with their own name, so every golden case runs on every backend.
 */
public final class TestBackend {

    private TestBackend() {
    }

    public static Backend get() {
        return Backends.select(System.getProperty("zimage.backend", "java"));
    }
}
