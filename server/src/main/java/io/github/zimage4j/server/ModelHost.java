package io.github.zimage4j.server;

import io.github.zimage4j.pipeline.ZImagePipeline;

import java.io.IOException;
import java.util.List;

/**
 * The one loaded model, and the models the operator allowed switching to (by name; no path from a request
 * reaches the file system). Loads and switches run on the queue's worker thread, between jobs.
 */
public final class ModelHost implements AutoCloseable {

    /** Opens a model by one of the configured names. */
    @FunctionalInterface
    public interface Loader {
        ZImagePipeline load(String name) throws IOException;
    }

    enum State { LOADING, READY, FAILED }

    private final List<String> names;
    private final Loader loader;
    private volatile ZImagePipeline pipeline;
    private volatile String current;
    private volatile State state = State.LOADING;
    private volatile String error;

    /** @param names the models that may be loaded; the first is loaded at start */
    public ModelHost(List<String> names, Loader loader) {
        if (names.isEmpty()) {
            throw new IllegalArgumentException("at least one model is needed");
        }
        this.names = List.copyOf(names);
        this.loader = loader;
        this.current = names.get(0);
    }

    List<String> names() {
        return names;
    }

    String current() {
        return current;
    }

    State state() {
        return state;
    }

    String error() {
        return error;
    }

    /** The loaded pipeline, or a 503 while none is ready. */
    ZImagePipeline pipeline() {
        ZImagePipeline p = pipeline;
        if (state != State.READY || p == null) {
            throw new ApiException(503, null, state == State.FAILED ? "the model failed to load: " + error
                    : "the model " + current + " is loading; retry shortly", state == State.FAILED ? 0 : 5);
        }
        return p;
    }

    /** Loads {@code name} (closing the current model first: two full models rarely fit in memory). */
    void load(String name) {
        close();
        current = name;
        state = State.LOADING;
        try {
            pipeline = loader.load(name);
            error = null;
            state = State.READY;
        } catch (IOException | RuntimeException e) {
            error = e.getMessage();
            state = State.FAILED;
            System.getLogger(ModelHost.class.getName()).log(System.Logger.Level.ERROR, "cannot load " + name + ": " + e.getMessage());
        }
    }

    @Override
    public synchronized void close() {
        ZImagePipeline p = pipeline;
        pipeline = null;
        if (p != null) {
            p.close();
        }
    }
}
