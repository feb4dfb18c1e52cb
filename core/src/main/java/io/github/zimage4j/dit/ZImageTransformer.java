package io.github.zimage4j.dit;

import io.github.zimage4j.io.CheckpointCheck;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.WeightPreparation;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.github.zimage4j.dit.ZImageTransformerConfig.SEQ_MULTI_OF;

/**
 * The Z-Image single-stream diffusion transformer (S3-DiT, diffusers {@code ZImageTransformer2DModel}).
 * <pre>
 *   c        = t_embedder(t · t_scale)
 *   image    = x_embedder(patchify(latent))      padded to 32 with x_pad_token  → noise_refiner × 2 (modulated by c)
 *   caption  = cap_embedder(cap_feats)            padded to 32 with cap_pad_token → context_refiner × 2 (unmodulated)
 *   unified  = [image ; caption]                  → layers × 30 (modulated by c)
 *   out      = unpatchify(final_layer(unified, c)[image rows])
 * </pre>
 * Positions for the 3-axis RoPE: caption token j is (j+1, 0, 0), image token (h, w) is (Lc+1, h, w) with
 * Lc the padded caption length, image pad tokens (0, 0, 0). Pad tokens are attended like any other
 * token, as in the reference.
 *
 * <p>A call takes any number of samples whose latent sizes and caption lengths may differ; each attends
 * only within itself, so no batch mask and no wasted padding rows are needed.
 */
public final class ZImageTransformer {

    private final ZImageTransformerConfig cfg;
    private final Backend backend;

    private final TimestepEmbedder tEmbedder;
    private final Linear xEmbedder;
    private final float[] capNorm;
    private final Linear capEmbedder;
    /** The learned pad tokens [1, dim], kept where the backend computes. */
    private final Activation xPadToken;
    private final Activation capPadToken;
    private final TransformerBlock[] noiseRefiner;
    private final TransformerBlock[] contextRefiner;
    private final TransformerBlock[] layers;
    private final Linear finalAdaLN;
    private final Linear finalLinear;
    private final RopeEmbedder rope;
    /** Block scratch buffers, kept between calls: at 1024² they are ~0.7 GB that would otherwise be re-allocated every step. */
    private final TransformerBlock.Workspace workspace = new TransformerBlock.Workspace();

    /** Final LayerNorm epsilon (no affine parameters). */
    private static final float FINAL_NORM_EPS = 1e-6f;

    /** One sample: latent [C, F, H, W], caption features [L, cap_feat_dim], time t = 1 − σ. */
    public record Input(Tensor latent, Tensor capFeats, float t) {
    }

    /** Receives named intermediate activations (e.g. for parity checks or debugging); rows of one sample, read back to the host. */
    @FunctionalInterface
    public interface Trace {
        void record(String name, int sample, float[] data, int offset, int rows, int cols);
    }

    /**
     * Binds a checkpoint's tensors to the model: diffusers names, or the original / ComfyUI layout seen
     * through {@link TransformerCheckpoint#inDiffusersNames}. The whole tensor set is checked first so a
     * wrong file reports every missing, unexpected and mis-shaped tensor at once.
     */
    public ZImageTransformer(TensorSource weights, ZImageTransformerConfig cfg, Backend backend) throws ModelFileException {
        TensorSource w = TransformerCheckpoint.inDiffusersNames(weights);
        CheckpointCheck.compare(w.description(), cfg.expectedTensors(), w.shapes(), List.of()).throwIfFailed();
        this.cfg = cfg;
        this.backend = backend;
        int dim = cfg.dim();
        String pk = cfg.patchKey();
        tEmbedder = new TimestepEmbedder(w, cfg);
        xEmbedder = Linear.load(w, "all_x_embedder." + pk, dim, cfg.patchDim(), true);
        capNorm = w.get("cap_embedder.0.weight", cfg.capFeatDim()).toFloats();
        capEmbedder = Linear.load(w, "cap_embedder.1", dim, cfg.capFeatDim(), true);
        xPadToken = backend.upload(w.get("x_pad_token", 1, dim).toFloats());
        capPadToken = backend.upload(w.get("cap_pad_token", 1, dim).toFloats());
        noiseRefiner = new TransformerBlock[cfg.nRefinerLayers()];
        contextRefiner = new TransformerBlock[cfg.nRefinerLayers()];
        for (int i = 0; i < cfg.nRefinerLayers(); i++) {
            noiseRefiner[i] = new TransformerBlock(w, "noise_refiner." + i, cfg, true);
            contextRefiner[i] = new TransformerBlock(w, "context_refiner." + i, cfg, false);
        }
        layers = new TransformerBlock[cfg.nLayers()];
        for (int i = 0; i < cfg.nLayers(); i++) {
            layers[i] = new TransformerBlock(w, "layers." + i, cfg, true);
        }
        finalAdaLN = Linear.load(w, "all_final_layer." + pk + ".adaLN_modulation.1", dim, cfg.adalnDim(), true);
        finalLinear = Linear.load(w, "all_final_layer." + pk + ".linear", cfg.patchDim(), dim, true);
        rope = new RopeEmbedder(cfg.ropeTheta(), cfg.axesDims(), cfg.axesLens());
    }

    public ZImageTransformerConfig config() {
        return cfg;
    }

    /** The longest caption the RoPE table has positions for (padded to 32, plus the image's frame). */
    public int maxCaptionTokens() {
        return Math.max(0, (rope.axisLength(0) - 2) / SEQ_MULTI_OF * SEQ_MULTI_OF);
    }

    /** How the main layers' weights are stored (what decides the products' precision on a backend). */
    public io.github.zimage4j.io.DType weightDtype() {
        return capEmbedder.weight().dtype();
    }

    /**
     * Has the backend convert this model's weights once for its fastest units (oneDNN: 8-bit weights to
     * int8, see {@link Backend#prepareWeights}); until then, and on other backends, weights are used as stored.
     * Timed in the result, for the load report.
     *
     * <p>Only the blocks' per-token projections (attention q/k/v/out, feed-forward w1/w2/w3: all but a
     * fraction of a percent of the products) are offered. The rest stay as stored, as precision-sensitive:
     * the adaLN modulations and the timestep embedder compute one row per sample, so one rounding of that
     * row would scale and gate every token of the sample alike instead of averaging out over tokens; the
     * caption embedder reads the text encoder's hidden states, whose few very large channels (as LLM hidden
     * states have) would stretch a per-row 8-bit activation scale over all the others; the patch embedder and
     * the final projection are the network's input and output layers, which stable-diffusion.cpp and the
     * community GGUF files do not quantize either. Together they are about 0.05 % of a 256² forward's products.
     */
    public WeightPreparation prepareWeights() {
        return backend.prepareWeights(perTokenLinears(), sensitiveLinears());
    }

    /** Frees the backend's copies of this model's weights (see {@link Backend#releasePreparedWeights}); returns the bytes freed. */
    public long releasePreparedWeights() {
        List<Linear> all = new ArrayList<>(perTokenLinears());
        all.addAll(sensitiveLinears());
        return backend.releasePreparedWeights(all);
    }

    /** The blocks' per-token projections: what {@link #prepareWeights} offers for conversion. */
    private List<Linear> perTokenLinears() {
        List<Linear> perToken = new ArrayList<>();
        for (TransformerBlock[] group : List.of(noiseRefiner, contextRefiner, layers)) {
            for (TransformerBlock b : group) {
                perToken.addAll(b.tokenLinears());
            }
        }
        return perToken;
    }

    /** The precision-sensitive layers {@link #prepareWeights} keeps as stored (see there why). */
    private List<Linear> sensitiveLinears() {
        List<Linear> sensitive = new ArrayList<>(tEmbedder.linears());
        sensitive.add(xEmbedder);
        sensitive.add(capEmbedder);
        for (TransformerBlock[] group : List.of(noiseRefiner, contextRefiner, layers)) {
            for (TransformerBlock b : group) {
                if (b.modulation() != null) {
                    sensitive.add(b.modulation());
                }
            }
        }
        sensitive.add(finalAdaLN);
        sensitive.add(finalLinear);
        return sensitive;
    }

    public List<Tensor> forward(List<Input> inputs) {
        return forward(inputs, null, null);
    }

    public List<Tensor> forward(List<Input> inputs, Trace trace) {
        return forward(inputs, trace, null);
    }

    /** Layout of one sample's tokens. */
    private record Layout(int fTokens, int hTokens, int wTokens, int imageTokens, int imagePadded,
                          int capTokens, int capPadded) {
        int unified() {
            return imagePadded + capPadded;
        }
    }

    /**
     * Residuals added to the token streams during one forward (a ControlNet's hints), at the places the
     * reference adds them. Every method is optional; all see the forward's {@link Pass}.
     */
    public interface ResidualHook {
        /** The image tokens are embedded (pad rows set), the noise refiner has not run yet. */
        default void imageEmbedded(Pass pass) {
        }

        /** After noise-refiner layer {@code layer}: may add into the image rows {@code image} [imageRows, dim]. */
        default void afterRefinerLayer(Pass pass, int layer, Activation image) {
        }

        /** The unified sequence {@code unified} [unifiedRows, dim] is built; main layer 0 has not run yet. */
        default void beforeLayers(Pass pass, Activation unified) {
        }

        /** After main layer {@code layer}: may add into the unified rows, as diffusers adds {@code controlnet_block_samples[layer]}. */
        default void afterLayer(Pass pass, int layer, Activation unified) {
        }
    }

    /**
     * The state of one forward pass that a {@link ResidualHook} may use: the batch's token layout, the
     * timestep embedding, RoPE tables, the embedded image tokens and the refined captions, and ways to run
     * blocks (the model's own or a side branch's) over rows laid out like the image or the unified stream.
     */
    public final class Pass {
        private final Layout[] lay;
        private final Activation c;
        private final List<TransformerBlock.Segment> imgSegs;
        private final int imgRows;
        private final Activation imgCos;
        private final Activation imgSin;
        private final Activation imageEmbedded;
        private List<TransformerBlock.Segment> capSegs;
        private Activation cap;
        private List<TransformerBlock.Segment> uniSegs;
        private int uniRows;
        private Activation uniCos;
        private Activation uniSin;

        private Pass(Layout[] lay, Activation c, List<TransformerBlock.Segment> imgSegs, int imgRows, Activation imgCos,
                     Activation imgSin, Activation imageEmbedded) {
            this.lay = lay;
            this.c = c;
            this.imgSegs = imgSegs;
            this.imgRows = imgRows;
            this.imgCos = imgCos;
            this.imgSin = imgSin;
            this.imageEmbedded = imageEmbedded;
        }

        public int samples() {
            return lay.length;
        }

        public int dim() {
            return cfg.dim();
        }

        public Backend backend() {
            return backend;
        }

        public ZImageTransformerConfig config() {
            return cfg;
        }

        /** Rows of the packed image stream (every sample padded to a multiple of 32). */
        public int imageRows() {
            return imgRows;
        }

        /** Rows of the packed unified stream; valid from {@link ResidualHook#beforeLayers}. */
        public int unifiedRows() {
            return uniRows;
        }

        /** The embedded image tokens before the noise refiner, [imageRows, dim] (a copy; call it from {@link ResidualHook#imageEmbedded}). */
        public Activation imageEmbedded() {
            Activation copy = backend.allocate(imageEmbedded.length());
            backend.copy(imageEmbedded, 0, copy, 0, imageEmbedded.length());
            return copy;
        }

        /**
         * Patchifies per-sample tensors [C, F, H, W] shaped like the latents (C may differ) exactly as the image,
         * embeds them with {@code embedder} and sets the pad rows to {@code x_pad_token}: a ControlNet's control tokens.
         */
        public Activation embedLikeImage(List<Tensor> perSample, Linear embedder) {
            if (perSample.size() != lay.length) {
                throw new IllegalArgumentException(perSample.size() + " control inputs for " + lay.length + " samples");
            }
            int ch = perSample.get(0).dim(0);
            int pd = cfg.fPatchSize() * cfg.patchSize() * cfg.patchSize() * ch;
            float[] patches = new float[imgRows * pd];
            for (TransformerBlock.Segment seg : imgSegs) {
                Tensor t = perSample.get(seg.sample());
                Layout l = lay[seg.sample()];
                if (t.rank() != 4 || t.dim(0) != ch || t.dim(1) != l.fTokens() * cfg.fPatchSize()
                        || t.dim(2) != l.hTokens() * cfg.patchSize() || t.dim(3) != l.wTokens() * cfg.patchSize()) {
                    throw new IllegalArgumentException("sample " + seg.sample() + ": control input " + Arrays.toString(t.shape())
                            + " does not match the latent grid " + l.fTokens() * cfg.fPatchSize() + "x"
                            + l.hTokens() * cfg.patchSize() + "x" + l.wTokens() * cfg.patchSize());
                }
                patchify(t, l, patches, seg.start());
            }
            Activation out = backend.allocate(imgRows * cfg.dim());
            backend.linear(backend.upload(patches), 0, imgRows, embedder, out, 0);
            fillImagePads(out);
            return out;
        }

        /** Runs {@code block} in place over rows laid out like the image stream (image RoPE, modulated by t). */
        public void runOnImageRows(TransformerBlock block, Activation rows) {
            run(block, rows, imgRows, imgSegs, imgCos, imgSin);
        }

        /** Runs {@code block} in place over rows laid out like the unified stream. */
        public void runOnUnifiedRows(TransformerBlock block, Activation rows) {
            run(block, rows, uniRows, uniSegs, uniCos, uniSin);
        }

        private void run(TransformerBlock block, Activation rows, int n, List<TransformerBlock.Segment> segs,
                         Activation cos, Activation sin) {
            TransformerBlock.Modulation mod = block.modulation(backend, c, lay.length);
            block.forward(backend, workspace, rows, n, segs, mod, cos, sin);
            if (mod != null) {
                backend.release(mod.vectors());
            }
        }

        /**
         * The model's own noise refiner over {@code image} (in place), with {@code after} called after each
         * layer (a side branch's private refiner pass, as diffusers' ControlNet runs it).
         */
        public void refineImage(Activation image, ImageLayerCallback after) {
            for (int i = 0; i < noiseRefiner.length; i++) {
                runOnImageRows(noiseRefiner[i], image);
                after.afterLayer(i, image);
            }
        }

        /** Per sample {@code [image rows ; refined caption rows]}: the unified layout built from other image rows. */
        public Activation unify(Activation image) {
            int dim = cfg.dim();
            Activation x = backend.allocate(uniRows * dim);
            for (int s = 0; s < lay.length; s++) {
                TransformerBlock.Segment is = imgSegs.get(s);
                TransformerBlock.Segment cs = capSegs.get(s);
                int row = uniSegs.get(s).start();
                backend.copy(image, is.start() * dim, x, row * dim, is.rows() * dim);
                backend.copy(cap, cs.start() * dim, x, (row + is.rows()) * dim, cs.rows() * dim);
            }
            return x;
        }

        private void fillImagePads(Activation rows) {
            int dim = cfg.dim();
            for (TransformerBlock.Segment seg : imgSegs) {
                Layout l = lay[seg.sample()];
                for (int r = l.imageTokens(); r < l.imagePadded(); r++) {
                    backend.copy(xPadToken, 0, rows, (seg.start() + r) * dim, dim);
                }
            }
        }

        private void setUnified(List<TransformerBlock.Segment> capSegs, Activation cap, List<TransformerBlock.Segment> uniSegs,
                                int uniRows, Activation uniCos, Activation uniSin) {
            this.capSegs = capSegs;
            this.cap = cap;
            this.uniSegs = uniSegs;
            this.uniRows = uniRows;
            this.uniCos = uniCos;
            this.uniSin = uniSin;
        }
    }

    /** Called after each layer of a refiner pass. */
    @FunctionalInterface
    public interface ImageLayerCallback {
        void afterLayer(int layer, Activation image);
    }

    /**
     * Predicts {@code x0 − noise} for each sample (the pipeline negates it for the Euler step). Not
     * thread-safe: calls share scratch buffers (and the compute pool is shared anyway).
     *
     * <p>Samples run one after another, never with their rows packed into shared products: a kernel may
     * choose its blocking, and with it the summation order, from the row count (the Java GEMM switches
     * paths at 48 rows, oneDNN picks its own), so an image of a batch would get other bits than the same
     * image alone. One sample's rows are still one product each. A residual hook (a ControlNet) sees the
     * whole batch in one pass, as the reference computes its hints, so with a hook the samples are packed.
     *
     * @param hook residuals to add (a ControlNet), or null
     */
    public synchronized List<Tensor> forward(List<Input> inputs, Trace trace, ResidualHook hook) {
        if (hook != null) {
            return forwardTogether(inputs, trace, hook);
        }
        List<Tensor> result = new ArrayList<>(inputs.size());
        for (int s = 0; s < inputs.size(); s++) {
            int sample = s;
            Trace renumbered = trace == null ? null
                    : (name, ignored, data, offset, rows, cols) -> trace.record(name, sample, data, offset, rows, cols);
            result.addAll(forwardTogether(List.of(inputs.get(s)), renumbered, null));
        }
        return result;
    }

    /** All samples' rows packed into each product (see {@link #forward} for when). */
    private List<Tensor> forwardTogether(List<Input> inputs, Trace trace, ResidualHook hook) {
        int n = inputs.size();
        if (n == 0) {
            return List.of();
        }
        int dim = cfg.dim();
        int pairs = rope.pairs();
        Layout[] lay = new Layout[n];
        float[] t = new float[n];
        for (int s = 0; s < n; s++) {
            lay[s] = layout(inputs.get(s), s);
            t[s] = inputs.get(s).t();
        }

        // Timestep embedding c, shared by every modulation.
        Activation c = tEmbedder.forward(backend, t);
        trace(trace, "t_embedder", c, n, cfg.adalnDim());

        // Image tokens: patchify, embed, overwrite pad rows with the learned pad token.
        List<TransformerBlock.Segment> imgSegs = new ArrayList<>();
        int imgRows = 0;
        for (int s = 0; s < n; s++) {
            imgSegs.add(new TransformerBlock.Segment(imgRows, lay[s].imagePadded(), s));
            imgRows += lay[s].imagePadded();
        }
        float[] patches = new float[imgRows * cfg.patchDim()];
        for (TransformerBlock.Segment seg : imgSegs) {
            patchify(inputs.get(seg.sample()).latent(), lay[seg.sample()], patches, seg.start());
        }
        Activation img = backend.allocate(imgRows * dim);
        backend.linear(backend.upload(patches), 0, imgRows, xEmbedder, img, 0);
        traceRows(trace, "x_embedder", img, imgSegs, dim);
        float[] imgCos = new float[imgRows * pairs];
        float[] imgSin = new float[imgRows * pairs];
        for (TransformerBlock.Segment seg : imgSegs) {
            imagePositions(lay[seg.sample()], seg.start(), imgCos, imgSin);
        }
        Pass pass = new Pass(lay, c, imgSegs, imgRows, backend.upload(imgCos), backend.upload(imgSin), img);
        pass.fillImagePads(img);
        if (hook != null) {
            hook.imageEmbedded(pass); // before the refiner changes img in place
        }

        for (int i = 0; i < noiseRefiner.length; i++) {
            pass.runOnImageRows(noiseRefiner[i], img);
            if (hook != null) {
                hook.afterRefinerLayer(pass, i, img);
            }
            traceRows(trace, "noise_refiner." + i, img, imgSegs, dim);
        }
        // Caption tokens: RMSNorm + Linear, overwrite pad rows with the learned pad token.
        List<TransformerBlock.Segment> capSegs = new ArrayList<>();
        int capRows = 0;
        for (int s = 0; s < n; s++) {
            capSegs.add(new TransformerBlock.Segment(capRows, lay[s].capPadded(), s));
            capRows += lay[s].capPadded();
        }
        int capDim = cfg.capFeatDim();
        float[] capFeats = new float[capRows * capDim];
        for (TransformerBlock.Segment seg : capSegs) {
            float[] f = inputs.get(seg.sample()).capFeats().data();
            System.arraycopy(f, 0, capFeats, seg.start() * capDim, f.length);
            // Pad rows repeat the last feature row, as the reference does (they are overwritten after embedding).
            int last = seg.start() + lay[seg.sample()].capTokens() - 1;
            for (int r = last + 1; r < seg.start() + seg.rows(); r++) {
                System.arraycopy(capFeats, last * capDim, capFeats, r * capDim, capDim);
            }
        }
        Activation capIn = backend.upload(capFeats);
        backend.rmsNorm(capIn, 0, capRows, capDim, capNorm, cfg.normEps(), null, 0, capIn, 0);
        Activation cap = backend.allocate(capRows * dim);
        backend.linear(capIn, 0, capRows, capEmbedder, cap, 0);
        backend.release(capIn);
        traceRows(trace, "cap_embedder", cap, capSegs, dim);
        float[] capCos = new float[capRows * pairs];
        float[] capSin = new float[capRows * pairs];
        for (TransformerBlock.Segment seg : capSegs) {
            Layout l = lay[seg.sample()];
            for (int r = l.capTokens(); r < l.capPadded(); r++) {
                backend.copy(capPadToken, 0, cap, (seg.start() + r) * dim, dim);
            }
            for (int r = 0; r < l.capPadded(); r++) {
                rope.fill(seg.start() + r, r + 1, 0, 0, capCos, capSin);
            }
        }
        Activation capCosTable = backend.upload(capCos);
        Activation capSinTable = backend.upload(capSin);
        for (int i = 0; i < contextRefiner.length; i++) {
            contextRefiner[i].forward(backend, workspace, cap, capRows, capSegs, null, capCosTable, capSinTable);
            traceRows(trace, "context_refiner." + i, cap, capSegs, dim);
        }

        // Unified stream: per sample [image ; caption]; its RoPE tables are built on the host like the parts'.
        List<TransformerBlock.Segment> uniSegs = new ArrayList<>();
        int uniRows = imgRows + capRows;
        Activation x = backend.allocate(uniRows * dim);
        float[] uniCos = new float[uniRows * pairs];
        float[] uniSin = new float[uniRows * pairs];
        int row = 0;
        for (int s = 0; s < n; s++) {
            TransformerBlock.Segment is = imgSegs.get(s);
            TransformerBlock.Segment cs = capSegs.get(s);
            uniSegs.add(new TransformerBlock.Segment(row, is.rows() + cs.rows(), s));
            backend.copy(img, is.start() * dim, x, row * dim, is.rows() * dim);
            System.arraycopy(imgCos, is.start() * pairs, uniCos, row * pairs, is.rows() * pairs);
            System.arraycopy(imgSin, is.start() * pairs, uniSin, row * pairs, is.rows() * pairs);
            row += is.rows();
            backend.copy(cap, cs.start() * dim, x, row * dim, cs.rows() * dim);
            System.arraycopy(capCos, cs.start() * pairs, uniCos, row * pairs, cs.rows() * pairs);
            System.arraycopy(capSin, cs.start() * pairs, uniSin, row * pairs, cs.rows() * pairs);
            row += cs.rows();
        }
        pass.setUnified(capSegs, cap, uniSegs, uniRows, backend.upload(uniCos), backend.upload(uniSin));
        if (hook != null) {
            hook.beforeLayers(pass, x);
        }
        for (int i = 0; i < layers.length; i++) {
            pass.runOnUnifiedRows(layers[i], x);
            traceRows(trace, "layers." + i, x, uniSegs, dim);
            if (hook != null) {
                hook.afterLayer(pass, i, x);
            }
        }

        // Final layer: LayerNorm (no affine) · (1 + Linear(SiLU(c))), then Linear to patch values.
        backend.silu(c, 0, c.length());
        Activation scale = backend.allocate(n * dim);
        backend.linear(c, 0, n, finalAdaLN, scale, 0);
        backend.scaleShift(scale, 0, n * dim, 1f, 1f);
        Activation normed = workspace.h;
        for (TransformerBlock.Segment seg : uniSegs) {
            backend.layerNorm(x, seg.start() * dim, seg.rows(), dim, FINAL_NORM_EPS, scale, seg.sample() * dim,
                    normed, seg.start() * dim);
        }
        Activation out = backend.allocate(uniRows * cfg.patchDim());
        backend.linear(normed, 0, uniRows, finalLinear, out, 0);
        traceRows(trace, "final_layer", out, uniSegs, cfg.patchDim());

        List<Tensor> result = new ArrayList<>(n);
        for (int s = 0; s < n; s++) {
            TransformerBlock.Segment seg = uniSegs.get(s);
            float[] rows = backend.read(out, seg.start() * cfg.patchDim(), lay[s].imageTokens() * cfg.patchDim());
            result.add(unpatchify(rows, lay[s], inputs.get(s).latent().shape()));
        }
        for (Activation a : new Activation[] {c, img, cap, capCosTable, capSinTable, x, scale, out, pass.imgCos, pass.imgSin,
                pass.uniCos, pass.uniSin}) {
            backend.release(a);
        }
        return result;
    }

    private Layout layout(Input in, int sample) {
        Tensor lat = in.latent();
        Tensor cap = in.capFeats();
        String who = "sample " + sample;
        if (lat.rank() != 4 || lat.dim(0) != cfg.inChannels()) {
            throw new IllegalArgumentException(who + ": latent must be [" + cfg.inChannels() + ", F, H, W], got "
                    + Arrays.toString(lat.shape()));
        }
        int p = cfg.patchSize();
        int pf = cfg.fPatchSize();
        if (lat.dim(1) % pf != 0 || lat.dim(2) % p != 0 || lat.dim(3) % p != 0) {
            throw new IllegalArgumentException(who + ": latent " + Arrays.toString(lat.shape())
                    + " is not a whole number of " + pf + "×" + p + "×" + p + " patches");
        }
        if (cap.rank() != 2 || cap.dim(1) != cfg.capFeatDim() || cap.dim(0) < 1) {
            throw new IllegalArgumentException(who + ": caption features must be [L ≥ 1, " + cfg.capFeatDim() + "], got "
                    + Arrays.toString(cap.shape()));
        }
        int ft = lat.dim(1) / pf;
        int ht = lat.dim(2) / p;
        int wt = lat.dim(3) / p;
        int tokens = ft * ht * wt;
        int capTokens = cap.dim(0);
        int capPadded = roundUp(capTokens);
        if (capPadded + ft >= rope.axisLength(0) || ht > rope.axisLength(1) || wt > rope.axisLength(2)) {
            throw new IllegalArgumentException(who + ": " + capTokens + " caption tokens and a " + ft + "×" + ht + "×" + wt
                    + " token grid exceed the RoPE tables (axes_lens " + Arrays.toString(cfg.axesLens()) + ")");
        }
        return new Layout(ft, ht, wt, tokens, roundUp(tokens), capTokens, capPadded);
    }

    private static int roundUp(int len) {
        return (len + SEQ_MULTI_OF - 1) / SEQ_MULTI_OF * SEQ_MULTI_OF;
    }

    /** Image token (f, h, w) is at (Lc + 1 + f, h, w); pad tokens at (0, 0, 0). */
    private void imagePositions(Layout l, int row0, float[] cos, float[] sin) {
        int r = 0;
        for (int f = 0; f < l.fTokens(); f++) {
            for (int h = 0; h < l.hTokens(); h++) {
                for (int w = 0; w < l.wTokens(); w++) {
                    rope.fill(row0 + r++, l.capPadded() + 1 + f, h, w, cos, sin);
                }
            }
        }
        for (; r < l.imagePadded(); r++) {
            rope.fill(row0 + r, 0, 0, 0, cos, sin);
        }
    }

    /**
     * [C, F, H, W] → tokens in (f, h, w) raster order, each (pf, ph, pw, c) with c fastest; pad rows repeat
     * the last token (they are overwritten after embedding).
     */
    private void patchify(Tensor latent, Layout l, float[] out, int row0) {
        int p = cfg.patchSize();
        int pf = cfg.fPatchSize();
        int ch = latent.dim(0);
        int pd = pf * p * p * ch;
        int fDim = latent.dim(1);
        int hDim = latent.dim(2);
        int wDim = latent.dim(3);
        float[] src = latent.data();
        int token = 0;
        for (int f = 0; f < l.fTokens(); f++) {
            for (int h = 0; h < l.hTokens(); h++) {
                for (int w = 0; w < l.wTokens(); w++) {
                    int base = (row0 + token++) * pd;
                    int i = 0;
                    for (int a = 0; a < pf; a++) {
                        for (int b = 0; b < p; b++) {
                            for (int d = 0; d < p; d++) {
                                for (int c = 0; c < ch; c++) {
                                    out[base + i++] = src[((c * fDim + f * pf + a) * hDim + h * p + b) * wDim + w * p + d];
                                }
                            }
                        }
                    }
                }
            }
        }
        for (; token < l.imagePadded(); token++) {
            System.arraycopy(out, (row0 + l.imageTokens() - 1) * pd, out, (row0 + token) * pd, pd);
        }
    }

    /** The inverse of {@link #patchify} for the first {@code imageTokens} rows. */
    private Tensor unpatchify(float[] rows, Layout l, int[] shape) {
        int p = cfg.patchSize();
        int pf = cfg.fPatchSize();
        int ch = cfg.inChannels();
        int pd = cfg.patchDim();
        int fDim = shape[1];
        int hDim = shape[2];
        int wDim = shape[3];
        float[] dst = new float[ch * fDim * hDim * wDim];
        int token = 0;
        for (int f = 0; f < l.fTokens(); f++) {
            for (int h = 0; h < l.hTokens(); h++) {
                for (int w = 0; w < l.wTokens(); w++) {
                    int base = token++ * pd;
                    int i = 0;
                    for (int a = 0; a < pf; a++) {
                        for (int b = 0; b < p; b++) {
                            for (int d = 0; d < p; d++) {
                                for (int c = 0; c < ch; c++) {
                                    dst[((c * fDim + f * pf + a) * hDim + h * p + b) * wDim + w * p + d] = rows[base + i++];
                                }
                            }
                        }
                    }
                }
            }
        }
        return new Tensor(dst, shape);
    }

    private void trace(Trace trace, String name, Activation data, int samples, int cols) {
        if (trace != null) {
            for (int s = 0; s < samples; s++) {
                trace.record(name, s, backend.read(data, s * cols, cols), 0, 1, cols);
            }
        }
    }

    private void traceRows(Trace trace, String name, Activation data, List<TransformerBlock.Segment> segs, int cols) {
        if (trace != null) {
            for (TransformerBlock.Segment s : segs) {
                trace.record(name, s.sample(), backend.read(data, s.start() * cols, s.rows() * cols), 0, s.rows(), cols);
            }
        }
    }
}
