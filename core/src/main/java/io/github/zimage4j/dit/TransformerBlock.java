package io.github.zimage4j.dit;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Rows;
import io.github.zimage4j.tensor.Linear;

import java.util.List;

/**
 * One S3-DiT block, used by the noise refiner, the context refiner and the main layers:
 * <pre>
 *   x += gate_msa · norm2( Attention( norm1(x) · scale_msa ) )
 *   x += gate_mlp · ffn_norm2( w2( silu(w1 h) ⊙ w3 h ) ),   h = ffn_norm1(x) · scale_mlp
 * </pre>
 * where {@code [scale_msa, gate_msa, scale_mlp, gate_mlp] = adaLN_modulation(c)}, scales as 1 + s and
 * gates through tanh. The context refiner's blocks have no modulation: scales 1, gates 1.
 *
 * <p>Rows of several samples are packed one after another ({@link Segment}s): the projections run on all
 * rows at once, attention and modulation per sample.
 */
public final class TransformerBlock {

    private final int dim;
    private final int heads;
    private final int headDim;
    private final float eps;

    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;
    private final float[] normQ;
    private final float[] normK;
    private final float[] attentionNorm1;
    private final float[] attentionNorm2;
    private final Linear w1;
    private final Linear w2;
    private final Linear w3;
    private final float[] ffnNorm1;
    private final float[] ffnNorm2;
    private final Linear adaLNModulation; // null in the context refiner

    /** Rows per feed-forward pass: bounds the hidden activations (2 × 2048 × 10240 floats) at any image size. */
    static final int FFN_CHUNK = 2048;

    /** q/k RMSNorm epsilon, fixed in the reference independent of norm_eps. */
    private static final float QK_NORM_EPS = 1e-5f;

    /**
     * Binds the block tensors under prefix {@code p} (e.g. {@code layers.3}, or a ControlNet's
     * {@code control_layers.0}); {@code modulated} blocks have an {@code adaLN_modulation.0}.
     */
    public TransformerBlock(TensorSource w, String p, ZImageTransformerConfig cfg, boolean modulated) throws ModelFileException {
        dim = cfg.dim();
        heads = cfg.nHeads();
        headDim = cfg.headDim();
        eps = cfg.normEps();
        int ffn = cfg.ffnDim();
        toQ = Linear.load(w, p + ".attention.to_q", dim, dim, false);
        toK = Linear.load(w, p + ".attention.to_k", dim, dim, false);
        toV = Linear.load(w, p + ".attention.to_v", dim, dim, false);
        toOut = Linear.load(w, p + ".attention.to_out.0", dim, dim, false);
        normQ = cfg.qkNorm() ? w.get(p + ".attention.norm_q.weight", headDim).toFloats() : null;
        normK = cfg.qkNorm() ? w.get(p + ".attention.norm_k.weight", headDim).toFloats() : null;
        attentionNorm1 = w.get(p + ".attention_norm1.weight", dim).toFloats();
        attentionNorm2 = w.get(p + ".attention_norm2.weight", dim).toFloats();
        w1 = Linear.load(w, p + ".feed_forward.w1", ffn, dim, false);
        w2 = Linear.load(w, p + ".feed_forward.w2", dim, ffn, false);
        w3 = Linear.load(w, p + ".feed_forward.w3", ffn, dim, false);
        ffnNorm1 = w.get(p + ".ffn_norm1.weight", dim).toFloats();
        ffnNorm2 = w.get(p + ".ffn_norm2.weight", dim).toFloats();
        adaLNModulation = modulated ? Linear.load(w, p + ".adaLN_modulation.0", 4 * dim, cfg.adalnDim(), true) : null;
    }

    /** The block's per-token linear layers: attention q, k, v, out and the feed-forward w1, w2, w3. */
    List<Linear> tokenLinears() {
        return List.of(toQ, toK, toV, toOut, w1, w2, w3);
    }

    /** The adaLN modulation (one row per sample), or null in the context refiner. */
    Linear modulation() {
        return adaLNModulation;
    }

    /** A run of rows that belongs to one sample. */
    public record Segment(int start, int rows, int sample) {
    }

    /**
     * Per-sample adaLN vectors, ready to multiply: row s of {@code vectors} [samples, 4·dim] holds
     * {@code 1 + scale_msa, tanh(gate_msa), 1 + scale_mlp, tanh(gate_mlp)}.
     */
    record Modulation(Activation vectors, int dim) {
        int scaleMsa(int sample) {
            return sample * 4 * dim;
        }

        int gateMsa(int sample) {
            return sample * 4 * dim + dim;
        }

        int scaleMlp(int sample) {
            return sample * 4 * dim + 2 * dim;
        }

        int gateMlp(int sample) {
            return sample * 4 * dim + 3 * dim;
        }
    }

    /** The adaLN vectors for each sample's {@code c} (rows of [B, adalnDim]); null for an unmodulated block. */
    Modulation modulation(Backend be, Activation c, int samples) {
        if (adaLNModulation == null) {
            return null;
        }
        Activation m = be.allocate(samples * 4 * dim);
        be.linear(c, 0, samples, adaLNModulation, m, 0);
        for (int s = 0; s < samples; s++) {
            int o = s * 4 * dim;
            be.scaleShift(m, o, dim, 1f, 1f);
            be.tanh(m, o + dim, dim);
            be.scaleShift(m, o + 2 * dim, dim, 1f, 1f);
            be.tanh(m, o + 3 * dim, dim);
        }
        return new Modulation(m, dim);
    }

    /** Scratch activations reused from block to block, allocated by the backend that runs the blocks. */
    static final class Workspace {
        private Backend owner;
        Activation h;
        Activation q;
        Activation k;
        Activation v;
        Activation attn;
        Activation gate;
        Activation up;

        void ensure(Backend be, int rows, int dim, int ffn) {
            if (owner != be) {
                release();
                owner = be;
            }
            int n = rows * dim;
            if (h == null || h.length() < n) {
                releaseAll(h, q, k, v, attn);
                h = be.allocate(n);
                q = be.allocate(n);
                k = be.allocate(n);
                v = be.allocate(n);
                attn = be.allocate(n);
            }
            int f = Math.min(rows, FFN_CHUNK) * ffn;
            if (gate == null || gate.length() < f) {
                releaseAll(gate, up);
                gate = be.allocate(f);
                up = be.allocate(f);
            }
        }

        /** Gives the buffers back (device memory between generations); the next call allocates again. */
        void release() {
            releaseAll(h, q, k, v, attn, gate, up);
            h = q = k = v = attn = gate = up = null;
        }

        private void releaseAll(Activation... buffers) {
            for (Activation b : buffers) {
                if (b != null) {
                    owner.release(b);
                }
            }
        }
    }

    /**
     * Runs the block in place on {@code x} [rows, dim].
     *
     * @param mod  per-sample modulation, or null (context refiner)
     * @param cos  RoPE table [rows, headDim/2], sin likewise
     */
    void forward(Backend be, Workspace ws, Activation x, int rows, List<Segment> segments, Modulation mod,
                 Activation cos, Activation sin) {
        ws.ensure(be, rows, dim, w1.out());
        Activation h = ws.h;
        Activation m = mod == null ? null : mod.vectors();

        // Attention branch.
        for (Segment s : segments) {
            be.rmsNorm(x, s.start() * dim, s.rows(), dim, attentionNorm1, eps,
                    m, mod == null ? 0 : mod.scaleMsa(s.sample()), h, s.start() * dim);
        }
        be.linear(h, 0, rows, toQ, ws.q, 0);
        be.linear(h, 0, rows, toK, ws.k, 0);
        be.linear(h, 0, rows, toV, ws.v, 0);
        if (normQ != null) {
            be.rmsNorm(ws.q, 0, rows * heads, headDim, normQ, QK_NORM_EPS, null, 0, ws.q, 0);
            be.rmsNorm(ws.k, 0, rows * heads, headDim, normK, QK_NORM_EPS, null, 0, ws.k, 0);
        }
        be.ropeInterleaved(ws.q, 0, rows, dim, heads, headDim, cos, sin, 0);
        be.ropeInterleaved(ws.k, 0, rows, dim, heads, headDim, cos, sin, 0);
        // bf16 attention where the backend multiplies these weights in bf16, as the reference does for bf16 models.
        boolean bf16 = !be.float32Products(toQ.weight().dtype());
        for (Segment s : segments) {
            int off = s.start() * dim;
            be.attention(new Rows(ws.q, off, dim), new Rows(ws.k, off, dim), new Rows(ws.v, off, dim),
                    new Rows(ws.attn, off, dim), AttentionSpec.self(s.rows(), heads, headDim).withBf16(bf16));
        }
        be.linear(ws.attn, 0, rows, toOut, h, 0);
        for (Segment s : segments) {
            be.addRmsNormed(x, s.start() * dim, h, s.start() * dim, s.rows(), dim, attentionNorm2, eps,
                    m, mod == null ? 0 : mod.gateMsa(s.sample()));
        }

        // Feed-forward branch.
        for (Segment s : segments) {
            be.rmsNorm(x, s.start() * dim, s.rows(), dim, ffnNorm1, eps,
                    m, mod == null ? 0 : mod.scaleMlp(s.sample()), h, s.start() * dim);
        }
        // In row chunks: the 10240-wide hidden activations are the largest buffers of the model.
        for (int r0 = 0; r0 < rows; r0 += FFN_CHUNK) {
            int n = Math.min(FFN_CHUNK, rows - r0);
            be.linear(h, r0 * dim, n, w1, ws.gate, 0);
            be.linear(h, r0 * dim, n, w3, ws.up, 0);
            be.swiglu(ws.gate, 0, ws.up, 0, n * w1.out());
            be.linear(ws.gate, 0, n, w2, h, r0 * dim); // each chunk's input rows are read before they are overwritten
        }
        for (Segment s : segments) {
            be.addRmsNormed(x, s.start() * dim, h, s.start() * dim, s.rows(), dim, ffnNorm2, eps,
                    m, mod == null ? 0 : mod.gateMlp(s.sample()));
        }
    }
}
