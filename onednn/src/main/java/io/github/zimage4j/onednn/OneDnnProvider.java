package io.github.zimage4j.onednn;

import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.BackendProvider;

/** Registers the oneDNN backend; usable where the bundled linux-x86_64 library loads. */
public final class OneDnnProvider implements BackendProvider {

    private static volatile OneDnnBackend shared;

    @Override
    public String name() {
        return "onednn";
    }

    @Override
    public int priority() {
        return 10;
    }

    @Override
    public String unavailableReason() {
        return Dnnl.failure();
    }

    /** One backend per process: its primitives and scratch buffers are reused by every model. */
    @Override
    public Backend create() {
        if (shared == null) {
            synchronized (OneDnnProvider.class) {
                if (shared == null) {
                    Dnnl d = Dnnl.get();
                    if (d == null) {
                        throw new IllegalStateException("oneDNN is unavailable: " + Dnnl.failure());
                    }
                    shared = new OneDnnBackend(d);
                }
            }
        }
        return shared;
    }
}
