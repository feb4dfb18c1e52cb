package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.tensor.StoredTensor;

import java.util.LinkedHashSet;
import java.util.Set;

/**
 * A view that shows every tensor of another source under {@code prefix + name}: a {@code Qwen3Model}
 * state dict (names like {@code layers.0.mlp.up_proj.weight}) read as the {@code model.}-prefixed
 * Qwen3ForCausalLM layout the encoder binds. Tensors are not copied and keep their stored names, so
 * error messages still quote what the file holds. Closing the view closes the underlying source.
 */
final class PrefixedTensorSource implements TensorSource {

    private final TensorSource base;
    private final String prefix;
    private final Set<String> names;

    PrefixedTensorSource(TensorSource base, String prefix) {
        this.base = base;
        this.prefix = prefix;
        Set<String> n = new LinkedHashSet<>();
        for (String name : base.names()) {
            n.add(prefix + name);
        }
        this.names = java.util.Collections.unmodifiableSet(n);
    }

    /**
     * The source as {@link Qwen3Config#PREFIX}-named tensors: unchanged when it already holds
     * {@code model.embed_tokens.weight}, a prefixing view when it holds {@code embed_tokens.weight}.
     * Anything else is returned unchanged, for the checkpoint check to report.
     */
    static TensorSource withModelPrefix(TensorSource source) {
        String embed = "embed_tokens.weight";
        if (!source.contains(Qwen3Config.PREFIX + embed) && source.contains(embed)) {
            return new PrefixedTensorSource(source, Qwen3Config.PREFIX);
        }
        return source;
    }

    @Override
    public String description() {
        return base.description() + " (names read with the prefix '" + prefix + "')";
    }

    @Override
    public Set<String> names() {
        return names;
    }

    @Override
    public StoredTensor find(String name) {
        return name.startsWith(prefix) ? base.find(name.substring(prefix.length())) : null;
    }

    @Override
    public void releaseResidentPages() {
        base.releaseResidentPages();
    }

    @Override
    public void close() {
        base.close();
    }
}
