package io.github.zimage4j.vae;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.tensor.StoredTensor;

import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A BFL / LDM-layout VAE checkpoint (Black Forest Labs' {@code ae.safetensors}, which ComfyUI loads)
 * seen under diffusers names. Nothing is copied: each name maps to the stored tensor, and the attention
 * projections, 1×1 conv weights {@code [C, C, 1, 1]} there, are viewed as the Linear {@code [C, C]}
 * diffusers has.
 *
 * <p>The mapping (as diffusers' {@code convert_ldm_vae_checkpoint}), with n the number of levels:
 * <pre>
 *   encoder.down.{i}.block.{j}            → encoder.down_blocks.{i}.resnets.{j}      (nin_shortcut → conv_shortcut)
 *   encoder.down.{i}.downsample.conv      → encoder.down_blocks.{i}.downsamplers.0.conv
 *   decoder.up.{k}.block.{j}              → decoder.up_blocks.{n−1−k}.resnets.{j}    (up index reversed)
 *   decoder.up.{k}.upsample.conv          → decoder.up_blocks.{n−1−k}.upsamplers.0.conv
 *   {enc,dec}.mid.block_1 / block_2       → mid_block.resnets.0 / 1
 *   {enc,dec}.mid.attn_1.{norm,q,k,v,proj_out} → mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0}
 *   {enc,dec}.norm_out                    → conv_norm_out;   conv_in, conv_out unchanged
 * </pre>
 * Names outside this scheme keep their own name, so a checkpoint check reports them as unexpected.
 */
public final class BflVaeLayout implements TensorSource {

    private static final Pattern DOWN_RESNET = Pattern.compile("encoder\\.down\\.(\\d+)\\.block\\.(\\d+)\\.(.+)");
    private static final Pattern DOWNSAMPLE = Pattern.compile("encoder\\.down\\.(\\d+)\\.downsample\\.conv\\.(.+)");
    private static final Pattern UP_RESNET = Pattern.compile("decoder\\.up\\.(\\d+)\\.block\\.(\\d+)\\.(.+)");
    private static final Pattern UPSAMPLE = Pattern.compile("decoder\\.up\\.(\\d+)\\.upsample\\.conv\\.(.+)");
    private static final Pattern UP_ANY = Pattern.compile("decoder\\.up\\.(\\d+)\\..+");
    private static final Pattern MID_RESNET = Pattern.compile("(encoder|decoder)\\.mid\\.block_([12])\\.(.+)");
    private static final Pattern MID_ATTENTION =
            Pattern.compile("(encoder|decoder)\\.mid\\.attn_1\\.(norm|q|k|v|proj_out)\\.(weight|bias)");
    private static final Pattern NORM_OUT = Pattern.compile("(encoder|decoder)\\.norm_out\\.(weight|bias)");
    private static final Map<String, String> ATTENTION_PARTS =
            Map.of("norm", "group_norm", "q", "to_q", "k", "to_k", "v", "to_v", "proj_out", "to_out.0");

    private final TensorSource source;
    /** diffusers name → name in the file. */
    private final Map<String, String> original;

    private BflVaeLayout(TensorSource source, Map<String, String> original) {
        this.source = source;
        this.original = Collections.unmodifiableMap(original);
    }

    /** The view of a BFL-layout source; the view closes the source when closed. */
    public static BflVaeLayout of(TensorSource source) throws ModelFileException {
        int upLevels = 0;
        for (String n : source.names()) {
            Matcher m = UP_ANY.matcher(n);
            if (m.matches()) {
                upLevels = Math.max(upLevels, Integer.parseInt(m.group(1)) + 1);
            }
        }
        Map<String, String> original = new TreeMap<>();
        for (String n : source.names()) {
            String mapped = diffusersName(n, upLevels);
            String key = mapped != null ? mapped : n;
            String clash = original.put(key, n);
            if (clash != null) {
                throw new ModelFileException(source.description() + ": tensors '" + clash + "' and '" + n
                        + "' both stand for '" + key + "'");
            }
        }
        return new BflVaeLayout(source, original);
    }

    /** The diffusers name of a BFL VAE tensor, or null for a name outside the BFL scheme. */
    static String diffusersName(String name, int upLevels) {
        Matcher m;
        if ((m = DOWN_RESNET.matcher(name)).matches()) {
            return "encoder.down_blocks." + m.group(1) + ".resnets." + m.group(2) + "." + resnetPart(m.group(3));
        }
        if ((m = DOWNSAMPLE.matcher(name)).matches()) {
            return "encoder.down_blocks." + m.group(1) + ".downsamplers.0.conv." + m.group(2);
        }
        if ((m = UP_RESNET.matcher(name)).matches()) {
            return "decoder.up_blocks." + (upLevels - 1 - Integer.parseInt(m.group(1))) + ".resnets." + m.group(2) + "."
                    + resnetPart(m.group(3));
        }
        if ((m = UPSAMPLE.matcher(name)).matches()) {
            return "decoder.up_blocks." + (upLevels - 1 - Integer.parseInt(m.group(1))) + ".upsamplers.0.conv." + m.group(2);
        }
        if ((m = MID_RESNET.matcher(name)).matches()) {
            return m.group(1) + ".mid_block.resnets." + (Integer.parseInt(m.group(2)) - 1) + "." + m.group(3);
        }
        if ((m = MID_ATTENTION.matcher(name)).matches()) {
            return m.group(1) + ".mid_block.attentions.0." + ATTENTION_PARTS.get(m.group(2)) + "." + m.group(3);
        }
        if ((m = NORM_OUT.matcher(name)).matches()) {
            return m.group(1) + ".conv_norm_out." + m.group(2);
        }
        if (name.matches("(encoder|decoder)\\.conv_(in|out)\\.(weight|bias)")) {
            return name;
        }
        return null;
    }

    private static String resnetPart(String rest) {
        return rest.startsWith("nin_shortcut.") ? "conv_shortcut." + rest.substring("nin_shortcut.".length()) : rest;
    }

    @Override
    public String description() {
        return source.description() + " (BFL VAE layout)";
    }

    @Override
    public Set<String> names() {
        return original.keySet();
    }

    @Override
    public StoredTensor find(String name) {
        String inFile = original.get(name);
        if (inFile == null) {
            return null;
        }
        StoredTensor t = source.find(inFile);
        boolean projection = MID_ATTENTION.matcher(inFile).matches() && !inFile.contains(".norm.")
                && inFile.endsWith(".weight");
        if (projection && t.rank() == 4 && t.dim(2) == 1 && t.dim(3) == 1) {
            // A 1×1 conv weight [C, C, 1, 1] is the Linear weight [C, C], byte for byte. The name stays the
            // file's, so messages point into the file.
            return t.reshape(inFile, t.dim(0), t.dim(1));
        }
        return t;
    }

    @Override
    public void releaseResidentPages() {
        source.releaseResidentPages();
    }

    @Override
    public void close() {
        source.close();
    }
}
