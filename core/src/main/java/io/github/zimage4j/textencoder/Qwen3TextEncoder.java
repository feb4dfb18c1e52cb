package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.CheckpointCheck;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Z-Image's prompt encoder: the Qwen3 decoder (transformers {@code Qwen3Model}) up to
 * {@code hidden_states[-2]}, the <em>raw</em> output of the second-to-last layer.
 * <pre>
 *   hidden_states[0]   = embed_tokens[ids]
 *   hidden_states[i+1] = layers[i](hidden_states[i])        i = 0 … L−2    (layer 34 of 0…35 for Qwen3-4B)
 *   cap_feats          = hidden_states[L−1][real tokens]     never the last layer, never the final norm
 * </pre>
 * The last layer and {@code model.norm} only feed {@code hidden_states[-1]}, which Z-Image does not use,
 * so they are never computed nor read (the checkpoint check still requires them: a file that lacks them
 * is not the model its config describes).
 *
 * <p><b>Memory.</b> The weights (about 8 GB in bf16) stay memory-mapped in their stored dtype; nothing
 * is copied to the heap but the norm scales. The mapping lives as long as this object: encode every
 * prompt (positive and negative) first, then close the encoder, which unmaps the files, before the
 * transformer starts denoising, so the two models never hold memory at the same time:
 * <pre>{@code
 * List<Tensor> capFeats;
 * try (Qwen3TextEncoder enc = ModelFiles.openTextEncoder(Path.of("Z-Image-Turbo/text_encoder"), backend)) {
 *     capFeats = enc.encode(List.of(Prompt.of(positiveIds), Prompt.of(negativeIds)));
 * }   // unmapped here; the returned tensors are heap copies and stay valid
 * }</pre>
 *
 * <p><b>Batching.</b> Prompts of any lengths are packed row after row: every projection is one GEMM over
 * all tokens of all prompts, RoPE and causal attention run per prompt. Right padding is dropped before
 * computing (with causal attention real tokens never see what follows them), so a 512-slot tokenizer
 * output with 14 real tokens costs 14 rows, and no attention mask beyond the causal one is needed.
 */
public final class Qwen3TextEncoder implements AutoCloseable {

    private final Qwen3Config cfg;
    private final Backend backend;
    private final TensorSource weights;
    private final StoredTensor embedTokens;
    private final Qwen3DecoderLayer[] layers;
    private final float[] invFreq;
    private volatile boolean closed;

    /**
     * One tokenized prompt: its ids and, for tokenizer output padded to a fixed length, the attention
     * mask ({@code true} = real token). Padding must be on the right, as the Z-Image tokenizer call
     * produces it; the ids at padded positions are ignored.
     */
    public record Prompt(int[] ids, boolean[] mask) {

        public Prompt {
            if (mask != null && mask.length != ids.length) {
                throw new IllegalArgumentException("attention mask has " + mask.length + " entries for "
                        + ids.length + " token ids");
            }
        }

        /** An unpadded prompt: every id is a real token. */
        public static Prompt of(int... ids) {
            return new Prompt(ids, null);
        }

        boolean real(int position) {
            return mask == null || mask[position];
        }
    }

    /** Receives the hidden states as they are computed: rows are the real tokens of one prompt, in order. */
    @FunctionalInterface
    public interface Trace {
        /** @param name {@code hidden_states.k}, k = 0 (embeddings) … L−1 (the state Z-Image uses) */
        void record(String name, int prompt, float[] data, int offset, int rows, int cols);
    }

    /**
     * Binds a checkpoint's tensors to the model, taking ownership of the source ({@link #close()} closes
     * it). Names may carry the {@code model.} prefix (Qwen3ForCausalLM checkpoints) or not (a
     * {@code Qwen3Model} state dict). The whole tensor set is checked against the config first, so a
     * wrong file reports every missing, unexpected and mis-shaped tensor at once. If this throws, the
     * caller still owns the source.
     */
    public Qwen3TextEncoder(TensorSource source, Qwen3Config cfg, Backend backend) throws ModelFileException {
        TensorSource w = Qwen3Checkpoint.inHfNames(source);
        // A Qwen3ForCausalLM export may still carry its tied LM head; the encoder never uses it.
        CheckpointCheck.compare(w.description(), cfg.expectedTensors(), w.shapes(), List.of("lm_head.weight"))
                .throwIfFailed();
        this.cfg = cfg;
        this.backend = backend;
        this.weights = w;
        embedTokens = w.get(Qwen3Config.PREFIX + "embed_tokens.weight", cfg.vocabSize(), cfg.hiddenSize());
        // hidden_states has L+1 entries, so hidden_states[-2] is the output of layer L−2: run L−1 layers.
        layers = new Qwen3DecoderLayer[cfg.numHiddenLayers() - 1];
        for (int i = 0; i < layers.length; i++) {
            layers[i] = new Qwen3DecoderLayer(w, i, cfg);
        }
        invFreq = inverseFrequencies(cfg.headDim(), cfg.ropeTheta());
    }

    /**
     * Maps the weights at {@code path} (a folder, a single safetensors or GGUF file, a shard index; see
     * {@link Checkpoints#open}) with the given config; {@code ModelFiles.openTextEncoder} finds the config.
     */
    public static Qwen3TextEncoder open(Path path, Qwen3Config cfg, Backend backend) throws IOException {
        TensorSource st = Checkpoints.open(path);
        try {
            return new Qwen3TextEncoder(st, cfg, backend);
        } catch (IOException | RuntimeException e) {
            st.close();
            throw e;
        }
    }

    public Qwen3Config config() {
        return cfg;
    }

    /** Width of the features the encoder returns (the hidden size, 2560 for Qwen3-4B). */
    public int featureDim() {
        return cfg.hiddenSize();
    }

    /** One unpadded prompt → its features [ids.length, hidden]. */
    public Tensor encode(int... ids) {
        return encode(List.of(Prompt.of(ids)), null).get(0);
    }

    /** Each prompt → the features of its real tokens, [n_real, hidden] (Z-Image's {@code cap_feats}). */
    public List<Tensor> encode(List<Prompt> prompts) {
        return encode(prompts, null);
    }

    /** As {@link #encode(List)}, reporting every hidden state computed to {@code trace} (may be null). */
    public List<Tensor> encode(List<Prompt> prompts, Trace trace) {
        if (closed) {
            throw new IllegalStateException("the text encoder is closed: its weights are no longer mapped");
        }
        if (prompts.isEmpty()) {
            return List.of();
        }
        int hidden = cfg.hiddenSize();
        List<Qwen3DecoderLayer.Segment> segments = new ArrayList<>();
        int rows = 0;
        int longest = 0;
        for (int p = 0; p < prompts.size(); p++) {
            Qwen3DecoderLayer.Segment s = segment(prompts.get(p), p, rows);
            segments.add(s);
            rows += s.rows();
            longest = Math.max(longest, s.rows());
        }
        float[] x = new float[rows * hidden];
        for (int p = 0; p < prompts.size(); p++) {
            embed(prompts.get(p).ids(), segments.get(p), x);
        }
        Activation stream = backend.upload(x);
        trace(trace, 0, stream, segments);

        float[] cos = new float[longest * invFreq.length];
        float[] sin = new float[longest * invFreq.length];
        ropeTables(longest, cos, sin);
        Activation cosTable = backend.upload(cos);
        Activation sinTable = backend.upload(sin);
        Qwen3DecoderLayer.Workspace ws = new Qwen3DecoderLayer.Workspace(backend, cfg, rows);
        for (int i = 0; i < layers.length; i++) {
            layers[i].forward(backend, ws, stream, rows, segments, cosTable, sinTable);
            // Every prompt of the call went through this layer: its weights leave the resident set, so
            // encoding holds about one layer of the 8 GB beside the transformer's converted or packed copy.
            layers[i].releaseResidentPages();
            trace(trace, i + 1, stream, segments);
        }
        ws.release(backend);

        List<Tensor> out = new ArrayList<>(prompts.size());
        for (Qwen3DecoderLayer.Segment s : segments) {
            out.add(new Tensor(backend.read(stream, s.start() * hidden, s.rows() * hidden), s.rows(), hidden));
        }
        for (Activation a : new Activation[] {stream, cosTable, sinTable}) {
            backend.release(a);
        }
        return out;
    }

    /**
     * The rows a prompt needs: its real tokens. Right padding is dropped: with causal attention real
     * tokens never see what follows them, so the result is the same as with the padding.
     */
    private Qwen3DecoderLayer.Segment segment(Prompt prompt, int index, int start) {
        int[] ids = prompt.ids();
        int real = 0;
        while (real < ids.length && prompt.real(real)) {
            real++;
        }
        for (int i = real; i < ids.length; i++) {
            if (prompt.real(i)) {
                throw new IllegalArgumentException("prompt " + index + ": the attention mask is not right padding"
                        + " (a real token at position " + i + " after padding at position " + real
                        + "); the Z-Image tokenizer pads on the right");
            }
        }
        if (real == 0) {
            throw new IllegalArgumentException("prompt " + index + " has no real tokens (" + ids.length
                    + " ids); even an empty prompt has its chat-template tokens");
        }
        for (int i = 0; i < real; i++) {
            if (ids[i] < 0 || ids[i] >= cfg.vocabSize()) {
                throw new IllegalArgumentException("prompt " + index + ": token id " + ids[i] + " at position " + i
                        + " is outside the vocabulary [0, " + cfg.vocabSize() + ")");
            }
        }
        return new Qwen3DecoderLayer.Segment(start, real);
    }

    /** Rows of the stored embedding table, decoded to float32. */
    private void embed(int[] ids, Qwen3DecoderLayer.Segment s, float[] x) {
        int hidden = cfg.hiddenSize();
        for (int r = 0; r < s.rows(); r++) {
            float[] row = embedTokens.rows(ids[r], 1).toFloats();
            System.arraycopy(row, 0, x, (s.start() + r) * hidden, hidden);
        }
    }

    /**
     * {@code inv_freq = 1/θ^(arange(0, d, 2)/d)} in float32 as transformers computes it (the exponent,
     * the power and the reciprocal each rounded to float32).
     */
    static float[] inverseFrequencies(int headDim, double theta) {
        float[] inv = new float[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            float exponent = (float) (2 * i) / headDim;
            inv[i] = 1f / (float) StrictMath.pow(theta, exponent);
        }
        return inv;
    }

    /** cos/sin of {@code position · inv_freq}, the angle rounded to float32 first, positions 0 … n−1. */
    private void ropeTables(int positions, float[] cos, float[] sin) {
        int half = invFreq.length;
        for (int pos = 0; pos < positions; pos++) {
            for (int i = 0; i < half; i++) {
                float angle = invFreq[i] * pos;
                cos[pos * half + i] = (float) StrictMath.cos(angle);
                sin[pos * half + i] = (float) StrictMath.sin(angle);
            }
        }
    }

    private void trace(Trace trace, int state, Activation x, List<Qwen3DecoderLayer.Segment> segments) {
        if (trace != null) {
            int hidden = cfg.hiddenSize();
            for (int p = 0; p < segments.size(); p++) {
                Qwen3DecoderLayer.Segment s = segments.get(p);
                trace.record("hidden_states." + state, p, backend.read(x, s.start() * hidden, s.rows() * hidden), 0,
                        s.rows(), hidden);
            }
        }
    }

    /** Unmaps the weights. Tensors returned by {@link #encode} are heap copies and remain valid. */
    @Override
    public void close() {
        closed = true;
        weights.close();
    }
}
