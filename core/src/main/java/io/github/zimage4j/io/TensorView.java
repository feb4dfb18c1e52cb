package io.github.zimage4j.io;

import io.github.zimage4j.tensor.StoredTensor;

import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Another source's tensors under other names (renamed, split into row views, rescaled): nothing is copied,
 * every tensor is a view of the source's mapping. Closing the view closes the source.
 */
public final class TensorView implements TensorSource {

    private final TensorSource source;
    private final String description;
    private final Map<String, StoredTensor> tensors;

    /** @param tensors name → tensor of {@code source} (or a view of one) */
    public TensorView(TensorSource source, String description, Map<String, StoredTensor> tensors) {
        this.source = source;
        this.description = description;
        this.tensors = Collections.unmodifiableMap(new TreeMap<>(tensors));
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public StoredTensor find(String name) {
        return tensors.get(name);
    }

    @Override
    public void releaseResidentPages() {
        source.releaseResidentPages();
    }

    @Override
    public void close() {
        source.close();
    }

    /**
     * Adds {@code name → tensor} to a view being built, refusing two stored tensors for one name.
     *
     * @param from   name → the stored name it came from, for the message
     * @param stored the tensor's name in the source
     */
    public static void put(Map<String, StoredTensor> view, Map<String, String> from, TensorSource source, String name,
                           String stored, StoredTensor tensor) throws ModelFileException {
        String clash = from.put(name, stored);
        if (clash != null) {
            throw new ModelFileException(source.description() + ": tensors '" + clash + "' and '" + stored
                    + "' both stand for '" + name + "'");
        }
        view.put(name, tensor);
    }

    /** {@code shapes[name]}, which must exist with this rank; what a config derivation needs. */
    public static long[] shape(Map<String, long[]> shapes, String name, int rank, String what) throws ModelFileException {
        long[] s = shapes.get(name);
        if (s == null || s.length != rank) {
            throw new ModelFileException(what + ": " + (s == null ? "no tensor '" + name + "'"
                    : "'" + name + "' has shape " + java.util.Arrays.toString(s) + ", expected " + rank + " dimensions"));
        }
        return s;
    }
}
