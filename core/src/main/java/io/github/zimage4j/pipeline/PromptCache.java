package io.github.zimage4j.pipeline;

import io.github.zimage4j.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Caption features of recently encoded prompts, keyed by their token ids (so the chat template and the
 * token limit are part of the key), least recently used dropped first. Encoding is deterministic, so a
 * hit gives exactly what encoding again would; the features are only read by the transformer.
 */
final class PromptCache {

    private record Key(int[] ids) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(ids, k.ids);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(ids);
        }
    }

    private final Map<Key, Tensor> entries = new LinkedHashMap<>(16, 0.75f, true);
    private int capacity;

    PromptCache(int capacity) {
        this.capacity = capacity;
    }

    synchronized Tensor get(int[] ids) {
        return entries.get(new Key(ids));
    }

    synchronized void put(int[] ids, Tensor features) {
        entries.put(new Key(ids.clone()), features);
        trim();
    }

    synchronized void capacity(int entries) {
        if (entries < 0) {
            throw new IllegalArgumentException("prompt cache size must be ≥ 0, got " + entries);
        }
        capacity = entries;
        trim();
    }

    synchronized int size() {
        return entries.size();
    }

    private void trim() {
        var it = entries.entrySet().iterator();
        while (entries.size() > capacity && it.hasNext()) {
            it.next();
            it.remove();
        }
    }
}
