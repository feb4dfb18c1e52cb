package io.github.zimage4j.vae;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;

import java.util.List;

/** Recognizes the two file layouts of the Flux VAE and presents either under diffusers names. */
public final class VaeCheckpoint {

    private VaeCheckpoint() {
    }

    /** How a VAE checkpoint names its tensors. */
    public enum Layout {
        /** diffusers {@code vae/diffusion_pytorch_model.safetensors}: {@code decoder.up_blocks.0.resnets.0…}. */
        DIFFUSERS,
        /** BFL / LDM {@code ae.safetensors}: {@code decoder.up.3.block.0…}, see {@link BflVaeLayout}. */
        BFL
    }

    public static Layout detect(TensorSource src) throws ModelFileException {
        boolean diffusers = false;
        boolean bfl = false;
        for (String n : src.names()) {
            diffusers |= n.contains(".up_blocks.") || n.contains(".down_blocks.") || n.contains(".mid_block.");
            bfl |= n.startsWith("decoder.up.") || n.startsWith("encoder.down.") || n.contains(".mid.block_")
                    || n.contains(".mid.attn_1.");
        }
        if (diffusers && bfl) {
            throw new ModelFileException(src.description() + ": mixes diffusers VAE names (…up_blocks…) with BFL names"
                    + " (…up.N.block…); a checkpoint must use one layout");
        }
        if (!diffusers && !bfl) {
            List<String> some = src.names().stream().sorted().limit(3).toList();
            throw new ModelFileException(src.description() + ": no VAE tensors under diffusers names"
                    + " (decoder.up_blocks.…) or BFL names (decoder.up.N.block.…); found e.g. " + some
                    + (some.stream().anyMatch(n -> n.indexOf('.') > 0 && !n.startsWith("encoder.") && !n.startsWith("decoder."))
                    ? " (names with a prefix such as 'first_stage_model.' or 'vae.' are not supported)" : ""));
        }
        return bfl ? Layout.BFL : Layout.DIFFUSERS;
    }

    /** The source itself for the diffusers layout, else its renaming view. */
    public static TensorSource inDiffusersNames(TensorSource src) throws ModelFileException {
        return detect(src) == Layout.BFL ? BflVaeLayout.of(src) : src;
    }
}
