package io.github.zimage4j.kernels;

/**
 * A buffer of float32 activations owned by the {@link Backend} that made it: a Java array on the CPU
 * backends, device memory on a GPU. Models keep activations only as these handles and pass them back to
 * the backend that allocated them, so one model code path runs on every backend and activations stay
 * where the backend computes (a GPU's activations never cross the bus between operations).
 * Elements are addressed by float offsets.
 */
public interface Activation {

    /** The number of floats. */
    int length();
}
