package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.ResidentPages;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Rows;
import io.github.zimage4j.tensor.Linear;

import java.util.List;

/**
 * One Qwen3 decoder layer (transformers {@code Qwen3DecoderLayer}), pre-norm with plain residuals:
 * <pre>
 *   h  = input_layernorm(x)
 *   q  = RoPE(q_norm(h·Wq)),  k = RoPE(k_norm(h·Wk)),  v = h·Wv      q/k norms per head, before RoPE
 *   x += o_proj( causal GQA attention(q, k, v) )
 *   x += down_proj( silu(gate_proj h) ⊙ up_proj h ),   h = post_attention_layernorm(x)
 * </pre>
 * The tokens of several prompts are packed one after another ({@link Segment}s): projections, norms
 * and the MLP run over all rows at once, RoPE and attention per prompt.
 */
final class Qwen3DecoderLayer {

    private final int hidden;
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final float eps;

    private final float[] inputLayernorm;
    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final float[] qNorm;
    private final float[] kNorm;
    private final Linear oProj;
    private final float[] postAttentionLayernorm;
    private final Linear gateProj;
    private final Linear upProj;
    private final Linear downProj;

    Qwen3DecoderLayer(TensorSource w, int index, Qwen3Config cfg) throws ModelFileException {
        hidden = cfg.hiddenSize();
        heads = cfg.numAttentionHeads();
        kvHeads = cfg.numKeyValueHeads();
        headDim = cfg.headDim();
        eps = cfg.rmsNormEps();
        int inter = cfg.intermediateSize();
        String p = Qwen3Config.layerPrefix(index);
        inputLayernorm = w.get(p + "input_layernorm.weight", hidden).toFloats();
        qProj = Linear.load(w, p + "self_attn.q_proj", cfg.qDim(), hidden, false);
        kProj = Linear.load(w, p + "self_attn.k_proj", cfg.kvDim(), hidden, false);
        vProj = Linear.load(w, p + "self_attn.v_proj", cfg.kvDim(), hidden, false);
        qNorm = w.get(p + "self_attn.q_norm.weight", headDim).toFloats();
        kNorm = w.get(p + "self_attn.k_norm.weight", headDim).toFloats();
        oProj = Linear.load(w, p + "self_attn.o_proj", hidden, cfg.qDim(), false);
        postAttentionLayernorm = w.get(p + "post_attention_layernorm.weight", hidden).toFloats();
        gateProj = Linear.load(w, p + "mlp.gate_proj", inter, hidden, false);
        upProj = Linear.load(w, p + "mlp.up_proj", inter, hidden, false);
        downProj = Linear.load(w, p + "mlp.down_proj", hidden, inter, false);
    }

    /** One prompt's rows, positions 0 … rows−1, starting at row {@code start} of the packed stream. */
    record Segment(int start, int rows) {
    }

    /** Scratch activations reused from layer to layer. */
    static final class Workspace {
        final Activation h;
        final Activation q;
        final Activation k;
        final Activation v;
        final Activation attn;
        final Activation gate;
        final Activation up;

        Workspace(Backend be, Qwen3Config cfg, int rows) {
            h = be.allocate(rows * cfg.hiddenSize());
            q = be.allocate(rows * cfg.qDim());
            k = be.allocate(rows * cfg.kvDim());
            v = be.allocate(rows * cfg.kvDim());
            attn = be.allocate(rows * cfg.qDim());
            gate = be.allocate(rows * cfg.intermediateSize());
            up = be.allocate(rows * cfg.intermediateSize());
        }

        void release(Backend be) {
            for (Activation a : new Activation[] {h, q, k, v, attn, gate, up}) {
                be.release(a);
            }
        }
    }

    /**
     * Drops this layer's mapped weight pages from the resident set (the page cache keeps them; nothing is
     * read again unless the layer runs again). Memory that is not a file mapping is left alone.
     */
    void releaseResidentPages() {
        for (Linear l : List.of(qProj, kProj, vProj, oProj, gateProj, upProj, downProj)) {
            ResidentPages.releaseWithin(l.weight().data());
        }
    }

    /**
     * Runs the layer in place on the residual stream {@code x} [rows, hidden].
     *
     * @param cos RoPE table [position, headDim/2] covering the longest segment; sin likewise
     */
    void forward(Backend be, Workspace ws, Activation x, int rows, List<Segment> segments, Activation cos, Activation sin) {
        int qDim = heads * headDim;
        int kvDim = kvHeads * headDim;

        // Self-attention.
        be.rmsNorm(x, 0, rows, hidden, inputLayernorm, eps, null, 0, ws.h, 0);
        be.linear(ws.h, 0, rows, qProj, ws.q, 0);
        be.linear(ws.h, 0, rows, kProj, ws.k, 0);
        be.linear(ws.h, 0, rows, vProj, ws.v, 0);
        be.rmsNorm(ws.q, 0, rows * heads, headDim, qNorm, eps, null, 0, ws.q, 0);
        be.rmsNorm(ws.k, 0, rows * kvHeads, headDim, kNorm, eps, null, 0, ws.k, 0);
        for (Segment s : segments) {
            // Every prompt starts at position 0, so each uses the table from its first row.
            be.ropeRotateHalf(ws.q, s.start() * qDim, s.rows(), qDim, heads, headDim, cos, sin, 0);
            be.ropeRotateHalf(ws.k, s.start() * kvDim, s.rows(), kvDim, kvHeads, headDim, cos, sin, 0);
            be.attention(new Rows(ws.q, s.start() * qDim, qDim), new Rows(ws.k, s.start() * kvDim, kvDim),
                    new Rows(ws.v, s.start() * kvDim, kvDim), new Rows(ws.attn, s.start() * qDim, qDim),
                    AttentionSpec.self(s.rows(), heads, headDim).withKvHeads(kvHeads)
                            .withCausal(true).withBf16(!be.float32Products(qProj.weight().dtype())));
        }
        be.linear(ws.attn, 0, rows, oProj, ws.h, 0);
        be.add(x, 0, ws.h, 0, rows * hidden);

        // SwiGLU MLP.
        be.rmsNorm(x, 0, rows, hidden, postAttentionLayernorm, eps, null, 0, ws.h, 0);
        be.linear(ws.h, 0, rows, gateProj, ws.gate, 0);
        be.linear(ws.h, 0, rows, upProj, ws.up, 0);
        be.swiglu(ws.gate, 0, ws.up, 0, rows * gateProj.out());
        be.linear(ws.gate, 0, rows, downProj, ws.h, 0);
        be.add(x, 0, ws.h, 0, rows * hidden);
    }
}
