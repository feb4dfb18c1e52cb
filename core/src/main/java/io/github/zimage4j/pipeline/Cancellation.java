package io.github.zimage4j.pipeline;

/** Lets another thread stop a generation; the pipeline checks it between steps and stages. */
public final class Cancellation {

    private volatile boolean cancelled;

    public void cancel() {
        cancelled = true;
    }

    public boolean isCancelled() {
        return cancelled;
    }

    /** A token nobody cancels. */
    public static Cancellation none() {
        return new Cancellation();
    }
}
