package io.github.zimage4j.io;

import io.github.zimage4j.tensor.Adapter;
import io.github.zimage4j.tensor.StoredTensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A named set of stored tensors: one safetensors file, a sharded checkpoint, and later GGUF files or
 * renamed views of them. Models take their weights from here and never see the file format.
 */
public interface TensorSource extends AutoCloseable {

    /** Where the tensors come from, for messages (a file or folder). */
    String description();

    Set<String> names();

    /** The tensor, or null when absent. */
    StoredTensor find(String name);

    /**
     * The updates (LoRA adapters) a linear layer adds to this weight at run time; none for a plain
     * checkpoint. A decorator supplies them, so binding a model again with other adapters is cheap.
     */
    default List<Adapter> adapters(String weightName) {
        return List.of();
    }

    default boolean contains(String name) {
        return find(name) != null;
    }

    /** The tensor; a missing one is an error naming the source and the tensor. */
    default StoredTensor get(String name) throws ModelFileException {
        StoredTensor t = find(name);
        if (t == null) {
            throw new ModelFileException(description() + ": missing tensor '" + name + "'");
        }
        return t;
    }

    /** The weight, which must have exactly this shape and a floating-point dtype. */
    default StoredTensor get(String name, long... shape) throws ModelFileException {
        StoredTensor t = get(name);
        if (t.dtype().isInteger()) {
            throw new ModelFileException(t.where() + " is stored as " + t.dtype()
                    + "; a weight must be a floating-point tensor (F32, BF16, F16, F8_E4M3 or F8_E5M2)");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new ModelFileException(t.where() + " has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        return t;
    }

    /** Every tensor's shape, in name order: what a checkpoint check compares against a config. */
    default Map<String, long[]> shapes() {
        Map<String, long[]> out = new LinkedHashMap<>();
        for (String n : names().stream().sorted().toList()) {
            out.put(n, find(n).shape());
        }
        return out;
    }

    /**
     * Drops the mapped pages from this process's resident memory; they come back from the OS page cache
     * on next use. Nothing to do for sources that map nothing; views pass it on.
     */
    default void releaseResidentPages() {
    }

    /** Unmaps the files. Tensors taken from this source must not be used afterwards. */
    @Override
    void close();
}
