package io.github.zimage4j.vae;

import io.github.zimage4j.io.CheckpointCheck;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The Flux VAE (diffusers {@code AutoencoderKL}, 16 latent channels, no quant convs).
 * <pre>
 *   decode: latents ─(÷ scaling + shift)→ z ─ decoder → image [3, 8h, 8w], about [−1, 1] (not clamped)
 *   encode: image [3, H, W] in [−1, 1] ─ encoder → mean, logvar [16, H/8, W/8] ─(− shift)·scaling→ latents
 * </pre>
 * "Pipeline space" is the latent space the transformer works in; "VAE space" (z) is what the decoder
 * takes and the encoder gives. Images and latents are planar {@link Tensor}s {@code [C, H, W]}, one image
 * per call.
 *
 * <p>Weights load from either layout, detected from the tensor names ({@link VaeCheckpoint}): a diffusers
 * {@code vae/} folder or BFL's {@code ae.safetensors}. Activations are channels-last inside; all compute
 * goes through the {@link Backend} (convolutions, GroupNorm, the attention's projections and SDPA).
 */
public final class AutoencoderKL implements AutoCloseable {

    private final VaeConfig cfg;
    private final Backend backend;
    private final TensorSource owned; // closed with the model when it opened the file itself
    private final VaeEncoder encoder;
    private final VaeDecoder decoder;

    /**
     * Binds a checkpoint (either layout) to the model; every missing, unexpected or mis-shaped tensor is
     * reported at once. The caller keeps ownership of {@code weights}.
     */
    public AutoencoderKL(TensorSource weights, VaeConfig cfg, Backend backend) throws ModelFileException {
        this(weights, cfg, backend, null);
    }

    private AutoencoderKL(TensorSource weights, VaeConfig cfg, Backend backend, TensorSource owned) throws ModelFileException {
        TensorSource w = VaeCheckpoint.inDiffusersNames(weights);
        CheckpointCheck.compare(w.description(), cfg.expectedTensors(), w.shapes(), List.of()).throwIfFailed();
        this.cfg = cfg;
        this.backend = backend;
        this.owned = owned;
        this.encoder = new VaeEncoder(w, cfg);
        this.decoder = new VaeDecoder(w, cfg);
    }

    /**
     * Opens a VAE folder or file (either layout, any container) with the given config;
     * {@code ModelFiles.openVae} finds the config.
     */
    public static AutoencoderKL load(Path weights, VaeConfig cfg, Backend backend) throws IOException {
        TensorSource st = Checkpoints.open(weights);
        try {
            return new AutoencoderKL(st, cfg, backend, st);
        } catch (IOException | RuntimeException e) {
            st.close();
            throw e;
        }
    }

    public VaeConfig config() {
        return cfg;
    }

    // ---------------------------------------------------------------- latent scaling

    /** Pipeline-space latents → decoder input: {@code latents / scaling_factor + shift_factor}. */
    public Tensor toVaeSpace(Tensor latents) {
        float[] src = latents.data();
        float[] z = new float[src.length];
        for (int i = 0; i < z.length; i++) {
            z[i] = src[i] / cfg.scalingFactor() + cfg.shiftFactor();
        }
        return new Tensor(z, latents.shape());
    }

    /** Encoder output (a mean or a sample) → pipeline-space latents: {@code (z − shift_factor)·scaling_factor}. */
    public Tensor toPipelineSpace(Tensor z) {
        float[] src = z.data();
        float[] out = new float[src.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (src[i] - cfg.shiftFactor()) * cfg.scalingFactor();
        }
        return new Tensor(out, z.shape());
    }

    // ---------------------------------------------------------------- decode

    /** Pipeline-space latents [16, h, w] → image [3, 8h, 8w]. */
    public Tensor decode(Tensor latents) {
        return decodeRaw(toVaeSpace(latents));
    }

    /** Decoder input z [16, h, w] (VAE space) → image [3, 8h, 8w]: {@code vae.decode(z).sample}. */
    public Tensor decodeRaw(Tensor z) {
        checkLatent(z);
        FeatureMap input = FeatureMap.fromPlanar(backend, z);
        FeatureMap image = decoder.forward(backend, input);
        backend.release(input.data());
        Tensor out = image.toPlanar(backend);
        backend.release(image.data());
        return out;
    }

    /** {@link #decode} tile by tile, in bounded memory; see {@link Tiling} for the bound and the accuracy. */
    public Tensor decodeTiled(Tensor latents, Tiling tiling) {
        return decodeRawTiled(toVaeSpace(latents), tiling);
    }

    /** {@link #decodeRaw} tile by tile; see {@link Tiling}. */
    public Tensor decodeRawTiled(Tensor z, Tiling tiling) {
        checkLatent(z);
        return tiling.decode(z, cfg.downscale(), this::decodeRaw);
    }

    private void checkLatent(Tensor z) {
        if (z.rank() != 3 || z.dim(0) != cfg.latentChannels() || z.dim(1) < 1 || z.dim(2) < 1) {
            throw new IllegalArgumentException("the VAE decodes latents [" + cfg.latentChannels() + ", h, w], got "
                    + Arrays.toString(z.shape()));
        }
    }

    // ---------------------------------------------------------------- encode

    /**
     * Image [3, H, W] in [−1, 1], H and W multiples of 8, → the latent distribution in VAE space,
     * [16, H/8, W/8].
     */
    public LatentDistribution encode(Tensor image) {
        int f = cfg.downscale();
        if (image.rank() != 3 || image.dim(0) != cfg.inChannels() || image.dim(1) < f || image.dim(2) < f
                || image.dim(1) % f != 0 || image.dim(2) % f != 0) {
            throw new IllegalArgumentException("the VAE encodes images [" + cfg.inChannels() + ", H, W] with H and W"
                    + " positive multiples of " + f + ", got " + Arrays.toString(image.shape()));
        }
        FeatureMap input = FeatureMap.fromPlanar(backend, image);
        FeatureMap moments = encoder.forward(backend, input);
        backend.release(input.data());
        int lc = cfg.latentChannels();
        Tensor mean = moments.channelsToPlanar(backend, 0, lc);
        Tensor logvar = moments.channelsToPlanar(backend, lc, 2 * lc);
        backend.release(moments.data());
        float[] lv = logvar.data();
        for (int i = 0; i < lv.length; i++) {
            lv[i] = Math.min(Math.max(lv[i], LatentDistribution.LOGVAR_MIN), LatentDistribution.LOGVAR_MAX);
        }
        return new LatentDistribution(mean, logvar);
    }

    /** Image → pipeline-space latents from the distribution's mode (the mean). */
    public Tensor encodeToLatents(Tensor image) {
        return toPipelineSpace(encode(image).mode());
    }

    /** Image → pipeline-space latents from a sample {@code mean + std·eps}, eps supplied by the caller. */
    public Tensor encodeToLatents(Tensor image, Tensor eps) {
        return toPipelineSpace(encode(image).sample(eps));
    }

    /** Releases the mapped file when this model opened it ({@link #load}); otherwise does nothing. */
    @Override
    public void close() {
        if (owned != null) {
            owned.close();
        }
    }
}
