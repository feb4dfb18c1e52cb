package io.github.zimage4j.vae;

import io.github.zimage4j.io.JsonConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The AutoencoderKL hyper-parameters, read from the real {@code vae/config.json} keys. Only the
 * structure the Flux VAE uses is supported (DownEncoderBlock2D / UpDecoderBlock2D, SiLU, GroupNorm, no
 * quant convs); anything else is refused with the key that differs.
 *
 * @param inChannels          image channels into the encoder (3)
 * @param outChannels         image channels out of the decoder (3)
 * @param latentChannels      latent channels (16); the encoder emits twice as many (mean and log-variance)
 * @param blockOutChannels    channels per resolution level, finest first ([128, 256, 512, 512])
 * @param layersPerBlock      ResNet blocks per encoder level; decoder levels have one more (2)
 * @param normNumGroups       GroupNorm groups everywhere (32)
 * @param midBlockAddAttention whether the mid blocks hold the single-head attention (true)
 * @param scalingFactor       latent scale (0.3611)
 * @param shiftFactor         latent shift (0.1159)
 */
public record VaeConfig(int inChannels, int outChannels, int latentChannels, int[] blockOutChannels, int layersPerBlock,
                        int normNumGroups, boolean midBlockAddAttention, float scalingFactor, float shiftFactor) {

    /** GroupNorm epsilon, fixed in the reference (not a config key). */
    public static final float NORM_EPS = 1e-6f;

    public VaeConfig {
        if (blockOutChannels.length < 1) {
            throw new JsonConfig.ConfigException("block_out_channels is empty");
        }
        for (int c : blockOutChannels) {
            if (c < 1 || c % normNumGroups != 0) {
                throw new JsonConfig.ConfigException("block_out_channels " + Arrays.toString(blockOutChannels)
                        + ": every entry must be a positive multiple of norm_num_groups " + normNumGroups);
            }
        }
        if (inChannels < 1 || outChannels < 1 || latentChannels < 1 || layersPerBlock < 1) {
            throw new JsonConfig.ConfigException("in_channels, out_channels, latent_channels and layers_per_block must be"
                    + " positive: " + inChannels + ", " + outChannels + ", " + latentChannels + ", " + layersPerBlock);
        }
        if (!(scalingFactor > 0)) {
            throw new JsonConfig.ConfigException("scaling_factor must be positive, found " + scalingFactor);
        }
        blockOutChannels = blockOutChannels.clone();
    }

    /**
     * The Flux.1 VAE that Z-Image ships (Tongyi-MAI/Z-Image-Turbo {@code vae/config.json}), for BFL
     * {@code ae.safetensors} files, which carry no config.
     */
    public static VaeConfig flux() {
        return new VaeConfig(3, 3, 16, new int[]{128, 256, 512, 512}, 2, 32, true, 0.3611f, 0.1159f);
    }

    public static VaeConfig read(Path configJson) throws IOException {
        return from(JsonConfig.read(configJson));
    }

    public static VaeConfig from(JsonConfig c) {
        String src = c.source();
        String cls = c.getString("_class_name", "AutoencoderKL");
        if (!cls.equals("AutoencoderKL")) {
            throw new JsonConfig.ConfigException(src + ": _class_name is \"" + cls + "\"; only AutoencoderKL is supported");
        }
        String act = c.getString("act_fn", "silu");
        if (!act.equals("silu")) {
            throw new JsonConfig.ConfigException(src + ": act_fn is \"" + act + "\"; only \"silu\" is supported");
        }
        for (String key : new String[]{"use_quant_conv", "use_post_quant_conv"}) {
            if (c.getBoolean(key, true)) {
                throw new JsonConfig.ConfigException(src + ": " + key + " is true (or absent, which means true): this VAE"
                        + " has a " + key.substring(4) + " layer, which the Flux VAE does not have and zimage4j does not"
                        + " support; set it to false only if the checkpoint really has no such tensors");
            }
        }
        try {
            int[] boc = c.getIntArray("block_out_channels");
            checkBlockTypes(c, "down_block_types", "DownEncoderBlock2D", boc.length);
            checkBlockTypes(c, "up_block_types", "UpDecoderBlock2D", boc.length);
            return new VaeConfig(c.getInt("in_channels", 3), c.getInt("out_channels", 3), c.getInt("latent_channels"),
                    boc, c.getInt("layers_per_block"), c.getInt("norm_num_groups"),
                    c.getBoolean("mid_block_add_attention", true), (float) c.getDouble("scaling_factor"),
                    (float) c.getDouble("shift_factor"));
        } catch (JsonConfig.ConfigException e) {
            if (e.getMessage().startsWith(src)) {
                throw e;
            }
            throw new JsonConfig.ConfigException(src + ": " + e.getMessage());
        }
    }

    private static void checkBlockTypes(JsonConfig c, String key, String expected, int levels) {
        if (!c.has(key)) {
            return;
        }
        if (!(c.asMap().get(key) instanceof List<?> types) || types.size() != levels
                || !types.stream().allMatch(expected::equals)) {
            throw new JsonConfig.ConfigException(c.source() + ": " + key + " should be " + levels + " × \"" + expected
                    + "\" (one per block_out_channels entry), found " + c.asMap().get(key));
        }
    }

    /** Resolution levels (4); the image is 2^(levels−1) times the latent in each direction. */
    public int levels() {
        return blockOutChannels.length;
    }

    /** Image pixels per latent pixel along each axis (8 for the Flux VAE). */
    public int downscale() {
        return 1 << (levels() - 1);
    }

    /** Channels of the deepest level, where the mid blocks run (512). */
    public int midChannels() {
        return blockOutChannels[levels() - 1];
    }

    /** Channels of decoder up block i (finest last): block_out_channels reversed. */
    int upBlockChannels(int i) {
        return blockOutChannels[levels() - 1 - i];
    }

    /** Every tensor of the diffusers-layout checkpoint, with its shape, as this config implies. */
    public Map<String, long[]> expectedTensors() {
        Map<String, long[]> t = new LinkedHashMap<>();
        int first = blockOutChannels[0];
        conv(t, "encoder.conv_in", first, inChannels, 3);
        int channels = first;
        for (int i = 0; i < levels(); i++) {
            int out = blockOutChannels[i];
            for (int j = 0; j < layersPerBlock; j++) {
                resnet(t, "encoder.down_blocks." + i + ".resnets." + j, j == 0 ? channels : out, out);
            }
            if (i < levels() - 1) {
                conv(t, "encoder.down_blocks." + i + ".downsamplers.0.conv", out, out, 3);
            }
            channels = out;
        }
        midBlock(t, "encoder.mid_block");
        norm(t, "encoder.conv_norm_out", midChannels());
        conv(t, "encoder.conv_out", 2 * latentChannels, midChannels(), 3);

        conv(t, "decoder.conv_in", midChannels(), latentChannels, 3);
        midBlock(t, "decoder.mid_block");
        channels = midChannels();
        for (int i = 0; i < levels(); i++) {
            int out = upBlockChannels(i);
            for (int j = 0; j <= layersPerBlock; j++) {
                resnet(t, "decoder.up_blocks." + i + ".resnets." + j, j == 0 ? channels : out, out);
            }
            if (i < levels() - 1) {
                conv(t, "decoder.up_blocks." + i + ".upsamplers.0.conv", out, out, 3);
            }
            channels = out;
        }
        norm(t, "decoder.conv_norm_out", first);
        conv(t, "decoder.conv_out", outChannels, first, 3);
        return t;
    }

    private void midBlock(Map<String, long[]> t, String p) {
        int c = midChannels();
        resnet(t, p + ".resnets.0", c, c);
        if (midBlockAddAttention) {
            String a = p + ".attentions.0";
            norm(t, a + ".group_norm", c);
            for (String proj : new String[]{"to_q", "to_k", "to_v", "to_out.0"}) {
                t.put(a + "." + proj + ".weight", new long[]{c, c});
                t.put(a + "." + proj + ".bias", new long[]{c});
            }
        }
        resnet(t, p + ".resnets.1", c, c);
    }

    private static void resnet(Map<String, long[]> t, String p, int in, int out) {
        norm(t, p + ".norm1", in);
        conv(t, p + ".conv1", out, in, 3);
        norm(t, p + ".norm2", out);
        conv(t, p + ".conv2", out, out, 3);
        if (in != out) {
            conv(t, p + ".conv_shortcut", out, in, 1);
        }
    }

    private static void conv(Map<String, long[]> t, String p, int out, int in, int k) {
        t.put(p + ".weight", new long[]{out, in, k, k});
        t.put(p + ".bias", new long[]{out});
    }

    private static void norm(Map<String, long[]> t, String p, int c) {
        t.put(p + ".weight", new long[]{c});
        t.put(p + ".bias", new long[]{c});
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VaeConfig c && c.toString().equals(toString());
    }

    @Override
    public int hashCode() {
        return toString().hashCode();
    }

    @Override
    public String toString() {
        return "VaeConfig[in=" + inChannels + ", out=" + outChannels + ", latent=" + latentChannels
                + ", blockOutChannels=" + Arrays.toString(blockOutChannels) + ", layersPerBlock=" + layersPerBlock
                + ", groups=" + normNumGroups + ", midAttention=" + midBlockAddAttention + ", scaling=" + scalingFactor
                + ", shift=" + shiftFactor + "]";
    }

    /**
     * FLOPs of one decode of a [latentHeight, latentWidth] latent (1 multiply-add = 2 FLOP): every
     * convolution, the mid-block attention's projections and its two products; norms and activations
     * are not counted.
     */
    public double decoderFlops(int latentHeight, int latentWidth) {
        double hw = (double) latentHeight * latentWidth;
        int top = blockOutChannels[blockOutChannels.length - 1];
        double f = conv(latentChannels, top, hw, 3);
        f += 4 * conv(top, top, hw, 3);                          // mid block: two resnets
        if (midBlockAddAttention) {
            f += 4 * 2 * hw * top * top + 2 * 2 * hw * hw * top;   // q, k, v, out projections; QKᵀ and PV
        }
        int cin = top;
        for (int i = blockOutChannels.length - 1; i >= 0; i--) {
            int co = blockOutChannels[i];
            for (int j = 0; j < layersPerBlock + 1; j++) {
                f += conv(cin, co, hw, 3) + conv(co, co, hw, 3);
                if (cin != co) {
                    f += conv(cin, co, hw, 1);
                }
                cin = co;
            }
            if (i > 0) {
                hw *= 4;
                f += conv(co, co, hw, 3);                          // upsample ×2, then a 3×3 conv
            }
        }
        return f + conv(blockOutChannels[0], outChannels, hw, 3);
    }

    private static double conv(int cin, int cout, double hw, int k) {
        return 2.0 * cin * cout * k * k * hw;
    }
}
