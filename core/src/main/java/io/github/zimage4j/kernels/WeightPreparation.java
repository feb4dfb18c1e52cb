package io.github.zimage4j.kernels;

import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * One-time work a backend does on weights before or when it first uses them (converting them to another
 * format or layout at load, say), reported so that a benchmark can show it apart from the model's compute
 * and a user can see where the first seconds went. Process-wide: a listener hears every backend's reports,
 * on the thread that did the work.
 */
public final class WeightPreparation {

    /**
     * @param backend the reporting backend's {@link Backend#name()}
     * @param what    what was prepared, e.g. "int8 conversion of 210 linear layers"
     * @param bytes   bytes written (the prepared copy), or 0 where that does not apply
     * @param seconds wall time of the work
     */
    public record Report(String backend, String what, long bytes, double seconds) {
    }

    /** Stops a listener; closing twice is harmless. */
    public interface Subscription extends AutoCloseable {
        @Override
        void close();
    }

    private static final CopyOnWriteArrayList<Consumer<Report>> LISTENERS = new CopyOnWriteArrayList<>();

    private WeightPreparation() {
    }

    /** Called by a backend once the work is done. */
    public static void report(Report report) {
        for (Consumer<Report> l : LISTENERS) {
            l.accept(report);
        }
    }

    /** Hears every report until the returned subscription is closed. */
    public static Subscription listen(Consumer<Report> listener) {
        // A wrapper, so that the same listener added twice is removed once per subscription.
        Consumer<Report> entry = listener::accept;
        LISTENERS.add(entry);
        return () -> LISTENERS.remove(entry);
    }
}
