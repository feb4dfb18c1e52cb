package io.github.zimage4j.kernels;

/**
 * A pluggable backend (found with {@link java.util.ServiceLoader}), e.g. the oneDNN module. Providers
 * say whether this machine can run them, so "auto" picks the best one that works and falls back to Java.
 */
public interface BackendProvider {

    /** The name users select with {@code --backend}. */
    String name();

    /** Higher wins under "auto"; the Java backend is 0. */
    int priority();

    /** Null when usable here, else why not (shown to users who force this backend). */
    String unavailableReason();

    Backend create();
}
