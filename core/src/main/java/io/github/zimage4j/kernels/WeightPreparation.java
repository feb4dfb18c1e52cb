package io.github.zimage4j.kernels;

import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * One-time work a backend did on a model's weights (converting them to another format or layout), so that
 * a load report or a benchmark can show it apart from the model's compute: what was done, to how many
 * weights, the bytes of the copy it keeps and the wall time.
 *
 * <p>Work done at load is what {@link Backend#prepareWeights} returns. Every piece of work a backend does,
 * at load or later on its own (a copy made on a weight's second use, say), is also sent to the process-wide
 * listeners ({@link #listen}), on the thread that did it, as it finishes.
 *
 * @param backend  the backend's {@link Backend#name()}; null for {@link #NONE}
 * @param what     what was done, e.g. "Q8_0 weights to per-row int8"
 * @param products the precision the prepared weights multiply in from then on, e.g. "int8"; null where the
 *                 work changes only the layout
 * @param tensors  weights prepared
 * @param bytes    bytes of the prepared copies, held beside the mapped file while the model is loaded
 * @param seconds  wall time of the work
 * @param kept     weights this work would have prepared but left as stored because the model marked their
 *                 layers precision-sensitive (see {@link Backend#prepareWeights(java.util.List, java.util.List)});
 *                 on oneDNN an 8-bit one is decoded to bf16 for each product
 */
public record WeightPreparation(String backend, String what, String products, int tensors, long bytes, double seconds, int kept) {

    /** Nothing prepared: the weights are used as stored. */
    public static final WeightPreparation NONE = new WeightPreparation(null, "nothing", null, 0, 0, 0);

    /** Work that left no weight aside. */
    public WeightPreparation(String backend, String what, String products, int tensors, long bytes, double seconds) {
        this(backend, what, products, tensors, bytes, seconds, 0);
    }

    public boolean prepared() {
        return tensors > 0;
    }

    @Override
    public String toString() {
        if (!prepared()) {
            return "no weights prepared";
        }
        String s = String.format(Locale.ROOT, "%s: %s, %d weights, %.2f GB in %.2f s", backend, what, tensors, bytes / 1e9, seconds);
        return kept > 0 ? s + String.format(Locale.ROOT, "; %d weights of precision-sensitive layers left as stored", kept) : s;
    }

    /** Stops a listener; closing twice is harmless. */
    public interface Subscription extends AutoCloseable {
        @Override
        void close();
    }

    private static final CopyOnWriteArrayList<Consumer<WeightPreparation>> LISTENERS = new CopyOnWriteArrayList<>();

    /** Called by a backend once a piece of work is done; returns {@code work}. */
    public static WeightPreparation report(WeightPreparation work) {
        for (Consumer<WeightPreparation> l : LISTENERS) {
            l.accept(work);
        }
        return work;
    }

    /** Hears every report until the returned subscription is closed. */
    public static Subscription listen(Consumer<WeightPreparation> listener) {
        // A wrapper, so that the same listener added twice is removed once per subscription.
        Consumer<WeightPreparation> entry = listener::accept;
        LISTENERS.add(entry);
        return () -> LISTENERS.remove(entry);
    }
}
