package io.github.zimage4j.controlnet;

import io.github.zimage4j.dit.TransformerBlock;
import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.CheckpointCheck;
import io.github.zimage4j.io.JsonConfig;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The control branch of alibaba-pai's Z-Image-Turbo-Fun-Controlnet-Union (diffusers
 * {@code ZImageControlNetModel}): a VACE-style side stream that reuses the transformer's time embedding,
 * RoPE positions, pad token and refined captions.
 * <pre>
 *   c        = control_all_x_embedder(patchify(control context))       pad rows = x_pad_token
 *   refiner  1.0: c = control_noise_refiner × 2 (c)                       plain modulated blocks
 *            2.x: c, refiner_hint_j = control blocks over (c, x_embedded)   (2.1: control_noise_refiner,
 *                 added after the noise refiner's layer j                   2.0: the control_layers again)
 *   C        = [c ; refined captions]                                      RoPE and layout of the unified stream
 *   block k  : (k = 0: C = before_proj(C) + U)   C = block_k(C)   hint_k = after_proj(C)
 *   main     : after main layer places[k], unified += scale · hint_k
 * </pre>
 * U is the unified sequence of the transformer. Where the 2.x refiner hints go is the one point where the
 * implementations differ ({@link RefinerRouting}).
 *
 * <p>Layouts (detected from the weights, spec §10.2): Union 1.0 has 16 control channels and 6 blocks;
 * 2.x has 33 (control latents, mask, inpaint latents) and 15 blocks, 2.1 with its own
 * {@code control_noise_refiner} control blocks and 2.0 with zero or absent ones (it reuses the control
 * layers); Lite has 3 blocks.
 */
public final class ZImageControlNet implements AutoCloseable {

    /** Where the 2.x refiner hints are added. */
    public enum RefinerRouting {
        /**
         * diffusers (the golden reference): into the ControlNet's private pass of the noise refiner only, so
         * they shape the U the control blocks see but not the transformer's own image tokens.
         */
        DIFFUSERS,
        /**
         * VideoX-Fun (the original training code; also DiffSynth and ComfyUI): into the transformer's own
         * noise-refiner outputs, which the control blocks then see as U too.
         */
        VIDEOX;

        public static RefinerRouting parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "diffusers" -> DIFFUSERS;
                case "videox", "videox-fun", "videox_fun" -> VIDEOX;
                default -> throw new IllegalArgumentException("unknown refiner routing '" + s + "'; use diffusers or videox");
            };
        }
    }

    /** How the refiner stage of the branch is built. */
    public enum RefinerKind {
        /** Union 1.0: {@code control_noise_refiner.{0,1}} are plain modulated blocks over the control tokens. */
        PLAIN_BLOCKS,
        /** Union 2.0: the control layers run over (c, x_embedded) a first time for the refiner hints. */
        CONTROL_LAYERS,
        /** Union 2.1: {@code control_noise_refiner.{0,1}} are control blocks with before/after_proj. */
        CONTROL_NOISE_REFINER
    }

    /** A control block: a modulated transformer block with the VACE projections. */
    private record ControlBlock(TransformerBlock block, Linear beforeProj, Linear afterProj) {
    }

    private final TensorSource owned;
    private final ZImageTransformerConfig cfg;
    private final int controlInDim;
    private final int[] places;
    private final int[] refinerPlaces;
    private final RefinerKind refinerKind;
    private final boolean lite;
    private final Linear embedder;
    private final ControlBlock[] controlLayers;
    private final TransformerBlock[] plainRefiner;
    private final ControlBlock[] refinerBlocks;

    /**
     * Opens a ControlNet file (the published single {@code .safetensors}) or a diffusers folder, for the
     * transformer {@code transformerConfig} describes. A {@code config.json} of a
     * {@code ZImageControlNetModel} (in the folder, or beside the file) gives the places; without one they
     * are derived from the weights.
     */
    public static ZImageControlNet load(Path path, ZImageTransformerConfig transformerConfig) throws IOException {
        JsonConfig json = null;
        Path candidate = Files.isDirectory(path) ? path.resolve("config.json")
                : path.toAbsolutePath().getParent() == null ? null : path.toAbsolutePath().getParent().resolve("config.json");
        if (candidate != null && Files.isRegularFile(candidate)) {
            JsonConfig c = JsonConfig.read(candidate);
            if ("ZImageControlNetModel".equals(c.getString("_class_name", null))) {
                json = c;
            }
        }
        SafeTensors st = SafeTensors.open(path);
        try {
            return new ZImageControlNet(st, json, transformerConfig, st);
        } catch (IOException | RuntimeException e) {
            st.close();
            throw e;
        }
    }

    /** Binds weights (diffusers names) to the branch; {@code json} may be null. The caller keeps {@code w}. */
    public ZImageControlNet(TensorSource w, JsonConfig json, ZImageTransformerConfig cfg) throws ModelFileException {
        this(w, json, cfg, null);
    }

    private ZImageControlNet(TensorSource w, JsonConfig json, ZImageTransformerConfig cfg, TensorSource owned)
            throws ModelFileException {
        this.owned = owned;
        this.cfg = cfg;
        String src = w.description();
        String embedName = "control_all_x_embedder." + cfg.patchKey();
        StoredTensor embedWeight = w.find(embedName + ".weight");
        if (embedWeight == null) {
            throw new ModelFileException(src + " is not a Z-Image ControlNet: it has no " + embedName + ".weight");
        }
        if (embedWeight.rank() != 2 || embedWeight.dim(0) != cfg.dim()) {
            throw new ModelFileException(src + ": this ControlNet is for a transformer of width " + embedWeight.dim(0)
                    + " (" + embedName + ".weight " + Arrays.toString(embedWeight.shape()) + "), the loaded transformer has dim "
                    + cfg.dim());
        }
        int perPatch = cfg.fPatchSize() * cfg.patchSize() * cfg.patchSize();
        if (embedWeight.dim(1) % perPatch != 0) {
            throw new ModelFileException(src + ": " + embedName + ".weight " + Arrays.toString(embedWeight.shape())
                    + " is not a whole number of " + perPatch + "-value patches");
        }
        controlInDim = (int) (embedWeight.dim(1) / perPatch);
        if (controlInDim != 16 && controlInDim != 33) {
            throw new ModelFileException(src + ": " + controlInDim + " control channels; Union 1.0 has 16, 2.x has 33");
        }
        int count = 0;
        while (w.contains("control_layers." + count + ".after_proj.weight")) {
            count++;
        }
        if (count == 0) {
            throw new ModelFileException(src + ": no control_layers.0.after_proj.weight");
        }
        // Lite: 2.x with hints sparser than every second main layer (3 blocks for 30 layers; 2.x has 15). For
        // the full-size model this is diffusers' "control_layers.4 absent" rule; it also holds for smaller configs.
        lite = controlInDim == 33 && 2 * count < cfg.nLayers();
        // Places: the config's, else one every nLayers/count main layers (ComfyUI's rule; [0,5,…,25] for 6
        // blocks, [0,2,…,28] for 15, [0,10,20] for Lite).
        int[] derived = new int[count];
        for (int k = 0; k < count; k++) {
            derived[k] = k * (cfg.nLayers() / count);
        }
        places = json != null ? json.getIntArray("control_layers_places", derived) : derived;
        if (places.length != count) {
            throw new ModelFileException(src + ": the config lists " + places.length + " control_layers_places but the file has "
                    + count + " control layers");
        }
        for (int p : places) {
            if (p < 0 || p >= cfg.nLayers()) {
                throw new ModelFileException(src + ": this ControlNet adds hints after main layer " + p + " (places "
                        + Arrays.toString(places) + ") but the loaded transformer has " + cfg.nLayers() + " layers");
            }
        }
        if (controlInDim == 16) {
            refinerKind = RefinerKind.PLAIN_BLOCKS;
        } else if (json != null && json.has("add_control_noise_refiner")) {
            String kind = json.getString("add_control_noise_refiner", "");
            refinerKind = switch (kind) {
                case "control_layers" -> RefinerKind.CONTROL_LAYERS;
                case "control_noise_refiner" -> RefinerKind.CONTROL_NOISE_REFINER;
                default -> throw new ModelFileException(src + ": add_control_noise_refiner '" + kind
                        + "' with 33 control channels; expected control_layers or control_noise_refiner");
            };
        } else {
            // diffusers' single-file rule: 2.1 has a real control_noise_refiner.0.before_proj; 2.0's is absent or zero.
            StoredTensor before = w.find("control_noise_refiner.0.before_proj.weight");
            refinerKind = before != null && !allZero(before) ? RefinerKind.CONTROL_NOISE_REFINER : RefinerKind.CONTROL_LAYERS;
        }
        int nRef = cfg.nRefinerLayers();
        int[] defaultRefinerPlaces = new int[nRef];
        for (int j = 0; j < nRef; j++) {
            defaultRefinerPlaces[j] = j;
        }
        refinerPlaces = refinerKind == RefinerKind.PLAIN_BLOCKS ? new int[0]
                : json != null ? json.getIntArray("control_refiner_layers_places", defaultRefinerPlaces) : defaultRefinerPlaces;
        for (int p : refinerPlaces) {
            if (p < 0 || p >= nRef) {
                throw new ModelFileException(src + ": refiner hint place " + p + " but the transformer has " + nRef + " noise-refiner layers");
            }
        }

        // Every tensor, checked at once against what this layout implies for this transformer.
        Map<String, long[]> expected = expectedTensors(cfg, controlInDim, count, refinerKind);
        List<String> ignored = new ArrayList<>();
        if (refinerKind == RefinerKind.CONTROL_LAYERS) {
            w.names().stream().filter(n -> n.startsWith("control_noise_refiner.")).forEach(ignored::add);
        }
        CheckpointCheck.compare(src + " (as a " + describeLayout() + " ControlNet for a " + cfg.nLayers() + "-layer, dim-"
                + cfg.dim() + " transformer)", expected, w.shapes(), ignored).throwIfFailed();

        embedder = Linear.load(w, embedName, cfg.dim(), perPatch * controlInDim, true);
        controlLayers = new ControlBlock[count];
        for (int k = 0; k < count; k++) {
            controlLayers[k] = controlBlock(w, "control_layers." + k, k == 0);
        }
        if (refinerKind == RefinerKind.PLAIN_BLOCKS) {
            plainRefiner = new TransformerBlock[nRef];
            for (int j = 0; j < nRef; j++) {
                plainRefiner[j] = new TransformerBlock(w, "control_noise_refiner." + j, cfg, true);
            }
            refinerBlocks = null;
        } else if (refinerKind == RefinerKind.CONTROL_NOISE_REFINER) {
            plainRefiner = null;
            refinerBlocks = new ControlBlock[nRef];
            for (int j = 0; j < nRef; j++) {
                refinerBlocks[j] = controlBlock(w, "control_noise_refiner." + j, j == 0);
            }
        } else {
            plainRefiner = null;
            refinerBlocks = controlLayers;
        }
    }

    /**
     * Every tensor (name → shape) of a ControlNet with this layout for the transformer {@code cfg}: what a
     * file is checked against, and what a benchmark's random file holds. A 2.0 file's
     * {@code control_noise_refiner.*} tensors are unused and not listed.
     */
    public static Map<String, long[]> expectedTensors(ZImageTransformerConfig cfg, int controlInDim, int controlLayers,
                                                      RefinerKind refinerKind) {
        Map<String, long[]> t = new LinkedHashMap<>();
        long d = cfg.dim();
        String embedName = "control_all_x_embedder." + cfg.patchKey();
        t.put(embedName + ".weight", new long[]{d, (long) cfg.fPatchSize() * cfg.patchSize() * cfg.patchSize() * controlInDim});
        t.put(embedName + ".bias", new long[]{d});
        for (int k = 0; k < controlLayers; k++) {
            controlBlockTensors(cfg, t, "control_layers." + k, k == 0);
        }
        if (refinerKind != RefinerKind.CONTROL_LAYERS) {
            for (int j = 0; j < cfg.nRefinerLayers(); j++) {
                if (refinerKind == RefinerKind.PLAIN_BLOCKS) {
                    cfg.blockTensors(t, "control_noise_refiner." + j, true);
                } else {
                    controlBlockTensors(cfg, t, "control_noise_refiner." + j, j == 0);
                }
            }
        }
        return t;
    }

    private static void controlBlockTensors(ZImageTransformerConfig cfg, Map<String, long[]> t, String p, boolean first) {
        cfg.blockTensors(t, p, true);
        long d = cfg.dim();
        t.put(p + ".after_proj.weight", new long[]{d, d});
        t.put(p + ".after_proj.bias", new long[]{d});
        if (first) {
            t.put(p + ".before_proj.weight", new long[]{d, d});
            t.put(p + ".before_proj.bias", new long[]{d});
        }
    }

    private ControlBlock controlBlock(TensorSource w, String p, boolean first) throws ModelFileException {
        int d = cfg.dim();
        return new ControlBlock(new TransformerBlock(w, p, cfg, true),
                first ? Linear.load(w, p + ".before_proj", d, d, true) : null,
                Linear.load(w, p + ".after_proj", d, d, true));
    }

    private static boolean allZero(StoredTensor t) {
        // +0 is all-zero bits in every float format (a −0 would count as non-zero, which no checkpoint has).
        var seg = t.data();
        long n = seg.byteSize();
        long i = 0;
        for (; i + 8 <= n; i += 8) {
            if (seg.get(ValueLayout.JAVA_LONG_UNALIGNED, i) != 0) {
                return false;
            }
        }
        for (; i < n; i++) {
            if (seg.get(ValueLayout.JAVA_BYTE, i) != 0) {
                return false;
            }
        }
        return true;
    }

    /** Control channels: 16 (Union 1.0) or 33 (2.x: control latents, keep mask, masked-image latents). */
    public int controlInDim() {
        return controlInDim;
    }

    /** Whether the layout takes inpainting inputs (mask and masked-image latents). */
    public boolean supportsInpaint() {
        return controlInDim == 33;
    }

    /** The main layers after which hint k is added. */
    public int[] places() {
        return places.clone();
    }

    public RefinerKind refinerKind() {
        return refinerKind;
    }

    public boolean lite() {
        return lite;
    }

    /** "Union 1.0", "Union 2.0", "Union 2.1", with " Lite" for the 3-block files. */
    public String describeLayout() {
        String v = switch (refinerKind) {
            case PLAIN_BLOCKS -> "Union 1.0";
            case CONTROL_LAYERS -> "Union 2.0";
            case CONTROL_NOISE_REFINER -> "Union 2.1";
        };
        return lite ? v + " Lite" : v;
    }

    /** Receives the scaled hints of one forward (parity checks): rows of the whole packed batch. */
    public interface HintListener {
        void hint(int layer, float[] rows);

        default void refinerHint(int layer, float[] rows) {
        }
    }

    /**
     * The residual hook of one transformer forward: sample i takes {@code contexts[i]} [controlInDim, 1, h, w];
     * one context serves every sample (the cond and uncond halves of a CFG batch, as the reference repeats
     * it). Every hint is multiplied by {@code scale}; {@code listener} may be null.
     */
    public ZImageTransformer.ResidualHook hook(List<Tensor> contexts, double scale, RefinerRouting routing, HintListener listener) {
        for (Tensor c : contexts) {
            if (c.rank() != 4 || c.dim(0) != controlInDim) {
                throw new IllegalArgumentException("this " + describeLayout() + " ControlNet takes a control context ["
                        + controlInDim + ", 1, h, w], got " + Arrays.toString(c.shape()));
            }
        }
        if (contexts.isEmpty()) {
            throw new IllegalArgumentException("no control context");
        }
        return new Hook(List.copyOf(contexts), (float) scale, routing, listener);
    }

    /** The branch's state within one forward. */
    private final class Hook implements ZImageTransformer.ResidualHook {
        private final List<Tensor> contexts;
        private final float scale;
        private final RefinerRouting routing;
        private final HintListener listener;
        private Activation control;          // control tokens, image layout
        private Activation[] refinerHints;   // per noise-refiner layer, scaled; null where none
        private Activation privateImage;     // diffusers: the branch's own hinted refiner pass
        private Activation[] hints;          // per main layer, scaled; null where none

        Hook(List<Tensor> contexts, float scale, RefinerRouting routing, HintListener listener) {
            this.contexts = contexts;
            this.scale = scale;
            this.routing = routing;
            this.listener = listener;
        }

        @Override
        public void imageEmbedded(ZImageTransformer.Pass pass) {
            control = pass.embedLikeImage(contexts.size() == 1 ? Collections.nCopies(pass.samples(), contexts.get(0)) : contexts,
                    embedder);
            if (refinerKind == RefinerKind.PLAIN_BLOCKS) {
                for (TransformerBlock b : plainRefiner) {
                    pass.runOnImageRows(b, control);
                }
                return;
            }
            Activation xEmbedded = pass.imageEmbedded();
            Activation[] stack = runControlBlocks(pass, refinerBlocks, control, xEmbedded, false);
            refinerHints = new Activation[cfg.nRefinerLayers()];
            for (int j = 0; j < refinerPlaces.length; j++) {
                refinerHints[refinerPlaces[j]] = scaled(pass.backend(), stack[j]);
                if (listener != null) {
                    Activation h = refinerHints[refinerPlaces[j]];
                    listener.refinerHint(refinerPlaces[j], pass.backend().read(h, 0, h.length()));
                }
            }
            if (routing == RefinerRouting.DIFFUSERS) {
                privateImage = xEmbedded;
                pass.refineImage(privateImage, (layer, image) -> addHint(pass.backend(), refinerHints[layer], image));
            }
        }

        @Override
        public void afterRefinerLayer(ZImageTransformer.Pass pass, int layer, Activation image) {
            if (routing == RefinerRouting.VIDEOX && refinerHints != null) {
                addHint(pass.backend(), refinerHints[layer], image);
            }
        }

        @Override
        public void beforeLayers(ZImageTransformer.Pass pass, Activation unified) {
            Activation u = privateImage != null ? pass.unify(privateImage) : unified;
            Activation c = pass.unify(control);
            Activation[] stack = runControlBlocks(pass, controlLayers, c, u, true);
            hints = new Activation[cfg.nLayers()];
            for (int k = 0; k < places.length; k++) {
                hints[places[k]] = scaled(pass.backend(), stack[k]);
                if (listener != null) {
                    Activation h = hints[places[k]];
                    listener.hint(places[k], pass.backend().read(h, 0, h.length()));
                }
            }
        }

        @Override
        public void afterLayer(ZImageTransformer.Pass pass, int layer, Activation unified) {
            addHint(pass.backend(), hints[layer], unified);
        }

        /**
         * Block 0: {@code c = before_proj(c) + base}; each block k: {@code c = block_k(c)},
         * {@code out[k] = after_proj(c)}. {@code c} is updated in place (the stream carries on).
         */
        private Activation[] runControlBlocks(ZImageTransformer.Pass pass, ControlBlock[] blocks, Activation c,
                                              Activation base, boolean unifiedRows) {
            Backend be = pass.backend();
            int rows = unifiedRows ? pass.unifiedRows() : pass.imageRows();
            int n = rows * cfg.dim();
            Activation[] out = new Activation[blocks.length];
            for (int k = 0; k < blocks.length; k++) {
                ControlBlock b = blocks[k];
                if (b.beforeProj() != null) {
                    Activation projected = be.allocate(n);
                    be.linear(c, 0, rows, b.beforeProj(), projected, 0);
                    be.add(projected, 0, base, 0, n);
                    be.copy(projected, 0, c, 0, n);
                    be.release(projected);
                }
                if (unifiedRows) {
                    pass.runOnUnifiedRows(b.block(), c);
                } else {
                    pass.runOnImageRows(b.block(), c);
                }
                out[k] = be.allocate(n);
                be.linear(c, 0, rows, b.afterProj(), out[k], 0);
            }
            return out;
        }

        private Activation scaled(Backend be, Activation hint) {
            be.scaleShift(hint, 0, hint.length(), scale, 0f);
            return hint;
        }

        private void addHint(Backend be, Activation hint, Activation rows) {
            if (hint != null) {
                be.add(rows, 0, hint, 0, hint.length());
            }
        }
    }

    @Override
    public void close() {
        if (owned != null) {
            owned.close();
        }
    }
}
